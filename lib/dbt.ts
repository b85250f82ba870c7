/**
 * Runs dbt (`dbt_stocks/`) from the project's virtualenv, pointed at the
 * configured warehouse.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { logger } from "./log.ts";
import { ensureVenv, PROJECT_ROOT, venvBin } from "./python.ts";

/** The dbt project's directory. */
export const DBT_PROJECT_DIR = join(PROJECT_ROOT, "dbt_stocks");

/** Options for {@linkcode runDbt}. */
export interface RunDbtOptions {
  /** DuckDB file the `duckdb` target opens. */
  duckdbPath: string;
  /**
   * dbt target in `dbt_stocks/profiles.yml`.
   *
   * @default {"duckdb"}
   */
  target?: string;
  /**
   * Show dbt's own output as it runs; otherwise it is kept and shown only on failure.
   *
   * @default {false}
   */
  verbose?: boolean;
}

/** The outcome of a dbt command. */
export interface DbtResult {
  /** Whether dbt exited 0. */
  success: boolean;
  /** dbt's exit code. */
  code: number;
  /** dbt's closing line, e.g. `Done. PASS=40 WARN=0 ERROR=0 SKIP=0 TOTAL=40`. */
  summary: string;
  /** Everything dbt printed (empty when verbose). */
  output: string;
}

const log = logger("dbt");

/**
 * Runs `dbt <args>` in `dbt_stocks/` with the project's profiles, setting up
 * the virtualenv first if needed.
 *
 * @param args dbt's arguments, e.g. `["build"]`.
 * @param options Warehouse path, target and verbosity.
 * @returns The outcome; a failing dbt command is not thrown, the caller decides.
 */
export async function runDbt(
  args: string[],
  options: RunDbtOptions,
): Promise<DbtResult> {
  const { duckdbPath, target = "duckdb", verbose = false } = options;
  await ensureVenv();
  const started = performance.now();
  const command = new Deno.Command(venvBin("dbt"), {
    args: [
      ...args,
      "--profiles-dir",
      DBT_PROJECT_DIR,
      "--project-dir",
      DBT_PROJECT_DIR,
      "--target",
      target,
    ],
    cwd: DBT_PROJECT_DIR,
    env: {
      DUCKDB_PATH: resolve(duckdbPath),
      DBT_SEND_ANONYMOUS_USAGE_STATS: "false",
    },
    stdout: verbose ? "inherit" : "piped",
    stderr: verbose ? "inherit" : "piped",
  });
  const result = await command.output();
  const output = verbose ? "" : new TextDecoder().decode(result.stdout) +
    new TextDecoder().decode(result.stderr);
  const summary =
    output.split("\n").map((l) => l.trim()).filter((l) =>
      /Done\. PASS=/.test(l)
    ).pop()
      ?.replace(/^.*?(Done\.)/, "$1") ?? "";
  log.info(`dbt ${args[0]} ${result.success ? "passed" : "failed"}`, {
    target,
    summary: summary || undefined,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  });
  return { success: result.success, code: result.code, summary, output };
}
