/**
 * What every entry point shares: settings from `.env` when there is one, a
 * clear one-line error and a non-zero exit instead of a stack dump, and
 * shutdown on SIGINT/SIGTERM.
 *
 * @module
 */
import { parseEnv } from "node:util";
import { logger, redact } from "./log.ts";

const log = logger("main");

/** Options for {@linkcode runMain}. */
export interface RunMainOptions {
  /**
   * The exit code when the body throws: a task whose own codes mean
   * something (`deno task status`: 1 when a threshold is passed) gives its
   * failures another.
   *
   * @default {1}
   */
  failureCode?: number;
}

/**
 * Runs an entry point's body and exits: with its returned code, 0 by default,
 * once {@linkcode loadEnvFile} has read `.env`;
 * or `failureCode` (1) after logging its error as one line (the first line
 * of its message; the rest, such as dbt's output, is printed after it as it
 * was).
 *
 * @param body The entry point's work.
 * @param options The exit code of a failure.
 */
export async function runMain(
  body: () => Promise<number | void>,
  options: RunMainOptions = {},
): Promise<never> {
  const { failureCode = 1 } = options;
  let code: number;
  try {
    await loadEnvFile();
    code = (await body()) ?? 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // One log line; a tool's output that came with the error follows as it was printed.
    const [first, ...detail] = redact(message).split("\n");
    log.error(first, {
      error: error instanceof Error ? error.name : typeof error,
    });
    if (detail.some((line) => line.trim() !== "")) {
      console.error(detail.join("\n").trimEnd());
    }
    if (Deno.env.get("LOG_LEVEL") === "debug" && error instanceof Error) {
      console.error(redact(error.stack ?? ""));
    }
    code = failureCode;
  }
  Deno.exit(code);
}

/**
 * Reads settings from the file `ENV_FILE` names (`.env` in the working
 * directory by default) when it exists; a missing file is no error and says
 * nothing, and `ENV_FILE` set empty reads none (the tests do, so a
 * contributor's own `.env` cannot change them). A variable already set in
 * the environment wins over the file.
 *
 * @param env The environment to read and fill.
 * @throws {Error} When the file exists but cannot be read.
 */
export async function loadEnvFile(
  env: Pick<typeof Deno.env, "get" | "set" | "has"> = Deno.env,
): Promise<void> {
  const path = env.get("ENV_FILE") ?? ".env";
  if (path === "") return;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new Error(
      `Cannot read the settings file ENV_FILE=${path}: ${
        (error as Error).message
      }`,
    );
  }
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (value !== undefined && !env.has(key)) env.set(key, value);
  }
}

/** Options for {@linkcode shutdownSignal}; tests inject all of them. */
export interface ShutdownOptions {
  /**
   * How long after the first signal further ones are taken as copies of it,
   * in milliseconds: a Ctrl-C under `deno task` reaches the process twice
   * (from the terminal and forwarded by the task runner).
   *
   * @default {2000}
   */
  graceMs?: number;
  /** Clock in milliseconds. @default {performance.now} */
  now?: () => number;
  /** Registers a signal handler. @default {Deno.addSignalListener} */
  listen?: (name: Deno.Signal, handler: () => void) => void;
  /** Ends the process. @default {Deno.exit} */
  exit?: (code: number) => void;
}

const exitNowHooks = new Set<() => void>();

/**
 * Registers what must happen if the run is stopped at once (a second
 * Ctrl-C): typically killing a child process that runs in a session of its
 * own, which the terminal's Ctrl-C does not reach.
 *
 * @param hook Called once, just before the process exits with 130.
 * @returns A function that unregisters the hook (when the child has ended).
 */
export function onExitNow(hook: () => void): () => void {
  exitNowHooks.add(hook);
  return () => exitNowHooks.delete(hook);
}

/**
 * An AbortSignal that aborts on the first SIGINT or SIGTERM, so a run can
 * finish cleanly: flush, commit, load, build, summarise. Copies of that
 * signal arriving within `graceMs` are ignored; a signal after that stops
 * the process at once, with exit code 130, after the
 * {@linkcode onExitNow} hooks.
 *
 * @param options Grace period and, for tests, the clock, listener and exit.
 * @returns The signal.
 */
export function shutdownSignal(options: ShutdownOptions = {}): AbortSignal {
  const {
    graceMs = 2_000,
    now = () => performance.now(),
    listen = (name, handler) => Deno.addSignalListener(name, handler),
    exit = (code) => Deno.exit(code),
  } = options;
  const controller = new AbortController();
  let first: number | undefined;
  const onSignal = (name: Deno.Signal) => () => {
    const at = now();
    if (first === undefined) {
      first = at;
      log.info(
        `stopping cleanly; ${
          name === "SIGINT" ? "press Ctrl-C" : "send a signal"
        } again to stop at once`,
        { signal: name },
      );
      controller.abort(new Error(`received ${name}`));
      return;
    }
    if (at - first < graceMs) {
      log.debug("ignored a copy of the stopping signal", { signal: name });
      return;
    }
    log.warn("stopping at once: work in progress is left as it is", {
      signal: name,
    });
    for (const hook of exitNowHooks) {
      try {
        hook();
      } catch {
        // the process is ending; a child already gone is fine
      }
    }
    exit(130);
  };
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    listen(name, onSignal(name));
  }
  return controller.signal;
}
