/**
 * Discovery from high-water marks (lib/load/discovery.ts) on the local lake:
 * a load lists what landed since the last one, whatever the lake's size;
 * two logs in one folder, a new day, a late object within the lookback, and
 * objects of the layout before are all found; a backfill still reaches what
 * the marks pass over.
 */
import assert from "node:assert/strict";
import { eventKey } from "../../lib/lake/keys.ts";
import type { Lake, ListOptions } from "../../lib/lake/lake.ts";
import { LocalLake } from "../../lib/lake/local.ts";
import { encodeLines } from "../../lib/lake/ndjson.ts";
import {
  loadNewObjects,
  type LoadSelection,
  type LoadTotals,
} from "../../lib/load/loader.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";
import { WrappedLake } from "../_doubles.ts";
import { count } from "../_helpers.ts";
import { landedEvent } from "../_landed.ts";

const TOPIC = "stock-quotes";

/** A lake that counts the keys its listings return and the listings made. */
class CountingLake extends WrappedLake {
  listings = 0;
  keys = 0;
  override async *list(prefix: string, options?: ListOptions) {
    this.listings++;
    for await (const object of this.inner.list(prefix, options)) {
      this.keys++;
      yield object;
    }
  }
  override async *folders(prefix: string, options?: ListOptions) {
    this.listings++;
    for await (const folder of this.inner.folders(prefix, options)) {
      this.keys++;
      yield folder;
    }
  }
  reset() {
    this.listings = 0;
    this.keys = 0;
  }
}

function line(stream: string, partition: number, offset: number): string {
  return JSON.stringify(
    landedEvent({ stream, partition, offset, price: 100 + offset / 1000 }),
  );
}

/** Lands offsets `first..last` of a partition as one object of `day`. */
async function land(
  lake: Lake,
  day: string,
  partition: number,
  first: number,
  last: number,
  stream = "embedded:discovery-a",
): Promise<string> {
  const key = eventKey(day, {
    streamId: stream,
    topic: TOPIC,
    partition,
    firstOffset: first,
    lastOffset: last,
  });
  const lines = [];
  for (let o = first; o <= last; o++) lines.push(line(stream, partition, o));
  await lake.put(key, await encodeLines(lines));
  return key;
}

async function load(
  lake: Lake,
  db: string,
  selection?: LoadSelection,
): Promise<LoadTotals> {
  const warehouse = await DuckDBWarehouse.open(db);
  try {
    return await loadNewObjects({ lake, warehouse, topic: TOPIC, selection });
  } finally {
    await warehouse.close();
  }
}

async function withLake(
  fn: (lake: CountingLake, db: string, dir: string) => Promise<void>,
) {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  try {
    await fn(
      new CountingLake(new LocalLake(`${dir}/lake`)),
      `${dir}/warehouse.duckdb`,
      dir,
    );
  } finally {
    restore();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a load that finds nothing new lists as much at 1,200 objects as at 60", async () => {
  await withLake(async (lake, db) => {
    const emptyLoad = async () => {
      lake.reset();
      const totals = await load(lake, db);
      assert.equal(totals.files, 0);
      return { listings: lake.listings, keys: lake.keys };
    };
    let offset = 0;
    const landMore = async (objects: number) => {
      for (let i = 0; i < objects; i++) {
        const day = i % 2 === 0 ? "2026-11-19" : "2026-11-20";
        await land(lake, day, i % 3, offset, offset + 1);
        offset += 2;
      }
    };
    await landMore(60);
    assert.equal((await load(lake, db)).files, 60);
    const small = await emptyLoad();
    await landMore(1_140);
    assert.equal((await load(lake, db)).files, 1_140);
    const large = await emptyLoad();
    assert.deepEqual(large, small);
    // The topic's days, each day's partitions, and per partition folder one
    // listing that meets its first key and one from the mark, which lists the
    // last 8 keys again.
    assert.deepEqual(small, {
      listings: 1 + 2 + 2 * 3 * 2,
      keys: 2 + 2 * 3 + 2 * 3 * (1 + 8),
    });
    assert.equal(
      await count(db, "select count(*) from raw.load_ledger"),
      1_200,
    );
  });
});

Deno.test("new objects after the marks load: two logs in one folder, a new day, and a late object within the lookback", async () => {
  await withLake(async (lake, db) => {
    const a = "embedded:discovery-a";
    const b = "kafka:discovery-b";
    await land(lake, "2026-11-20", 0, 0, 9, a);
    await land(lake, "2026-11-20", 0, 0, 9, b);
    assert.equal((await load(lake, db)).inserted, 20);
    // Each log's next object sorts after its own mark but, for one of the
    // two, before the other log's mark.
    await land(lake, "2026-11-20", 0, 10, 19, a);
    await land(lake, "2026-11-20", 0, 10, 19, b);
    await land(lake, "2026-11-21", 1, 0, 4, a);
    let totals = await load(lake, db);
    assert.deepEqual([totals.files, totals.inserted], [3, 25]);
    // A writer whose clock lags lands in yesterday's folder after today's
    // was loaded: the lookback lists it again.
    await land(lake, "2026-11-20", 2, 0, 4, a);
    totals = await load(lake, db);
    assert.deepEqual([totals.files, totals.inserted], [1, 5]);
    assert.equal(
      await count(db, "select count(*) from raw.source_stock_quotes"),
      50,
    );
  });
});

Deno.test("an object behind the lookback is past the marks; a backfill of its landing day loads it", async () => {
  await withLake(async (lake, db) => {
    await land(lake, "2026-11-10", 0, 0, 4);
    // Enough objects on the 20th for marks: more than the 8 listed again.
    for (let i = 1; i <= 12; i++) {
      await land(lake, "2026-11-20", 0, i * 5, i * 5 + 4);
    }
    assert.equal((await load(lake, db)).inserted, 65);
    await land(lake, "2026-11-10", 1, 0, 4);
    assert.equal((await load(lake, db)).files, 0);
    const backfill = await load(lake, db, {
      from: "2026-11-10",
      to: "2026-11-10",
    });
    assert.deepEqual([backfill.files, backfill.inserted], [1, 5]);
  });
});

Deno.test("the first load sweeps the topic whole, objects of the layout before included, once", async () => {
  await withLake(async (lake, db) => {
    const legacy = async (symbol: string, offset: number) => {
      const name = eventKey("2026-11-18", {
        streamId: "embedded:discovery-a",
        topic: TOPIC,
        partition: 0,
        firstOffset: offset,
        lastOffset: offset,
      }).split("/").pop()!;
      const key = `${TOPIC}/symbol=${symbol}/date=2026-11-18/${name}`;
      await lake.put(
        key,
        await encodeLines([line("embedded:discovery-a", 0, offset)]),
      );
    };
    await legacy("AAPL", 0);
    await legacy("MSFT", 1);
    await land(lake, "2026-11-20", 0, 2, 5);
    let totals = await load(lake, db);
    assert.deepEqual([totals.listed, totals.inserted], [3, 6]);
    // After the sweep the layout before is not listed again; a backfill of
    // its prefix still reads it.
    await legacy("NVDA", 6);
    lake.reset();
    totals = await load(lake, db);
    assert.deepEqual([totals.files, totals.inserted], [0, 0]);
    totals = await load(lake, db, { prefix: `${TOPIC}/symbol=NVDA/` });
    assert.deepEqual([totals.listed, totals.inserted], [1, 1]);
  });
});

Deno.test("a load stopped by a failure keeps no mark past what it did not load", async () => {
  await withLake(async (lake, db) => {
    await land(lake, "2026-11-20", 0, 0, 4);
    assert.equal((await load(lake, db)).inserted, 5);
    const good = await land(lake, "2026-11-20", 0, 5, 9);
    // A topic recreated under the same identity reuses offsets 0..4 with
    // other quotes: the load refuses the batch and rolls it back.
    const clashing = eventKey("2026-11-20", {
      streamId: "embedded:discovery-a",
      topic: TOPIC,
      partition: 0,
      firstOffset: 5,
      lastOffset: 10,
    });
    const lines = [];
    for (let o = 5; o <= 10; o++) {
      lines.push(line("embedded:discovery-a", 0, o).replace('"c":', '"c":1'));
    }
    await lake.put(clashing, await encodeLines(lines));
    const warehouse = await DuckDBWarehouse.open(db);
    try {
      // Both objects are in one transaction: the clash rolls back `good` too.
      await assert.rejects(() =>
        loadNewObjects({ lake, warehouse, topic: TOPIC })
      );
    } finally {
      await warehouse.close();
    }
    assert.equal(
      await count(
        db,
        `select count(*) from raw.load_ledger where file_name = '${good}'`,
      ),
      0,
    );
    for (const mark of await markOf(db)) {
      assert.ok(mark < good, `mark ${mark} must stay before ${good}`);
    }
  });
});

async function markOf(db: string): Promise<string[]> {
  const warehouse = await DuckDBWarehouse.open(db);
  try {
    return (await warehouse.query("select last_key from raw.load_marks"))
      .map((row) => String(row[0]));
  } finally {
    await warehouse.close();
  }
}
