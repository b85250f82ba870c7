/**
 * Waiting for a DuckDB file that another process holds: {@linkcode waitForLock}
 * retries an attempt (opening the file, a dbt run on it) for as long as it
 * fails on the file's lock, with backoff, up to a deadline. It logs one line
 * when the wait starts, naming the holder (./lock_holder.ts), then at most
 * one every 10 s, and gives up with one line that names the holder and the
 * gold copy readers should open instead. Any other failure is passed on at
 * once.
 *
 * @module
 */
import { logger } from "../../runtime/log.ts";
import { backoffDelay, sleep } from "../../runtime/retry.ts";
import {
  describeHolder,
  holderFields,
  LOCK_CONFLICT,
  lockHolder,
} from "./lock_holder.ts";

/** Options for {@linkcode waitForLock}. */
export interface LockWaitOptions {
  /** The DuckDB file, absolute. */
  path: string;
  /** What the attempt does, for the error: `open the DuckDB warehouse`. */
  action: string;
  /** The gold copy, which the error tells readers to open instead. */
  goldCopy: string;
  /**
   * How long to wait for the lock, in milliseconds.
   *
   * @default {60000}
   */
  lockWaitMs?: number;
  /**
   * Level of the wait's lines: `debug` for a caller that waits briefly and
   * often as a matter of course and reports the holder itself (the status).
   *
   * @default {"info"}
   */
  level?: "info" | "debug";
}

const log = logger("duckdb");

/** Least time between two "still waiting" lines of one wait, in milliseconds. */
const WAIT_LOG_EVERY_MS = 10_000;

/**
 * Runs `attempt` until it succeeds, fails on something other than the
 * file's lock, or the lock has kept it out for `lockWaitMs`.
 *
 * @param options The file, the action, the gold copy and the deadline.
 * @param attempt The work; it fails on the lock by throwing an error whose
 * message holds DuckDB's words ("Could not set lock on file …").
 * @returns What the attempt returned.
 * @throws {Error} When the lock still keeps the attempt out after
 * `lockWaitMs`: the error names the holder (PID, program and command line,
 * as far as the operating system tells) and the gold copy.
 * @throws {unknown} The attempt's own error when it is not about the lock.
 */
export async function waitForLock<T>(
  options: LockWaitOptions,
  attempt: () => Promise<T>,
): Promise<T> {
  const { path, action, goldCopy, lockWaitMs = 60_000, level = "info" } =
    options;
  const started = Date.now();
  const deadline = started + lockWaitMs;
  let logged: { at: number; pid?: number } | undefined;
  for (let retry = 0;; retry++) {
    try {
      const result = await attempt();
      if (logged) {
        log[level]("got the DuckDB file's lock", {
          path,
          waited_ms: Date.now() - started,
        });
      }
      return result;
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      if (!LOCK_CONFLICT.test(message)) throw error;
      const holder = lockHolder(message);
      const now = Date.now();
      if (now >= deadline) {
        throw new Error(
          `Cannot ${action} ${path} as ${
            describeHolder(holder)
          } has held its lock for ${
            now - started
          } ms: a reader should open the gold copy ${goldCopy} instead (docs/running.md), or stop that process`,
          { cause: error },
        );
      }
      // One line when the wait starts or the holder changes, then one every 10 s.
      if (
        logged === undefined || holder?.pid !== logged.pid ||
        now - logged.at >= WAIT_LOG_EVERY_MS
      ) {
        log[level](
          logged === undefined
            ? "waiting for the DuckDB file's lock"
            : "still waiting for the DuckDB file's lock",
          {
            path,
            ...holderFields(holder),
            waited_ms: now - started,
            gives_up_in_ms: deadline - now,
          },
        );
        logged = { at: now, pid: holder?.pid };
      }
      const delay = Math.min(
        backoffDelay(retry, { baseMs: 100, maxMs: 1_000 }),
        deadline - now,
      );
      await sleep(Math.max(delay, 0));
    }
  }
}
