import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import { eventKey, objectName, parseObjectKey } from "../../lib/lake/keys.ts";
import { encodeLines } from "../../lib/lake/ndjson.ts";
import { LocalLake } from "../../lib/lake/local.ts";
import { parseLoadArgs } from "../../lib/app/cli.ts";
import { parseLandedLine } from "../../lib/contract/landed_line.ts";
import {
  checkSelection,
  loadNewObjects,
  type LoadSelection,
  type LoadTotals,
} from "../../lib/load/loader.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import type { LandedLine } from "../../lib/contract/landed_line.ts";
import { landedEvent, T } from "../_landed.ts";
import { CoordinateClashError } from "../../lib/warehouse/warehouse.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";

const STREAM = "embedded:loader-test";

function landed(
  partition: number,
  offset: number,
  { stream = STREAM, price }: { stream?: string; price?: number } = {},
): LandedLine {
  return landedEvent({ stream, partition, offset, price });
}

/** Writes one object holding `offsets` of a partition, named as the consumer would. */
async function land(
  lake: LocalLake,
  partition: number,
  offsets: number[],
  extra: string[] = [],
  options: { stream?: string; price?: number } = {},
) {
  const key = eventKey("2026-11-20", {
    streamId: options.stream ?? STREAM,
    topic: "stock-quotes",
    partition,
    firstOffset: offsets[0],
    lastOffset: offsets[offsets.length - 1],
  });
  const lines = [
    ...offsets.map((o) => JSON.stringify(landed(partition, o, options))),
    ...extra,
  ];
  await lake.put(key, await encodeLines(lines));
  return key;
}

async function query(path: string, sql: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(path, {
    access_mode: "READ_ONLY",
  });
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRows();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function loadOnce(lake: LocalLake, path: string) {
  const warehouse = await DuckDBWarehouse.open(path);
  try {
    return await loadNewObjects({
      lake,
      warehouse,
      topic: "stock-quotes",
      filesPerLoad: 400,
    });
  } finally {
    await warehouse.close();
  }
}

Deno.test("loadNewObjects loads every object once, past 1,000 objects, and a re-run loads nothing", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  for (let i = 0; i < 1_200; i++) await land(lake, i % 3, [i * 2, i * 2 + 1]);

  const first = await loadOnce(lake, db);
  assert.deepEqual(first, {
    listed: 1_200,
    files: 1_200,
    rows: 2_400,
    inserted: 2_400,
    duplicates: 0,
    rejected: 0,
  });
  // A load lists only what sorts after its marks: the last 8 keys of each
  // of the 3 partition folders again, and nothing new.
  const again = await loadOnce(lake, db);
  assert.deepEqual(again, {
    listed: 24,
    files: 0,
    rows: 0,
    inserted: 0,
    duplicates: 0,
    rejected: 0,
  });
  assert.deepEqual(
    await query(
      db,
      "select count(*)::integer, count(distinct file_name)::integer from raw.source_stock_quotes",
    ),
    [[2_400, 1_200]],
  );
  assert.deepEqual(
    await query(db, "select count(*)::integer from raw.load_ledger"),
    [[1_200]],
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

/** Loads the lake into a new warehouse, with the totals after each transaction. */
async function loadInTransactions(
  dir: string,
  lake: LocalLake,
  options: { bytesPerLoad?: number; eventsPerLoad?: number },
): Promise<LoadTotals[]> {
  const warehouse = await DuckDBWarehouse.open(`${dir}/warehouse.duckdb`);
  const transactions: LoadTotals[] = [];
  try {
    await loadNewObjects({
      lake,
      warehouse,
      topic: "stock-quotes",
      ...options,
      onProgress: (totals) => transactions.push({ ...totals }),
    });
  } finally {
    await warehouse.close();
  }
  return transactions;
}

Deno.test("loadNewObjects bounds each transaction by compressed bytes as well as objects", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  for (let i = 0; i < 10; i++) {
    await land(lake, 0, [i * 3, i * 3 + 1, i * 3 + 2]);
  }
  // Every object is over 1 byte: one object per transaction.
  const transactions = await loadInTransactions(dir, lake, { bytesPerLoad: 1 });
  assert.deepEqual(
    transactions.map((t) => t.files),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.equal(transactions.at(-1)?.inserted, 30);
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadNewObjects bounds each transaction by the events the objects' names give", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  // Objects of 3, 1, 4, 2 and 5 events.
  let offset = 0;
  for (const events of [3, 1, 4, 2, 5]) {
    await land(lake, 0, Array.from({ length: events }, () => offset++));
  }
  const transactions = await loadInTransactions(dir, lake, {
    eventsPerLoad: 4,
  });
  // 3+1 reaches 4; 4 alone; 2+5 passes it.
  assert.deepEqual(transactions.map((t) => t.rows), [4, 8, 15]);
  assert.equal(transactions.at(-1)?.inserted, 15);
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a load that outgrows DuckDB's memory limit stops with an error naming the settings", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  for (let i = 0; i < 4; i++) {
    await land(lake, 0, Array.from({ length: 500 }, (_, n) => i * 500 + n));
  }
  // DuckDB's reader takes a 4 MiB buffer per object it reads at once.
  const warehouse = await DuckDBWarehouse.open(`${dir}/warehouse.duckdb`, {
    memoryMib: 8,
  });
  try {
    await assert.rejects(
      loadNewObjects({ lake, warehouse, topic: "stock-quotes" }),
      /^Error: Cannot load 4 objects as DuckDB ran out of its memory limit reading them; raise DUCKDB_MEMORY_MIB or lower LOAD_MAX_EVENTS: Out of Memory Error/,
    );
  } finally {
    await warehouse.close();
  }
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadNewObjects counts an event once when objects overlap after a consumer crash", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  // Before the crash: offsets 10..14 landed but not committed; after it: 10..12 and 13..16.
  await land(lake, 0, [10, 11, 12, 13, 14]);
  assert.equal((await loadOnce(lake, db)).inserted, 5);
  await land(lake, 0, [10, 11, 12]);
  await land(lake, 0, [13, 14, 15, 16]);
  const second = await loadOnce(lake, db);
  assert.deepEqual(second, {
    listed: 3,
    files: 2,
    rows: 7,
    inserted: 2,
    duplicates: 5,
    rejected: 0,
  });
  const offsets = await query(
    db,
    "select stream_offset from raw.source_stock_quotes order by 1",
  );
  assert.deepEqual(offsets.map((r) => Number(r[0])), [
    10,
    11,
    12,
    13,
    14,
    15,
    16,
  ]);
  assert.deepEqual(
    await query(
      db,
      "select rows_in_file, rows_inserted, rows_duplicate from raw.load_ledger order by file_name",
    ),
    [[3, 0, 3], [5, 5, 0], [4, 2, 2]],
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadNewObjects keeps refused lines with their reason and loads the rest", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  const noCoordinates = JSON.stringify({ ...landed(0, 3), _stream: undefined });
  const badPrice = JSON.stringify({ ...landed(0, 4), l: 600 });
  await land(lake, 0, [1, 2], [noCoordinates, badPrice, "not json"]);
  const totals = await loadOnce(lake, db);
  assert.equal(totals.inserted, 2);
  assert.equal(totals.rejected, 3);
  assert.deepEqual(
    await query(
      db,
      "select line_number, reason_field, reason_rule from raw.rejected_stock_quotes order by 1",
    ),
    [
      [
        3,
        "_stream",
        "must hold the stream coordinates {id, topic, partition, offset, timestamp}",
      ],
      [4, "l", "must not exceed h (500)"],
      [
        5,
        "event",
        "must be valid JSON (Unexpected token 'o', \"not json\" is not valid JSON)",
      ],
    ],
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("trades load into their own RAW table, apart from quotes, and a refused trade is kept with its reason", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  const trade = (offset: number, fields: Record<string, unknown> = {}) =>
    JSON.stringify({
      symbol: "AAPL",
      p: 190.25,
      v: 100,
      t: T * 1000 + offset,
      c: ["1", "12"],
      fetched_at: T * 1000 + 50,
      source: "finnhub-trades",
      ...fields,
      _stream: {
        id: STREAM,
        topic: "stock-trades",
        partition: 1,
        offset,
        timestamp: T * 1000 + 60,
      },
    });
  const clean = eventKey("2026-11-20", {
    streamId: STREAM,
    topic: "stock-trades",
    partition: 1,
    firstOffset: 0,
    lastOffset: 2,
  });
  await lake.put(clean, await encodeLines([0, 1, 2].map((o) => trade(o))));
  const mixed = eventKey("2026-11-20", {
    streamId: STREAM,
    topic: "stock-trades",
    partition: 1,
    firstOffset: 3,
    lastOffset: 4,
  });
  await lake.put(
    mixed,
    await encodeLines([trade(3, { c: [] }), trade(4, { v: -5 })]),
  );
  await land(lake, 0, [0, 1]);
  const warehouse = await DuckDBWarehouse.open(db);
  try {
    const trades = await loadNewObjects({
      lake,
      warehouse,
      topic: "stock-trades",
      kind: "trades",
    });
    assert.deepEqual(
      [trades.files, trades.inserted, trades.rejected],
      [2, 4, 1],
    );
    const quotes = await loadNewObjects({
      lake,
      warehouse,
      topic: "stock-quotes",
    });
    assert.equal(quotes.inserted, 2);
  } finally {
    await warehouse.close();
  }
  assert.deepEqual(
    await query(
      db,
      `select stream_offset, v->>'$.c' from raw.source_stock_trades order by 1`,
    ),
    [[0n, '["1","12"]'], [1n, '["1","12"]'], [2n, '["1","12"]'], [3n, "[]"]],
  );
  assert.deepEqual(
    await query(db, "select count(*) from raw.source_stock_quotes"),
    [[2n]],
  );
  assert.deepEqual(
    await query(
      db,
      "select line_number, reason_field, reason_rule from raw.rejected_stock_trades",
    ),
    [[2, "v", "must be a finite number >= 0"]],
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("DuckDBWarehouse stages from DuckDB's own read only the objects it read exactly as checked", async () => {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  const level = Deno.env.get("LOG_LEVEL");
  Deno.env.set("LOG_LEVEL", "debug");
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  try {
    // read natively: two clean objects
    await land(lake, 0, [1, 2, 3]);
    await land(lake, 1, [1, 2]);
    // checked rows: a refused line; CRLF endings (DuckDB drops the \r, the
    // checked line keeps it); and an empty object
    await land(lake, 2, [1, 2], ["not json"]);
    const crlf = eventKey("2026-11-20", {
      streamId: STREAM,
      topic: "stock-quotes",
      partition: 3,
      firstOffset: 1,
      lastOffset: 2,
    });
    const crlfLines = [1, 2].map((o) => JSON.stringify(landed(3, o)) + "\r");
    await lake.put(crlf, await encodeLines(crlfLines));
    const totals = await loadOnce(lake, db);
    assert.deepEqual(
      { inserted: totals.inserted, rejected: totals.rejected },
      { inserted: 9, rejected: 1 },
    );
    const staged = lines.filter((l) => l.includes("msg=staged"));
    assert.equal(staged.length, 1);
    assert.match(staged[0], /native_objects=2 checked_objects=2/);
    // RAW keeps every line verbatim, whichever way it was staged
    const expected = [
      ...[1, 2, 3].map((o) => JSON.stringify(landed(0, o))),
      ...[1, 2].map((o) => JSON.stringify(landed(1, o))),
      ...[1, 2].map((o) => JSON.stringify(landed(2, o))),
      ...crlfLines,
    ];
    assert.deepEqual(
      (await query(
        db,
        "select v::varchar from raw.source_stock_quotes order by stream_partition, stream_offset",
      )).map((row) => row[0]),
      expected,
    );

    // An object DuckDB cannot read (invalid UTF-8) sends the whole batch to
    // the checked rows; the load still completes.
    const key = eventKey("2026-11-20", {
      streamId: STREAM,
      topic: "stock-quotes",
      partition: 4,
      firstOffset: 1,
      lastOffset: 1,
    });
    const body = new TextEncoder().encode(JSON.stringify(landed(4, 1)) + "\n");
    const broken = new Uint8Array([
      ...body.slice(0, 12),
      0xff,
      0xfe,
      ...body.slice(12),
    ]);
    const { gzipSync } = await import("node:zlib");
    await lake.put(key, new Uint8Array(gzipSync(broken)));
    await land(lake, 5, [1, 2]);
    const again = await loadOnce(lake, db);
    assert.deepEqual(
      {
        files: again.files,
        inserted: again.inserted,
        rejected: again.rejected,
      },
      { files: 2, inserted: 2, rejected: 1 },
    );
    assert.match(
      lines.filter((l) => l.includes("msg=staged")).pop() ?? "",
      /native_objects=0 checked_objects=2/,
    );
  } finally {
    restore();
    if (level === undefined) Deno.env.delete("LOG_LEVEL");
    else Deno.env.set("LOG_LEVEL", level);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseLandedLine returns the row with its stream coordinates", () => {
  const line = JSON.stringify(landed(2, 42));
  assert.deepEqual(parseLandedLine(line), {
    line,
    streamId: STREAM,
    topic: "stock-quotes",
    partition: 2,
    offset: 42,
    timestamp: (T + 42) * 1000 + 3,
  });
});

Deno.test("loadNewObjects keeps the events of two logs apart even when topic, partition and offsets match", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  // The embedded stream and a Kafka cluster both start topic stock-quotes at offset 0.
  await land(lake, 0, [0, 1, 2], [], { stream: "embedded:6f1e", price: 101 });
  await land(lake, 0, [0, 1, 2], [], {
    stream: "kafka:jmM1yNe0TUiIy-nNOOq5Ew",
    price: 202,
  });
  const totals = await loadOnce(lake, db);
  assert.equal(totals.inserted, 6);
  assert.equal(totals.duplicates, 0);
  assert.deepEqual(
    await query(
      db,
      "select stream_id, count(*)::integer from raw.source_stock_quotes group by 1 order by 1",
    ),
    [["embedded:6f1e", 3], ["kafka:jmM1yNe0TUiIy-nNOOq5Ew", 3]],
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadNewObjects refuses, and rolls back, events that reuse the coordinates of different events", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  await land(lake, 0, [0, 1, 2], [], { price: 101 });
  assert.equal((await loadOnce(lake, db)).inserted, 3);
  // A topic recreated in the same cluster: same identity, offsets from 0
  // again, other quotes (found once its object sorts after the mark).
  await land(lake, 0, [0, 1, 2, 3], [], { price: 303 });
  await assert.rejects(
    () => loadOnce(lake, db),
    (error: unknown) =>
      error instanceof CoordinateClashError &&
      error.message.startsWith(
        "Cannot load as 3 row(s) reuse the stream coordinates of different events already loaded " +
          "(first: embedded:loader-test stock-quotes partition 0 offset 0)",
      ),
  );
  assert.deepEqual(
    await query(db, "select count(*)::integer from raw.load_ledger"),
    [[1]],
  );
  assert.deepEqual(
    await query(
      db,
      "select count(*)::integer, max(v->>'c') from raw.source_stock_quotes",
    ),
    [[3, "101"]],
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("objects of the layout before (per symbol and quote day) still load, by prefix and quote day, and a reload restores deleted rows once", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  // Three days of AAPL and MSFT, 2 events per object, partitions kept apart.
  const days = ["2026-11-18", "2026-11-19", "2026-11-20"];
  let offset = 0;
  for (const [d, date] of days.entries()) {
    for (const [p, symbol] of ["AAPL", "MSFT"].entries()) {
      const lines = [offset, offset + 1].map((o) => {
        const line = landed(p, o);
        line.symbol = symbol;
        line.t = T - (2 - d) * 86_400 + o;
        line.fetched_at = line.t * 1000;
        return JSON.stringify(line);
      });
      await lake.put(
        // the layout before today's: <topic>/symbol=<symbol>/date=<quote day>/<name>
        `stock-quotes/symbol=${symbol}/date=${date}/` + objectName({
          streamId: STREAM,
          topic: "stock-quotes",
          partition: p,
          firstOffset: offset,
          lastOffset: offset + 1,
        }),
        await encodeLines(lines),
      );
    }
    offset += 2;
  }
  const load = async (selection: LoadSelection) => {
    const warehouse = await DuckDBWarehouse.open(db);
    try {
      return await loadNewObjects({
        lake,
        warehouse,
        topic: "stock-quotes",
        selection,
      });
    } finally {
      await warehouse.close();
    }
  };

  const aapl = await load({
    prefix: "stock-quotes/symbol=AAPL/",
    to: "2026-11-19",
  });
  assert.equal(aapl.listed, 3);
  assert.equal(aapl.inserted, 4);
  const rest = await load({ from: "2026-11-19" });
  assert.equal(rest.files, 3); // AAPL 11-20, MSFT 11-19 and 11-20
  assert.equal(rest.inserted, 6);
  assert.deepEqual(await load({}), {
    listed: 6,
    files: 1,
    rows: 2,
    inserted: 2,
    duplicates: 0,
    rejected: 0,
  });

  // Lose one day of RAW rows; a reload of that day restores them, nothing else.
  {
    const instance = await DuckDBInstance.create(db);
    const connection = await instance.connect();
    await connection.run(
      "delete from raw.source_stock_quotes where file_name like '%/date=2026-11-19/%'",
    );
    connection.closeSync();
    instance.closeSync();
  }
  assert.deepEqual(await load({ from: "2026-11-19", to: "2026-11-19" }), {
    listed: 6,
    files: 0,
    rows: 0,
    inserted: 0,
    duplicates: 0,
    rejected: 0,
  }, "without --reload the ledger skips loaded objects");
  const reload = await load({
    from: "2026-11-19",
    to: "2026-11-20",
    reload: true,
  });
  assert.equal(reload.files, 4);
  assert.equal(reload.inserted, 4);
  assert.equal(reload.duplicates, 4);
  assert.deepEqual(
    await query(
      db,
      "select count(*)::integer, count(distinct (stream_partition, stream_offset))::integer from raw.source_stock_quotes",
    ),
    [[12, 12]],
  );
  assert.deepEqual(
    await query(db, "select count(*)::integer from raw.load_ledger"),
    [[6]],
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a backfill selection outside the topic or with impossible dates is refused before anything is read", () => {
  for (
    const [selection, message] of [
      [{ prefix: "other-topic/" }, /'--prefix' must lie under/],
      [{ prefix: "stock-quotes/../secrets/" }, /'--prefix' must lie under/],
      [{ from: "2026-02-30" }, /'--from' must be a date YYYY-MM-DD/],
      [{ to: "20261120" }, /'--to' must be a date/],
      [{ from: "2026-11-20", to: "2026-11-19" }, /must not be after/],
    ] as const
  ) {
    assert.throws(
      () => checkSelection(selection, "stock-quotes"),
      (error: Error) =>
        error instanceof RangeError && message.test(error.message),
    );
  }
  assert.deepEqual(
    parseLoadArgs([
      "--reload",
      "--from",
      "2026-11-19",
      "--to",
      "",
      "--prefix",
      " ",
    ]),
    {
      selection: {
        prefix: undefined,
        from: "2026-11-19",
        to: undefined,
        reload: true,
      },
      kinds: ["quotes", "trades"],
      help: false,
    },
  );
  assert.deepEqual(parseLoadArgs(["--kind", "trades"]).kinds, ["trades"]);
  assert.throws(
    () => parseLoadArgs(["--kind", "bars"]),
    /kind of event as it must be one of quotes, trades: current value is "bars"/,
  );
  assert.throws(
    () => parseLoadArgs(["--since", "x"]),
    new RangeError(
      "Cannot run 'deno task load' as '--since' is not one of its options: run 'deno task load --help' for its options",
    ),
  );
});

Deno.test("object keys name their layout, landing day, log, partition and offsets", () => {
  const coordinates = {
    streamId: STREAM,
    topic: "stock-quotes",
    partition: 3,
    firstOffset: 7,
    lastOffset: 9,
  };
  const key = eventKey("2026-12-01", coordinates);
  assert.match(
    key,
    /^stock-quotes\/dt=2026-12-01\/partition=3\/stock-quotes\+[0-9a-f]{8}\+3\+0{19}7\+0{19}9\.ndjson\.gz$/,
  );
  const expected = {
    topic: "stock-quotes",
    tag: key.split("+")[1],
    partition: 3,
    firstOffset: 7,
    lastOffset: 9,
  };
  assert.deepEqual(parseObjectKey(key), {
    layout: "partition",
    day: "2026-12-01",
    ...expected,
  });
  assert.deepEqual(
    parseObjectKey(
      `stock-quotes/symbol=BRK.B/date=2026-11-20/${objectName(coordinates)}`,
    ),
    { layout: "symbol", day: "2026-11-20", ...expected },
  );
  // a folder that disagrees with the name is no landed-event key
  assert.equal(parseObjectKey(key.replace("partition=3", "partition=4")), null);
  assert.equal(parseObjectKey("stock-quotes/dt=2026-12-01/x.ndjson.gz"), null);
});

Deno.test("a warehouse of the versions with RAW's primary key moves to offset ranges on open, once, and still skips what it holds", async () => {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  try {
    const first = await land(lake, 0, [0, 1, 2, 3]);
    // RAW as those versions made it, holding offsets 0..3 of partition 0.
    const instance = await DuckDBInstance.create(db);
    const connection = await instance.connect();
    await connection.run(`
      create schema raw;
      create table raw.source_stock_quotes (
        v json not null, stream_id varchar not null, stream_topic varchar not null,
        stream_partition integer not null, stream_offset bigint not null,
        stream_timestamp timestamptz not null, file_name varchar not null,
        loaded_at timestamptz not null,
        primary key (stream_id, stream_topic, stream_partition, stream_offset)
      );
      create table raw.load_ledger (
        file_name varchar primary key, file_size bigint not null, rows_in_file integer not null,
        rows_inserted integer not null, rows_duplicate integer not null,
        rows_rejected integer not null, loaded_at timestamptz not null
      );`);
    for (const offset of [0, 1, 2, 3]) {
      await connection.run(
        `insert into raw.source_stock_quotes values ($1::json, $2, 'stock-quotes', 0, $3, now(), $4, now())`,
        [JSON.stringify(landed(0, offset)), STREAM, offset, first],
      );
    }
    await connection.run(
      `insert into raw.load_ledger values ($1, 1, 4, 4, 0, 0, now())`,
      [first],
    );
    connection.closeSync();
    instance.closeSync();

    // After a crash, 2..6 landed again: only 4..6 are new.
    await land(lake, 0, [2, 3, 4, 5, 6]);
    const totals = await loadOnce(lake, db);
    assert.deepEqual(
      [totals.files, totals.inserted, totals.duplicates],
      [1, 3, 2],
    );
    assert.deepEqual(
      await query(
        db,
        `select (select count(*)::integer from duckdb_constraints()
                 where table_name = 'source_stock_quotes' and constraint_type = 'PRIMARY KEY'),
                count(*)::integer, count(distinct stream_offset)::integer
         from raw.source_stock_quotes`,
      ),
      [[0, 7, 7]],
    );
    assert.deepEqual(
      await query(
        db,
        "select first_offset::integer, last_offset::integer from raw.loaded_ranges order by 1",
      ),
      [[0, 3], [4, 6]],
    );
  } finally {
    restore();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an object whose lines disagree with its name is checked line by line and loads what it holds", async () => {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  const level = Deno.env.get("LOG_LEVEL");
  Deno.env.set("LOG_LEVEL", "debug");
  const dir = await Deno.makeTempDir();
  const lake = new LocalLake(`${dir}/lake`);
  const db = `${dir}/warehouse.duckdb`;
  try {
    // Named 0..9 of partition 1, holding 0..3 of partition 1 and 4 of partition 2.
    const key = eventKey("2026-11-20", {
      streamId: STREAM,
      topic: "stock-quotes",
      partition: 1,
      firstOffset: 0,
      lastOffset: 9,
    });
    await lake.put(
      key,
      await encodeLines([
        ...[0, 1, 2, 3].map((o) => JSON.stringify(landed(1, o))),
        JSON.stringify(landed(2, 4)),
      ]),
    );
    const totals = await loadOnce(lake, db);
    assert.deepEqual([totals.inserted, totals.rejected], [5, 0]);
    assert.ok(
      lines.some((l) =>
        /msg=staged native_objects=0 checked_objects=1/.test(l)
      ),
    );
  } finally {
    if (level === undefined) Deno.env.delete("LOG_LEVEL");
    else Deno.env.set("LOG_LEVEL", level);
    restore();
    await Deno.remove(dir, { recursive: true });
  }
});
