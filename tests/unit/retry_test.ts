import assert from "node:assert/strict";
import {
  backoffDelay,
  FatalError,
  RetriableError,
  retry,
} from "../../lib/runtime/retry.ts";

Deno.test("retry() repeats retriable failures until the operation succeeds", async () => {
  let calls = 0;
  const result = await retry(() => {
    calls++;
    return calls < 3
      ? Promise.reject(new RetriableError("not yet"))
      : Promise.resolve("done");
  }, { baseMs: 1 });
  assert.equal(result, "done");
  assert.equal(calls, 3);
});

Deno.test("retry() gives up after maxAttempts with the last failure", async () => {
  let calls = 0;
  await assert.rejects(
    () =>
      retry(() => Promise.reject(new RetriableError(`attempt ${++calls}`)), {
        maxAttempts: 4,
        baseMs: 1,
      }),
    new RetriableError("attempt 4"),
  );
  assert.equal(calls, 4);
});

Deno.test("retry() does not repeat a failure that is not retriable", async () => {
  let calls = 0;
  await assert.rejects(
    () =>
      retry(() => Promise.reject(new FatalError(`bad key ${++calls}`)), {
        baseMs: 1,
      }),
    new FatalError("bad key 1"),
  );
});

Deno.test("backoffDelay() doubles from baseMs up to maxMs, less its jitter", () => {
  const none = { baseMs: 100, maxMs: 1_000, jitter: 0 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, none)), [
    100,
    200,
    400,
    800,
    1_000,
    1_000,
  ]);
  assert.equal(
    backoffDelay(2, { baseMs: 100, jitter: 0.5, random: () => 1 }),
    200,
  );
  assert.throws(() => backoffDelay(-1), RangeError);
});
