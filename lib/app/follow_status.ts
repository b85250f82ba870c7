/**
 * The status file of `deno task follow` (`FOLLOW_STATUS_PATH`): one small
 * JSON object the service rewrites as its cycle goes, when a step starts or
 * ends and after each load transaction (a few small writes a cycle, beside a
 * load's own), and once more when it ends. `deno task follow --status`, the compose healthcheck, reads it:
 * the service is healthy while the file is fresh and does not say it ended.
 *
 * The file's age measures the cycle itself, not a timer beside it: a load or
 * a dbt run that hangs stops the updates, and the check fails once the file
 * is older than `FOLLOW_STALL_MS`.
 *
 * @module
 */
import { dirname } from "node:path";
import type { CycleCounters, CycleStep } from "./cycle.ts";

/** What the status file holds. */
export interface FollowStatus {
  /** The service's process id. */
  pid: number;
  /** When the service started, ISO 8601. */
  started_at: string;
  /** When the file was written, ISO 8601. */
  updated_at: string;
  /** The step under way, or how the service ended. */
  step: CycleStep | "stopped" | "failed";
  /** Cycles completed. */
  cycles: number;
  /** Lake objects loaded. */
  objects: number;
  /** Rows inserted into RAW. */
  rows: number;
  /** Lines the loader refused. */
  rejected: number;
  /** dbt runs. */
  dbt_runs: number;
  /** Milliseconds of the last dbt run. */
  last_dbt_ms: number;
  /** Every object landed before this time is in RAW, ISO 8601. */
  raw_as_of?: string;
  /** Every object landed before this time is in gold, ISO 8601. */
  gold_as_of?: string;
  /** Why the service failed, when it did. */
  error?: string;
}

/** Writes the status file of a running service. */
export class StatusFile {
  readonly #path: string;
  readonly #startedAt = new Date().toISOString();
  readonly #now: () => number;

  /**
   * Creates the writer; the file's directory is created if missing.
   *
   * @param path The status file.
   * @param now Clock, epoch milliseconds.
   */
  constructor(path: string, now: () => number = Date.now) {
    this.#path = path;
    this.#now = now;
    Deno.mkdirSync(dirname(path), { recursive: true });
  }

  /**
   * Records the cycle's progress.
   *
   * @param counters The cycle's counters.
   */
  update(counters: CycleCounters): void {
    this.#write(counters, counters.step, this.#now());
  }

  /**
   * Records the end of the service.
   *
   * @param counters The cycle's last counters.
   * @param error Why it failed, when it did.
   */
  end(counters: CycleCounters, error?: string): void {
    this.#write(
      counters,
      error === undefined ? "stopped" : "failed",
      this.#now(),
      error,
    );
  }

  #write(
    counters: CycleCounters,
    step: FollowStatus["step"],
    now: number,
    error?: string,
  ): void {
    const iso = (ms: number | undefined) =>
      ms === undefined ? undefined : new Date(ms).toISOString();
    const status: FollowStatus = {
      pid: Deno.pid,
      started_at: this.#startedAt,
      updated_at: new Date(now).toISOString(),
      step,
      cycles: counters.cycles,
      objects: counters.objects,
      rows: counters.rows,
      rejected: counters.rejected,
      dbt_runs: counters.dbtRuns,
      last_dbt_ms: counters.lastDbtMs,
      raw_as_of: iso(counters.rawAsOf),
      gold_as_of: iso(counters.goldAsOf),
      error,
    };
    // A reader sees the old file or the new one, never part of one.
    const temporary = `${this.#path}.tmp`;
    Deno.writeTextFileSync(temporary, JSON.stringify(status) + "\n");
    Deno.renameSync(temporary, this.#path);
  }
}

/**
 * Reads the status file as it is, without judging it.
 *
 * @param path The status file.
 * @returns The status, or null when the file does not exist or cannot be
 * read (no service ran here with this path).
 */
export async function readStatusFile(
  path: string,
): Promise<FollowStatus | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

/**
 * Reads the status file and judges the service's health.
 *
 * @param path The status file.
 * @param stallMs Oldest a healthy service's file may be, in milliseconds.
 * @param now Clock, epoch milliseconds.
 * @returns The status, when the service is healthy.
 * @throws {Error} "Cannot report the follow service healthy as …" when the
 * file is missing or unreadable, says the service ended, or is older than
 * `stallMs`.
 */
export async function checkStatus(
  path: string,
  stallMs: number,
  now: number = Date.now(),
): Promise<FollowStatus> {
  const cannot = (reason: string) =>
    new Error(`Cannot report the follow service healthy as ${reason}`);
  let status: FollowStatus;
  try {
    status = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw cannot(
        `its status file ${path} does not exist: is 'deno task follow' running with this FOLLOW_STATUS_PATH?`,
      );
    }
    throw cannot(
      `its status file ${path} cannot be read: ${(error as Error).message}`,
    );
  }
  if (status.step === "stopped" || status.step === "failed") {
    throw cannot(
      `it ${status.step} at ${status.updated_at}${
        status.error ? `: ${status.error}` : ""
      }`,
    );
  }
  const age = now - Date.parse(status.updated_at);
  if (!(age <= stallMs)) {
    throw cannot(
      `its status file ${path} was last written ${age} ms ago, in step '${status.step}', longer than FOLLOW_STALL_MS (${stallMs} ms): the process is gone or stuck`,
    );
  }
  return status;
}
