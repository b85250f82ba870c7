/**
 * What every entry point shares: a clear one-line error and a non-zero exit
 * instead of a stack dump, and shutdown on SIGINT/SIGTERM.
 *
 * @module
 */
import { logger, redact } from "./log.ts";

const log = logger("main");

/**
 * Runs an entry point's body and exits: with its returned code, 0 by default,
 * or 1 after logging its error as one line.
 *
 * @param body The entry point's work.
 */
export async function runMain(
  body: () => Promise<number | void>,
): Promise<never> {
  let code: number;
  try {
    code = (await body()) ?? 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(redact(message), {
      error: error instanceof Error ? error.name : typeof error,
    });
    if (Deno.env.get("LOG_LEVEL") === "debug" && error instanceof Error) {
      console.error(redact(error.stack ?? ""));
    }
    code = 1;
  }
  Deno.exit(code);
}

/**
 * An AbortSignal that aborts on the first SIGINT or SIGTERM, so a run can
 * flush, commit and close; a second signal exits at once.
 *
 * @returns The signal.
 */
export function shutdownSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: Deno.Signal) => () => {
    if (controller.signal.aborted) Deno.exit(130);
    log.info("shutting down", { signal: name });
    controller.abort(new Error(`received ${name}`));
  };
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(name, onSignal(name));
  }
  return controller.signal;
}
