/**
 * Waits of the tests: on a condition, polled, always with a deadline, so a
 * test waits for the event it needs (a log line, an offset, a row) and never
 * for a guessed time. And the seeded randomness of the fault tests, so that
 * a failing run can be repeated.
 */
import { mulberry32 } from "../lib/produce/sources/simulated.ts";

export { mulberry32 as seededRandom };

/** Options of {@linkcode until}. */
export interface UntilOptions {
  /**
   * How long to wait before failing, in milliseconds.
   *
   * @default {10000}
   */
  timeoutMs?: number;
  /**
   * How long to wait between two looks, in milliseconds.
   *
   * @default {5}
   */
  intervalMs?: number;
  /** What is waited for, for the failure's message. */
  what?: string;
}

/**
 * Resolves once `condition()` holds.
 *
 * @throws {Error} When it does not hold within `timeoutMs`.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  options: UntilOptions = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 5, what = "the condition" } =
    options;
  const deadline = Date.now() + timeoutMs;
  while (!await condition()) {
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The seed of the fault tests' timing: `FAULT_SEED` when set (to repeat a
 * run), else a new one; printed either way.
 *
 * @throws {RangeError} When `FAULT_SEED` is not a non-negative integer.
 */
export function faultSeed(): number {
  const text = Deno.env.get("FAULT_SEED");
  const seed = text === undefined
    ? Math.floor(Math.random() * 2 ** 32)
    : Number(text);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(
      `Cannot seed the fault tests as 'FAULT_SEED' must be a non-negative integer: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  console.log(
    `    fault timing seed: ${seed} (repeat with FAULT_SEED=${seed})`,
  );
  return seed;
}
