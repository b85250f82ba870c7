/**
 * A call budget: at most `limit` calls in any sliding window of `windowMs`
 * milliseconds (Finnhub's free plan: 60 calls per minute).
 *
 * The budget keeps the times of the calls still inside the window. A caller
 * {@linkcode CallBudget.acquire | acquires} a slot before each call; when the
 * window is full it waits, on an injected {@linkcode Clock}, until the oldest
 * call leaves the window. Tests inject a fake clock so that a minute of
 * budget passes in no real time.
 *
 * @module
 */
import { sleep } from "../runtime/retry.ts";

/** Time as a source sees it: the current time and an abortable wait. */
export interface Clock {
  /** The current time in epoch milliseconds. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds of this clock's time, or rejects with the
   * signal's reason as soon as `signal` aborts.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and a timer-based, abortable sleep. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, signal),
};

/** Options for {@linkcode CallBudget}. */
export interface CallBudgetOptions {
  /**
   * Calls allowed in any window of `windowMs`.
   *
   * @default {60}
   */
  limit?: number;
  /**
   * Length of the sliding window in milliseconds.
   *
   * @default {60000}
   */
  windowMs?: number;
  /**
   * Clock used to timestamp calls and to wait for a free slot.
   *
   * @default {systemClock}
   */
  clock?: Clock;
}

/**
 * A sliding-window rate limiter: {@linkcode CallBudget.acquire} resolves once
 * a call may be made without exceeding `limit` calls in any window of
 * `windowMs`, and records that call.
 *
 * A call made at time `t` occupies its slot during `[t, t + windowMs)`.
 *
 * @example Three calls a minute
 * ```ts
 * import { CallBudget } from "./budget.ts";
 * const budget = new CallBudget({ limit: 3 });
 * for (const symbol of ["AAPL", "MSFT", "TSLA"]) {
 *   await budget.acquire(); // the fourth call would wait for a minute
 *   console.log("calling for", symbol);
 * }
 * ```
 */
export class CallBudget {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  /** Times of the calls inside the window, oldest first. */
  readonly #calls: number[] = [];

  /**
   * Creates an empty budget.
   *
   * @param options Limit, window and clock.
   * @throws {RangeError} When `limit` is not a positive integer or `windowMs`
   * not a positive finite number.
   */
  constructor(options: CallBudgetOptions = {}) {
    const { limit = 60, windowMs = 60_000, clock = systemClock } = options;
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new RangeError(
        `Cannot create a call budget as 'limit' must be a positive integer: current value is ${limit}`,
      );
    }
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(
        `Cannot create a call budget as 'windowMs' must be a positive number: current value is ${windowMs}`,
      );
    }
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  /** Calls allowed in any window. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Waits until a call fits in the budget, then records it at the clock's
   * current time. Waiters are not queued: after each wait the budget is
   * checked again, so concurrent callers never exceed the limit.
   *
   * @param signal Cuts the wait short.
   * @returns Resolves when the call may be made.
   * @throws {unknown} The signal's reason, when `signal` aborts first.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    while (true) {
      signal?.throwIfAborted();
      const now = this.#clock.now();
      this.#forget(now);
      if (this.#calls.length < this.#limit) {
        this.#calls.push(now);
        return;
      }
      await this.#clock.sleep(this.#calls[0] + this.#windowMs - now, signal);
    }
  }

  /** Drops the calls whose slot has expired at `now`. */
  #forget(now: number): void {
    while (
      this.#calls.length > 0 && this.#calls[0] + this.#windowMs <= now
    ) {
      this.#calls.shift();
    }
  }
}
