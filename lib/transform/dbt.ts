/**
 * Runs dbt (`dbt_stocks/`) from the project's virtualenv, pointed at the
 * configured warehouse: one command at a time ({@linkcode runDbt}), or many
 * through one long-lived process ({@linkcode DbtWorker}).
 *
 * dbt runs in a session of its own, out of reach of the terminal's Ctrl-C:
 * the first Ctrl-C is the pipeline's to handle (a clean stop lets the
 * command under way finish); a second one stops dbt with it
 * (`onExitNow` in lib/runtime/main.ts).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { logger } from "../runtime/log.ts";
import { onExitNow } from "../runtime/main.ts";
import { PROJECT_ROOT } from "../runtime/project.ts";
import { ensureVenv, venvBin } from "./venv.ts";

/** The dbt project's directory. */
export const DBT_PROJECT_DIR = join(PROJECT_ROOT, "dbt_stocks");

/**
 * Minutes before a frequent build's start whose transformed rows its data
 * tests read (dbt var `data_test_window_minutes`): the rows the build
 * writes, and those of the builds just before it, so that a retry after a
 * failed test fails again (the Airflow DAGs retry within 2 minutes by
 * default). `dags/stocks_pipeline.py` uses the same default.
 */
export const FREQUENT_TEST_WINDOW_MINUTES = 5;

/**
 * The frequent path, the `dbt build` of every cycle of a long-lived dbt (the
 * continuous mode's and `follow`'s {@linkcode DbtWorker}): every model, and the data tests that read only
 * recently transformed rows. Left out: tests tagged `daily` (whole scans of
 * RAW, of silver, and the reconciliation against a full recompute) and the
 * unit tests (they check the SQL, which does not change between cycles),
 * and the seeds (reference data that changes with the code, not the
 * cycle: {@linkcode SEEDS} loads them once per process instead, so a cycle
 * never pays for them). The daily build, {@linkcode DAILY_BUILD}, runs them
 * all.
 */
export const FREQUENT_BUILD: readonly string[] = [
  "build",
  "--exclude",
  "tag:daily",
  "test_type:unit",
  "resource_type:seed",
  "--vars",
  `{"data_test_window_minutes": ${FREQUENT_TEST_WINDOW_MINUTES}}`,
];

/**
 * Loads the seeds (dbt_stocks/seeds: the symbols' exchanges and the
 * exchanges' sessions, a few thousand rows, well under a second on DuckDB):
 * what a long-lived process runs once before its first frequent build, as
 * {@linkcode FREQUENT_BUILD} leaves them out.
 */
export const SEEDS: readonly string[] = ["seed"];

/**
 * A one-shot frequent build (`deno task transform` without arguments, and
 * each run of the `stocks_realtime` DAG): the frequent path with the seeds, in one dbt process (a separate `dbt seed`
 * would cost a second dbt start-up, seconds, where the seeds cost well
 * under one).
 */
export const ONE_SHOT_BUILD: readonly string[] = FREQUENT_BUILD.filter((arg) =>
  arg !== "resource_type:seed"
);

/**
 * The frequent path's tables alone: what the real-time cycle runs between
 * two runs of {@linkcode FREQUENT_BUILD}, so that its tests (a few seconds
 * of per-node work whatever the data) do not hold gold back every cycle.
 * Views are left out too: a view reads its tables when it is queried, so
 * creating it again changes nothing until its SQL does (a new process,
 * whose first run is a {@linkcode FREQUENT_BUILD}), and the five views
 * (bronze, the quarantine's counts, the reconciliation, gold_market_candles)
 * cost a run about 0.4 s each of its critical path on DuckDB.
 */
export const FREQUENT_MODELS: readonly string[] = [
  "run",
  "--exclude",
  "config.materialized:view",
];

/**
 * The daily path (the `stocks_daily` DAG, `deno task transform build`):
 * every model and every test over whole tables, the reconciliation
 * included.
 */
export const DAILY_BUILD: readonly string[] = ["build"];

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
  args: readonly string[],
  options: RunDbtOptions,
): Promise<DbtResult> {
  const { target = "duckdb", verbose = false } = options;
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
    env: dbtEnv(options),
    stdout: verbose ? "inherit" : "piped",
    stderr: verbose ? "inherit" : "piped",
    detached: true,
  });
  const child = command.spawn();
  // dbt's own way to stop: cancel its queries, then exit.
  const forget = onExitNow(() => child.kill("SIGINT"));
  const result = await child.output().finally(forget);
  const output = verbose ? "" : new TextDecoder().decode(result.stdout) +
    new TextDecoder().decode(result.stderr);
  return finished(args, target, started, {
    success: result.success,
    code: result.code,
    summary: summaryOf(output),
    output,
  });
}

/**
 * A long-lived dbt (`lib/transform/dbt_worker.py`) for a continuous run: it parses
 * the project once, then runs each command on the parsed project, which
 * saves dbt's start-up (a few seconds) on every command. Between two
 * commands it holds no DuckDB file, so the loader can open it.
 */
export class DbtWorker {
  readonly #child: Deno.ChildProcess;
  readonly #target: string;
  readonly #responses: AsyncIterator<string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #output = "";
  #busy: Promise<unknown> = Promise.resolve();

  private constructor(child: Deno.ChildProcess, target: string) {
    this.#child = child;
    this.#target = target;
    this.#responses = lines(child.stdout)[Symbol.asyncIterator]();
    this.#writer = child.stdin.getWriter();
    // dbt's own output, kept until the command it belongs to has answered
    (async () => {
      for await (
        const text of child.stderr.pipeThrough(new TextDecoderStream())
      ) {
        this.#output = (this.#output + text).slice(-MAX_KEPT_OUTPUT);
      }
    })();
  }

  /**
   * Starts the worker and waits until it has parsed the project.
   *
   * @param options Warehouse path and target (`verbose` is ignored).
   * @returns The worker, ready for {@linkcode DbtWorker.run}.
   * @throws {Error} When dbt cannot parse the project.
   */
  static async start(options: RunDbtOptions): Promise<DbtWorker> {
    const { target = "duckdb" } = options;
    await ensureVenv();
    const child = new Deno.Command(venvBin("python"), {
      args: [
        join(PROJECT_ROOT, "lib", "transform", "dbt_worker.py"),
        DBT_PROJECT_DIR,
        target,
      ],
      cwd: DBT_PROJECT_DIR,
      env: dbtEnv(options),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    const forget = onExitNow(() => child.kill("SIGINT"));
    child.status.finally(forget);
    const worker = new DbtWorker(child, target);
    const ready = await worker.#next() as { ready?: boolean; error?: string };
    if (!ready.ready) {
      const output = worker.#output;
      await worker.close();
      throw new Error(
        `Cannot start dbt: ${ready.error ?? "the worker exited"}\n${output}`,
      );
    }
    worker.#output = "";
    return worker;
  }

  /**
   * Runs one dbt command; commands run one at a time, in call order.
   *
   * @param args dbt's arguments, e.g. `["run"]`; by default the frequent
   * path, {@linkcode FREQUENT_BUILD}.
   * @param level Level of the line logged when it ends (a cycle's runs are routine).
   * @returns The outcome; a failing command is not thrown.
   */
  run(
    args: readonly string[] = FREQUENT_BUILD,
    level: "info" | "debug" = "debug",
  ): Promise<DbtResult> {
    const result = this.#busy.then(async () => {
      const started = performance.now();
      log.debug(`dbt ${args[0]} started`, { target: this.#target });
      await this.#writer.write(
        new TextEncoder().encode(JSON.stringify({ args }) + "\n"),
      );
      const response = await this.#next() as {
        success?: boolean;
        error?: string | null;
      };
      // let the last of dbt's output arrive before taking it
      await new Promise((resolve) => setTimeout(resolve, 0));
      const output = this.#output +
        (response.error ? `\n${response.error}` : "");
      this.#output = "";
      return finished(args, this.#target, started, {
        success: response.success === true,
        code: response.success === true ? 0 : 1,
        summary: summaryOf(output),
        output,
      }, level);
    });
    this.#busy = result.catch(() => {});
    return result;
  }

  /** Ends the worker (it finishes the command under way first). */
  async close(): Promise<void> {
    await this.#busy;
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }

  async #next(): Promise<unknown> {
    const { value, done } = await this.#responses.next();
    if (done) return {};
    return JSON.parse(value);
  }
}

const MAX_KEPT_OUTPUT = 200_000;

function dbtEnv(options: RunDbtOptions): Record<string, string> {
  return {
    DUCKDB_PATH: resolve(options.duckdbPath),
    DBT_SEND_ANONYMOUS_USAGE_STATS: "false",
  };
}

/** dbt's closing line, e.g. `Done. PASS=40 WARN=0 ERROR=0 SKIP=0 TOTAL=40`. */
function summaryOf(output: string): string {
  return output.split("\n").map((l) => l.trim()).filter((l) =>
    /Done\. PASS=/.test(l)
  ).pop()?.replace(/^.*?(Done\.)/, "$1") ?? "";
}

function finished(
  args: readonly string[],
  target: string,
  started: number,
  result: DbtResult,
  level: "info" | "debug" = "info",
): DbtResult {
  // A failure is an error whatever the level of a routine run.
  log[result.success ? level : "error"](
    `dbt ${args[0]} ${result.success ? "passed" : "failed"}`,
    {
      target,
      summary: result.summary || undefined,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    },
  );
  return result;
}

async function* lines(
  stream: ReadableStream<Uint8Array>,
): AsyncIterable<string> {
  let buffered = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
    }
  }
}
