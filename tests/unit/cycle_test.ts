import type { Config } from "../../lib/runtime/config.ts";
import {
  type DbtWorker,
  FREQUENT_BUILD,
  FREQUENT_MODELS,
  SEEDS,
} from "../../lib/transform/dbt.ts";
import assert from "node:assert/strict";
import {
  type CycleObserver,
  type CycleOptions,
  emptyCounters,
  runCycles,
  type WarehouseAccess,
} from "../../lib/app/cycle.ts";
import { dbtTransform, sessionAccess } from "../../lib/app/cycle_warehouse.ts";
import type { LoadTotals } from "../../lib/load/loader.ts";

/** A promise with its resolve, for steps the test holds open. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

function totals(inserted: number, files = inserted): LoadTotals {
  return {
    listed: files,
    files,
    rows: inserted,
    inserted,
    duplicates: 0,
    rejected: 0,
  };
}

/** What the fake steps did, in order. */
type Event = string;

/**
 * A fake warehouse and steps: each load returns the next of `loads` (0 rows
 * once they run out), each step is recorded, and `hold` lets a test keep a
 * step open until it says.
 */
function fakes(loads: number[] = []) {
  const events: Event[] = [];
  let open = 0;
  const holds: Record<string, ReturnType<typeof deferred> | undefined> = {};
  const started: Record<string, ReturnType<typeof deferred>> = {
    load: deferred(),
    transform: deferred(),
  };
  const warehouse: WarehouseAccess<string> = {
    async use(work) {
      open++;
      events.push("open");
      try {
        return await work("warehouse");
      } finally {
        open--;
        events.push("close");
      }
    },
    close() {
      events.push("released");
      return Promise.resolve();
    },
  };
  const options: CycleOptions<string> = {
    warehouse,
    async load(_warehouse, _signal, onProgress) {
      events.push("load");
      started.load.resolve();
      await holds.load?.promise;
      const result = totals(loads.shift() ?? 0);
      onProgress(result);
      return result;
    },
    async transform() {
      events.push("transform");
      started.transform.resolve();
      await holds.transform?.promise;
      events.push("transformed");
    },
    minCycleMs: 1,
    transformEveryMs: 0,
  };
  return {
    events,
    options,
    openNow: () => open,
    hold(step: "load" | "transform") {
      holds[step] = deferred();
      return holds[step]!;
    },
    started,
  };
}

Deno.test("runCycles() on a stop during a load lets it finish, then runs no dbt and ends", async () => {
  const fake = fakes([5]);
  const stop = new AbortController();
  const release = fake.hold("load");
  const counters = emptyCounters();
  const run = runCycles({ ...fake.options, signal: stop.signal }, counters);
  await fake.started.load.promise;
  stop.abort();
  release.resolve();
  await run;
  assert.deepEqual(fake.events, ["open", "load", "close", "released"]);
  assert.equal(counters.rows, 5, "the finished load is counted");
  assert.equal(counters.dbtRuns, 0);
  assert.equal(
    counters.rawAsOf,
    undefined,
    "a stopped load may have left objects",
  );
  assert.equal(fake.openNow(), 0);
});

Deno.test("runCycles() on a stop during a dbt run lets it finish, then loads nothing more", async () => {
  const fake = fakes([5, 7]);
  const stop = new AbortController();
  const release = fake.hold("transform");
  const counters = emptyCounters();
  const run = runCycles({ ...fake.options, signal: stop.signal }, counters);
  await fake.started.transform.promise;
  stop.abort();
  release.resolve();
  await run;
  assert.deepEqual(fake.events, [
    "open",
    "load",
    "close",
    "transform",
    "transformed",
    "released",
  ]);
  assert.equal(counters.rows, 5);
  assert.equal(counters.dbtRuns, 1);
  assert.equal(counters.cycles, 1);
});

Deno.test("runCycles() on a drain runs one last whole cycle, dbt included", async () => {
  const fake = fakes([3]);
  const drain = new AbortController();
  const release = fake.hold("load");
  const run = runCycles({
    ...fake.options,
    drain: drain.signal,
    transformEveryMs: 60_000,
  });
  await fake.started.load.promise;
  drain.abort();
  release.resolve();
  const counters = await run;
  // The first cycle's run waits for transformEveryMs; the last one does not.
  assert.deepEqual(fake.events, [
    "open",
    "load",
    "close",
    "transform",
    "transformed",
    "open",
    "load",
    "close",
    "released",
  ]);
  assert.equal(counters.cycles, 2);
  assert.equal(counters.rows, 3);
});

Deno.test("runCycles() with transformAtStart runs dbt in the first cycle though nothing loaded", async () => {
  const fake = fakes();
  const stop = new AbortController();
  const counters = emptyCounters();
  const run = runCycles({
    ...fake.options,
    signal: stop.signal,
    transformAtStart: true,
  }, counters);
  await fake.started.transform.promise;
  stop.abort();
  await run;
  assert.deepEqual(fake.events.slice(0, 5), [
    "open",
    "load",
    "close",
    "transform",
    "transformed",
  ]);
  assert.equal(counters.dbtRuns, 1);
  assert.equal(counters.rows, 0);
});

Deno.test("runCycles() ends on a failed dbt run with its error, the warehouse released", async () => {
  const fake = fakes([1]);
  await assert.rejects(
    runCycles({
      ...fake.options,
      transform: () => Promise.reject(new Error("dbt run failed")),
    }),
    { message: "dbt run failed" },
  );
  assert.deepEqual(fake.events, ["open", "load", "close", "released"]);
});

Deno.test("runCycles() calls observers around each step and once at the end", async () => {
  const fake = fakes([2]);
  const stop = new AbortController();
  const seen: string[] = [];
  const observer: CycleObserver<string> = {
    beforeLoad(warehouse) {
      seen.push(`before:${warehouse}`);
      return Promise.resolve();
    },
    afterLoad(_warehouse, totals) {
      seen.push(`loaded:${totals.inserted}`);
      return Promise.resolve();
    },
    afterTransform() {
      seen.push("transformed");
      stop.abort();
    },
    atEnd(warehouse) {
      seen.push(`end:${warehouse}:${fake.openNow()}`);
      return Promise.resolve();
    },
  };
  const counters = await runCycles({
    ...fake.options,
    signal: stop.signal,
    observers: [observer],
  });
  assert.deepEqual(seen, [
    "before:warehouse",
    "loaded:2",
    "transformed",
    "end:warehouse:1",
  ]);
  assert.equal(counters.goldAsOf, counters.rawAsOf);
});

Deno.test("runCycles() counts progress within a load and says how far RAW and gold are complete", async () => {
  let clock = 1_000;
  const fake = fakes();
  const stop = new AbortController();
  const progress: number[] = [];
  const counters = await runCycles({
    ...fake.options,
    signal: stop.signal,
    now: () => clock,
    async load(_warehouse, _signal, onProgress) {
      // Two transactions of 2 and 3 rows, reported as totals so far.
      onProgress(totals(2));
      onProgress(totals(5));
      clock += 10;
      return await Promise.resolve(totals(5));
    },
    transform() {
      clock += 100;
      stop.abort();
      return Promise.resolve();
    },
    onProgress: (c) => progress.push(c.rows),
  });
  assert.equal(counters.rows, 5, "each transaction once");
  assert.equal(counters.objects, 5);
  assert.ok(progress.includes(2) && progress.includes(5), `${progress}`);
  assert.equal(counters.rawAsOf, 1_000, "the load step's start");
  assert.equal(counters.goldAsOf, 1_000, "RAW as of the dbt run's start");
});

Deno.test("runCycles() on a stop before the load starts loads nothing", async () => {
  const fake = fakes([4]);
  const stop = new AbortController();
  const counters = await runCycles({
    ...fake.options,
    signal: stop.signal,
    observers: [{
      beforeLoad() {
        stop.abort(); // e.g. while the gold copy is written
        return Promise.resolve();
      },
    }],
  });
  assert.deepEqual(fake.events, ["open", "close", "released"]);
  assert.equal(counters.rows, 0);
});

Deno.test("sessionAccess() opens one session for every step and closes it once the cycles end", async () => {
  let opened = 0;
  let closed = 0;
  const session = {
    location: "snowflake://test",
    unloadedKeys: () => Promise.resolve(new Set<string>()),
    discoveryState: () => Promise.resolve({ swept: true, marks: [] }),
    saveMarks: () => Promise.resolve(),
    load: () => Promise.reject(new Error("not used")),
    close() {
      closed++;
      return Promise.resolve();
    },
  };
  const access = sessionAccess(() => {
    opened++;
    return Promise.resolve(session);
  });
  const stop = new AbortController();
  let loads = 0;
  await runCycles({
    warehouse: access,
    load(warehouse) {
      assert.equal(warehouse, session);
      if (++loads === 3) stop.abort();
      return Promise.resolve(totals(0));
    },
    transform: () => Promise.resolve(),
    signal: stop.signal,
    minCycleMs: 1,
  });
  assert.equal(loads, 3);
  assert.deepEqual({ opened, closed }, { opened: 1, closed: 1 });
});

Deno.test("the cycle's dbt loads the seeds once, runs the frequent build with its tests first, then its models alone until the tests are due", async () => {
  const runs: (readonly string[])[] = [];
  const dbt = {
    run(args: readonly string[]) {
      runs.push(args);
      return Promise.resolve({ success: true, code: 0, output: "" });
    },
  } as unknown as DbtWorker;
  const config = { warehouse: "snowflake" } as Config;
  const transform = dbtTransform(config, dbt, 60_000);
  await transform();
  await transform();
  await transform();
  assert.deepEqual(runs, [
    SEEDS,
    FREQUENT_BUILD,
    FREQUENT_MODELS,
    FREQUENT_MODELS,
  ]);
  runs.length = 0;
  const always = dbtTransform(config, dbt, 0);
  await always();
  await always();
  assert.deepEqual(runs, [SEEDS, FREQUENT_BUILD, FREQUENT_BUILD]);
});
