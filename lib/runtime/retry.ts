/**
 * Waiting and backing off: an abortable sleep and exponential backoff with
 * jitter, shared by every retry loop of the pipeline.
 *
 * @module
 */

/** Options for {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /**
   * Delay of the first retry in milliseconds.
   *
   * @default {200}
   */
  baseMs?: number;
  /**
   * Largest delay in milliseconds.
   *
   * @default {30000}
   */
  maxMs?: number;
  /**
   * Fraction of the delay drawn at random (0 = none, 1 = "full jitter").
   *
   * @default {0.5}
   */
  jitter?: number;
  /**
   * Source of randomness in [0, 1); tests pass a fixed one.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (0-based): `baseMs * 2^attempt`,
 * capped at `maxMs`, less a random share of up to `jitter` of it.
 *
 * @param attempt How many retries came before this one.
 * @param options Base, cap, jitter and randomness.
 * @returns The delay in milliseconds.
 * @throws {RangeError} When `attempt` is negative or not an integer.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
): number {
  const { baseMs = 200, maxMs = 30_000, jitter = 0.5, random = Math.random } =
    options;
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(
      `Cannot compute a backoff as 'attempt' must be a non-negative integer: current value is ${attempt}`,
    );
  }
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (1 - jitter * random()));
}

/**
 * Resolves after `ms` milliseconds, or rejects with the signal's reason as
 * soon as `signal` aborts.
 *
 * @param ms How long to wait.
 * @param signal Cuts the wait short.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** An error worth retrying: the operation may succeed later (a timeout, a 5xx, a network fault). */
export class RetriableError extends Error {
  /** Creates the error; `cause` keeps the original failure. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RetriableError";
  }
}

/** An error not worth retrying: configuration or credentials are wrong. The process should stop. */
export class FatalError extends Error {
  /** Creates the error; `cause` keeps the original failure. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FatalError";
  }
}

/** Options for {@linkcode retry}. */
export interface RetryOptions extends BackoffOptions {
  /**
   * Most attempts, the first included.
   *
   * @default {8}
   */
  maxAttempts?: number;
  /**
   * Which failures are worth another attempt.
   *
   * @default {(error) => error instanceof RetriableError}
   */
  isRetriable?: (error: unknown) => boolean;
  /** Stops the waits between attempts. */
  signal?: AbortSignal;
}

/**
 * Calls `fn` until it succeeds, waiting {@linkcode backoffDelay} between
 * attempts, as long as its failures are retriable.
 *
 * @param fn The operation.
 * @param options Attempts, backoff and which failures to retry.
 * @returns What `fn` returned.
 * @throws The last failure, or the first one that is not retriable.
 */
export async function retry<T>(
  fn: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const {
    maxAttempts = 8,
    isRetriable = (error: unknown) => error instanceof RetriableError,
    signal,
  } = options;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isRetriable(error) || attempt + 1 >= maxAttempts) throw error;
      await sleep(backoffDelay(attempt, options), signal);
    }
  }
}
