import assert from "node:assert/strict";
import { CallBudget, type Clock } from "../../lib/produce/budget.ts";

const T0 = 1_700_000_000_000;

/** A clock that moves only when the test advances it; sleepers wake in order. */
class ManualClock implements Clock {
  #now: number;
  #sleepers: { until: number; wake: () => void }[] = [];

  constructor(start = T0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** How many sleeps are pending. */
  get waiting(): number {
    return this.#sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper = {
        until: this.#now + ms,
        wake: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#sleepers.push(sleeper);
    });
  }

  /** Moves time forward and wakes the sleepers whose time has come. */
  async advance(ms: number): Promise<void> {
    this.#now += ms;
    const due = this.#sleepers.filter((s) => s.until <= this.#now);
    this.#sleepers = this.#sleepers.filter((s) => s.until > this.#now);
    for (const sleeper of due) sleeper.wake();
    await settle();
  }
}

/** Lets every pending promise callback run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Starts `acquire` and reports whether it has resolved. */
function track(
  promise: Promise<void>,
): { done: boolean; promise: Promise<void> } {
  const state = { done: false, promise };
  promise.then(() => state.done = true, () => {});
  return state;
}

Deno.test("CallBudget grants up to limit calls at once without waiting", async () => {
  const clock = new ManualClock();
  const budget = new CallBudget({ limit: 3, clock });
  await budget.acquire();
  await budget.acquire();
  await budget.acquire();
  assert.equal(clock.waiting, 0);
  assert.equal(clock.now(), T0);
});

Deno.test("CallBudget makes the next call wait until the oldest leaves the window", async () => {
  const clock = new ManualClock();
  const budget = new CallBudget({ limit: 2, clock });
  await budget.acquire(); // T0
  await clock.advance(10_000);
  await budget.acquire(); // T0 + 10 s

  const third = track(budget.acquire());
  await settle();
  assert.equal(third.done, false);
  assert.equal(clock.waiting, 1);

  await clock.advance(49_999); // T0 + 59.999 s: the first call still counts
  assert.equal(third.done, false);
  await clock.advance(1); // T0 + 60 s: its slot is free
  assert.equal(third.done, true);

  const fourth = track(budget.acquire());
  await settle();
  assert.equal(fourth.done, false);
  await clock.advance(9_999);
  assert.equal(fourth.done, false);
  await clock.advance(1); // T0 + 70 s: the second call leaves the window
  assert.equal(fourth.done, true);
});

Deno.test("CallBudget never lets concurrent callers exceed the limit in any window", async () => {
  const clock = new ManualClock();
  const budget = new CallBudget({ limit: 3, windowMs: 1_000, clock });
  const granted: number[] = [];
  const callers = Array.from({ length: 10 }, () =>
    budget.acquire().then(() => {
      granted.push(clock.now());
    }));
  await settle();
  for (let i = 0; i < 5; i++) await clock.advance(1_000);
  await Promise.all(callers);

  assert.deepEqual(granted.map((t) => t - T0), [
    0,
    0,
    0,
    1_000,
    1_000,
    1_000,
    2_000,
    2_000,
    2_000,
    3_000,
  ]);
  for (const start of granted) {
    const inWindow = granted.filter((t) => t >= start && t < start + 1_000);
    assert.ok(
      inWindow.length <= 3,
      `window at ${start - T0} holds ${inWindow.length}`,
    );
  }
});

Deno.test("CallBudget.acquire() rejects with the signal's reason when aborted while waiting", async () => {
  const clock = new ManualClock();
  const budget = new CallBudget({ limit: 1, clock });
  await budget.acquire();
  const controller = new AbortController();
  const waiting = budget.acquire(controller.signal);
  await settle();
  assert.equal(clock.waiting, 1);
  const reason = new Error("stopped");
  controller.abort(reason);
  await assert.rejects(waiting, (error) => error === reason);
  assert.equal(clock.waiting, 0);

  // The aborted call took no slot: once the window passes, one call fits at once.
  await clock.advance(60_000);
  await budget.acquire();
  const next = track(budget.acquire());
  await settle();
  assert.equal(next.done, false);
  await clock.advance(60_000);
  assert.equal(next.done, true);
});

Deno.test("CallBudget.acquire() rejects at once when the signal is already aborted", async () => {
  const budget = new CallBudget({ limit: 1, clock: new ManualClock() });
  const reason = new Error("already stopped");
  await assert.rejects(
    budget.acquire(AbortSignal.abort(reason)),
    (error) => error === reason,
  );
});

Deno.test("CallBudget rejects a limit that is not a positive integer", () => {
  assert.throws(
    () => new CallBudget({ limit: 0 }),
    new RangeError(
      "Cannot create a call budget as 'limit' must be a positive integer: current value is 0",
    ),
  );
  assert.throws(
    () => new CallBudget({ limit: 1.5 }),
    new RangeError(
      "Cannot create a call budget as 'limit' must be a positive integer: current value is 1.5",
    ),
  );
  assert.throws(
    () => new CallBudget({ windowMs: -1 }),
    new RangeError(
      "Cannot create a call budget as 'windowMs' must be a positive number: current value is -1",
    ),
  );
});
