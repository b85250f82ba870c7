import assert from "node:assert/strict";
import { waitForLock } from "../../lib/warehouse/duckdb/lock_wait.ts";
import { setLogSink } from "../../lib/runtime/log.ts";

const OPTIONS = {
  path: "/srv/warehouse.duckdb",
  action: "run dbt on the DuckDB warehouse",
  goldCopy: "/srv/gold_copy.duckdb",
};

/** DuckDB's lock error as dbt prints it, for a holder that no longer runs. */
const LOCKED = new Error(
  'dbt run failed\nIO Error: Could not set lock on file "/srv/warehouse.duckdb": Conflicting lock is held in /usr/bin/python3.11 (PID 2147483000). See also https://duckdb.org/docs/stable/connect/concurrency',
);

function capture() {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  return { lines, restore };
}

Deno.test("waitForLock() retries an attempt the lock keeps out, in one waiting line, and says when it got in", async () => {
  const { lines, restore } = capture();
  let attempts = 0;
  try {
    const result = await waitForLock(OPTIONS, () => {
      attempts++;
      return attempts < 4 ? Promise.reject(LOCKED) : Promise.resolve("built");
    });
    assert.equal(result, "built");
  } finally {
    restore();
  }
  assert.equal(attempts, 4);
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(
    lines[0],
    /msg="waiting for the DuckDB file's lock" path=\/srv\/warehouse\.duckdb holder_pid=2147483000 holder_program=\/usr\/bin\/python3\.11 waited_ms=\d+ gives_up_in_ms=\d+$/,
  );
  assert.match(lines[1], /msg="got the DuckDB file's lock" .*waited_ms=\d+/);
});

Deno.test("waitForLock() passes on at once a failure that is not the lock's", async () => {
  let attempts = 0;
  await assert.rejects(
    () =>
      waitForLock(OPTIONS, () => {
        attempts++;
        return Promise.reject(new Error("dbt run failed\nCompilation Error"));
      }),
    /Compilation Error/,
  );
  assert.equal(attempts, 1);
});

Deno.test("waitForLock() gives up after lockWaitMs naming the holder, the action and the gold copy", async () => {
  const { restore } = capture();
  try {
    await assert.rejects(
      () =>
        waitForLock(
          { ...OPTIONS, lockWaitMs: 300 },
          () => Promise.reject(LOCKED),
        ),
      /^Error: Cannot run dbt on the DuckDB warehouse \/srv\/warehouse\.duckdb as PID 2147483000 \(\/usr\/bin\/python3\.11\) has held its lock for \d+ ms: a reader should open the gold copy \/srv\/gold_copy\.duckdb instead \(docs\/running\.md\), or stop that process$/,
    );
  } finally {
    restore();
  }
});
