/**
 * The last dbt command and its result, as dbt itself records it: every dbt
 * command run here (`deno task transform`, the demo, the long-lived dbt of
 * `deno task follow`) runs in `dbt_stocks/` and writes
 * `dbt_stocks/target/run_results.json` when it ends, one entry per model,
 * seed and test with its status. `deno task status` reads it; a command
 * that stopped before running any node (a project that does not parse)
 * leaves the previous file, and the Airflow DAGs' dbt runs in containers
 * write theirs there, not here.
 *
 * @module
 */
import { join } from "node:path";
import { DBT_PROJECT_DIR } from "./dbt.ts";

/** Where dbt writes the results of its last command. */
export const RUN_RESULTS_PATH = join(
  DBT_PROJECT_DIR,
  "target",
  "run_results.json",
);

/** A node status that fails a command. */
const FAILED = new Set(["error", "fail", "runtime error"]);

/** The last dbt command, as its run_results.json says. */
export interface DbtRun {
  /** The command: `build`, `run`, `seed`, `test`… */
  command: string;
  /** When it started, ISO 8601, when recorded. */
  startedAt: string | null;
  /** When it ended (dbt's `generated_at`), ISO 8601. */
  finishedAt: string;
  /** How long it ran, in seconds. */
  elapsedSeconds: number;
  /** Whether no node ended in error or failure. */
  success: boolean;
  /** Nodes by status (`success`, `pass`, `error`, `fail`, `skipped`, `warn`…). */
  counts: Record<string, number>;
  /** Where it was read. */
  source: string;
}

/**
 * Reads the last dbt command's results.
 *
 * @param path The run_results.json.
 * @returns The command and its result, or null when dbt has not run here
 * (or is writing the file at this moment).
 * @throws {TypeError} When the file is JSON but not dbt's run results.
 */
export async function readLastDbtRun(
  path: string = RUN_RESULTS_PATH,
): Promise<DbtRun | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // dbt writes the file in place as a command ends: caught half-written.
    if (error instanceof SyntaxError) return null;
    throw error;
  }
  return dbtRunOf(parsed, path);
}

/**
 * The command and its result from the parsed run_results.json.
 *
 * @param results The parsed file.
 * @param source Where it was read.
 * @returns The command and its result.
 * @throws {TypeError} When it lacks dbt's `metadata.generated_at` or `results`.
 */
export function dbtRunOf(results: unknown, source: string): DbtRun {
  const file = results as {
    metadata?: { generated_at?: unknown; invocation_started_at?: unknown };
    args?: { which?: unknown };
    elapsed_time?: unknown;
    results?: { status?: unknown }[];
  };
  const finishedAt = file?.metadata?.generated_at;
  if (typeof finishedAt !== "string" || !Array.isArray(file.results)) {
    throw new TypeError(
      `Cannot read the last dbt run as '${source}' must hold dbt's run results (metadata.generated_at and results): current value has the keys ${
        JSON.stringify(Object.keys(file ?? {}))
      }`,
    );
  }
  const counts: Record<string, number> = {};
  for (const { status } of file.results) {
    const name = String(status);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  const started = file.metadata?.invocation_started_at;
  return {
    command: typeof file.args?.which === "string" ? file.args.which : "dbt",
    startedAt: typeof started === "string" ? utc(started) : null,
    finishedAt: utc(finishedAt),
    elapsedSeconds: Math.round(Number(file.elapsed_time ?? 0) * 10) / 10,
    success: !Object.keys(counts).some((status) => FAILED.has(status)),
    counts,
    source,
  };
}

/** dbt's UTC time without a zone (`2026-12-01T16:37:00.982912Z`, or without the Z) as ISO 8601. */
function utc(text: string): string {
  const time = Date.parse(
    /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`,
  );
  return Number.isFinite(time) ? new Date(time).toISOString() : text;
}
