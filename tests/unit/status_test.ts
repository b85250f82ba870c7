/**
 * The parts of `deno task status` that need no broker: the verdict on a
 * status and its screen (lib/ops/status.ts), dbt's run results
 * (lib/transform/run_results.ts), the lake's landed ends and dead letters
 * (lib/load/discovery.ts, lib/ops/dead_letters.ts), and the DuckDB
 * warehouse's status reads on a real file (lib/warehouse/duckdb/status.ts).
 */
import assert from "node:assert/strict";
import { deadLetterKey, eventKey, streamTag } from "../../lib/lake/keys.ts";
import { LocalLake } from "../../lib/lake/local.ts";
import { encodeLines } from "../../lib/lake/ndjson.ts";
import { landedEnds } from "../../lib/load/discovery.ts";
import { loadNewObjects } from "../../lib/load/loader.ts";
import { countDeadLetters } from "../../lib/ops/dead_letters.ts";
import {
  formatAge,
  formatStatus,
  judgeStatus,
  type PipelineStatus,
} from "../../lib/ops/status.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { dbtRunOf, readLastDbtRun } from "../../lib/transform/run_results.ts";
import { DuckDBStatusReader } from "../../lib/warehouse/duckdb/status.ts";
import { SnowflakeStatusReader } from "../../lib/warehouse/snowflake/status.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";
import { landedEvent } from "../_landed.ts";

const AT = "2026-12-01T12:00:00.000Z";
const STREAM = "embedded:status-test";
const TOPIC = "stock-quotes";

/** A status of quotes 90 messages behind, its layers 10, 20 and 30 s old. */
function laggingStatus(): PipelineStatus {
  const ago = (s: number) => new Date(Date.parse(AT) - s * 1000).toISOString();
  const layer = (s: number | null, measure: string) => ({
    at: s === null ? null : ago(s),
    ageSeconds: s,
    measure,
  });
  return {
    at: AT,
    stream: "kafka://127.0.0.1:9092",
    lake: "s3://lake",
    warehouse: {
      location: "/data/warehouse.duckdb",
      unavailable: null,
      heldBy: null,
      goldSource: "/data/gold_copy.duckdb",
      goldPublishedAt: ago(25),
    },
    kinds: [{
      kind: "quotes",
      topic: "stock-quotes",
      groupId: "stock-quotes-lake",
      streamId: "kafka:abc",
      partitions: [
        {
          partition: 0,
          end: 130,
          committed: 100,
          landed: 100,
          loaded: 70,
          streamLag: 30,
          loadLag: 30,
        },
        {
          partition: 1,
          end: 260,
          committed: 250,
          landed: 252,
          loaded: 230,
          streamLag: 10,
          loadLag: 20,
        },
      ],
      lag: 90,
      freshness: {
        raw: layer(10, "newest loaded_at in raw.loaded_ranges"),
        silver: layer(20, "newest transformed_at in silver"),
        gold: layer(30, "newest transformed_at in gold"),
      },
      newestEventAt: ago(12),
      deadLetters: {
        lake: {
          day: "2026-12-01",
          objects: 1,
          lines: 2,
          byRule: [{
            field: "c",
            rule: "must be a finite number > 0",
            count: 2,
          }],
          truncated: false,
        },
        loader: [],
      },
    }],
    dbt: {
      command: "build",
      startedAt: "2026-12-01T11:59:40.000Z",
      finishedAt: "2026-12-01T11:59:45.000Z",
      elapsedSeconds: 5,
      success: true,
      counts: { success: 12, pass: 30 },
      source: "dbt_stocks/target/run_results.json",
    },
    follow: null,
  };
}

Deno.test("judgeStatus() passes a status within its thresholds", () => {
  const verdict = judgeStatus(laggingStatus(), {
    maxLagMessages: 90,
    maxFreshnessSeconds: 30,
  });
  assert.deepEqual(verdict.breaches, []);
  assert.equal(verdict.ok, true);
});

Deno.test("judgeStatus() names the lag and each layer that passes a threshold", () => {
  const verdict = judgeStatus(laggingStatus(), {
    maxLagMessages: 89,
    maxFreshnessSeconds: 15,
  });
  assert.equal(verdict.ok, false);
  assert.deepEqual(verdict.breaches, [
    "quotes are 90 messages behind (in the stream, not in RAW), more than STATUS_MAX_LAG_MESSAGES=89",
    "quotes silver is 20 s old (newest transformed_at in silver), more than STATUS_MAX_FRESHNESS_SECONDS=15",
    "quotes gold is 30 s old (newest transformed_at in gold), more than STATUS_MAX_FRESHNESS_SECONDS=15",
  ]);
});

Deno.test("judgeStatus() lets what is unknown pass no threshold", () => {
  const status = laggingStatus();
  const quotes = status.kinds[0];
  quotes.freshness.silver = { at: null, ageSeconds: null, measure: "silver" };
  quotes.freshness.gold = { at: null, ageSeconds: null, measure: "gold" };
  const verdict = judgeStatus(status, {
    maxLagMessages: 1_000,
    maxFreshnessSeconds: 15,
  });
  assert.deepEqual(verdict.breaches, []);
});

Deno.test("formatStatus() prints an aligned table per kind and the verdict as the last line", () => {
  const status = laggingStatus();
  const text = formatStatus(
    status,
    judgeStatus(status, { maxLagMessages: 50, maxFreshnessSeconds: 300 }),
  );
  const lines = text.split("\n");
  const table = lines.indexOf(
    "partition  end  committed  landed  loaded  to land  to load  lag",
  );
  assert.ok(table > 0, text);
  assert.deepEqual(lines.slice(table + 1, table + 4), [
    "0          130        100     100      70       30       30   60",
    "1          260        250     252     230       10       20   30",
    "total      390        350                       40       50   90",
  ]);
  assert.ok(lines.includes("RAW           10 s ago"), text);
  assert.ok(
    lines.includes(
      "dbt: last build succeeded 15 s ago, ran 5 s (12 success, 30 pass); from dbt_stocks/target/run_results.json",
    ),
    text,
  );
  assert.ok(
    lines.includes(
      "dead letters, quotes: 2 in the lake on 2026-12-01 (1 object: 2 c: must be a finite number > 0); none refused by the loader",
    ),
    text,
  );
  assert.equal(
    lines.at(-1),
    "THRESHOLD PASSED: quotes are 90 messages behind (in the stream, not in RAW), more than STATUS_MAX_LAG_MESSAGES=50",
  );
});

Deno.test("formatStatus() says when the warehouse is held and its loads unknown", () => {
  const status = laggingStatus();
  status.warehouse.unavailable =
    "the warehouse file is held by PID 42 (/usr/bin/python3: dbt run)";
  for (const p of status.kinds[0].partitions) {
    p.loaded = null;
    p.loadLag = null;
  }
  status.kinds[0].lag = 40;
  const text = formatStatus(
    status,
    judgeStatus(status, { maxLagMessages: 50, maxFreshnessSeconds: 300 }),
  );
  assert.match(
    text,
    /^warehouse not read: the warehouse file is held by PID 42 \(\/usr\/bin\/python3: dbt run\); RAW and silver unknown/m,
  );
  assert.match(text, /^total +390 +350 +40 +- +40$/m);
  assert.match(text.split("\n").at(-1)!, /^OK: every kind within 50 messages/);
});

Deno.test("formatAge() rounds down to seconds, minutes, hours or days", () => {
  assert.deepEqual(
    [0.4, 119, 120, 7_199, 7_200, 172_800].map(formatAge),
    ["0 s", "119 s", "2 min", "119 min", "2 h", "2 d"],
  );
});

Deno.test("dbtRunOf() reads the command, its times and whether a node failed", () => {
  const results = (statuses: string[]) => ({
    metadata: {
      generated_at: "2026-12-01T16:37:00.982912Z",
      invocation_started_at: "2026-12-01T16:36:57.345925Z",
    },
    args: { which: "build" },
    elapsed_time: 3.6371,
    results: statuses.map((status) => ({ status })),
  });
  assert.deepEqual(dbtRunOf(results(["success", "pass", "pass"]), "f.json"), {
    command: "build",
    startedAt: "2026-12-01T16:36:57.345Z",
    finishedAt: "2026-12-01T16:37:00.982Z",
    elapsedSeconds: 3.6,
    success: true,
    counts: { success: 1, pass: 2 },
    source: "f.json",
  });
  assert.equal(dbtRunOf(results(["success", "fail"]), "f").success, false);
  assert.equal(dbtRunOf(results(["error", "skipped"]), "f").success, false);
  assert.throws(() => dbtRunOf({ results: [] }, "f.json"), {
    name: "TypeError",
    message:
      `Cannot read the last dbt run as 'f.json' must hold dbt's run results (metadata.generated_at and results): current value has the keys ["results"]`,
  });
});

Deno.test("readLastDbtRun() is null where dbt has not run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await readLastDbtRun(`${dir}/run_results.json`), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Lands offsets `first..last` of a partition of `stream` as one object. */
async function land(
  lake: LocalLake,
  day: string,
  partition: number,
  first: number,
  last: number,
  stream = STREAM,
) {
  const lines = [];
  for (let offset = first; offset <= last; offset++) {
    lines.push(JSON.stringify(landedEvent({ stream, partition, offset })));
  }
  await lake.put(
    eventKey(day, {
      streamId: stream,
      topic: TOPIC,
      partition,
      firstOffset: first,
      lastOffset: last,
    }),
    await encodeLines(lines),
  );
}

async function withLake(fn: (lake: LocalLake, dir: string) => Promise<void>) {
  const restore = setLogSink({ write() {} });
  const dir = await Deno.makeTempDir();
  try {
    await fn(new LocalLake(`${dir}/lake`), dir);
  } finally {
    restore();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the DuckDB status reader tells what is loaded, and discovery's marks lead to what landed since", async () => {
  await withLake(async (lake, dir) => {
    const db = `${dir}/warehouse.duckdb`;
    const reader = new DuckDBStatusReader({
      path: db,
      goldCopy: `${dir}/gold_copy.duckdb`,
    });
    const request = {
      kind: "quotes" as const,
      topic: TOPIC,
      streamId: STREAM,
      lookbackDays: 2,
    };
    let facts = await reader.read([request]);
    assert.equal(facts.unavailable, "the warehouse file does not exist yet");
    assert.deepEqual(facts.kinds[0].loaded, []);

    for (let i = 0; i < 12; i++) {
      await land(lake, "2026-11-30", 0, i * 10, i * 10 + 9);
    }
    await land(lake, "2026-11-30", 1, 0, 4);
    await land(lake, "2026-11-30", 0, 0, 3, "embedded:another-log");
    const warehouse = await DuckDBWarehouse.open(db);
    try {
      await loadNewObjects({ lake, warehouse, topic: TOPIC });
    } finally {
      await warehouse.close();
    }
    await land(lake, "2026-12-01", 0, 120, 149);

    facts = await reader.read([request]);
    assert.equal(facts.unavailable, null);
    const quotes = facts.kinds[0];
    assert.deepEqual(
      quotes.loaded?.map((p) => [p.partition, p.lastOffset]),
      [[0, 119], [1, 4]],
    );
    assert.ok(quotes.rawEventAt !== null && quotes.rawEventAt > 0);
    assert.deepEqual(quotes.rejected, []);
    assert.equal(quotes.silverAt, null, "dbt has not built silver");
    assert.equal(facts.goldPublishedAt, null, "no gold copy");
    assert.equal(quotes.discovery?.swept, true);
    const landed = await landedEnds(
      lake,
      TOPIC,
      streamTag(STREAM),
      quotes.discovery!,
    );
    assert.deepEqual([...landed].sort(), [[0, 149], [1, 4]]);
  });
});

Deno.test("countDeadLetters() counts the newest day's dead letters by rule, reading at most maxObjects", async () => {
  await withLake(async (lake) => {
    const letter = (field: string, rule: string) =>
      JSON.stringify({ stream: STREAM, topic: TOPIC, reason: { field, rule } });
    const put = async (day: string, offset: number, lines: string[]) =>
      await lake.put(
        deadLetterKey(day, {
          streamId: STREAM,
          topic: TOPIC,
          partition: 0,
          firstOffset: offset,
          lastOffset: offset,
        }),
        await encodeLines(lines),
      );
    assert.equal((await countDeadLetters(lake, TOPIC)).day, null);
    await put("2026-11-30", 1, [letter("c", "old rule")]);
    await put("2026-12-01", 2, [letter("c", "must be > 0"), "not json"]);
    await put("2026-12-01", 3, [letter("c", "must be > 0")]);
    await put("2026-12-01", 4, [letter("symbol", "must match")]);
    assert.deepEqual(await countDeadLetters(lake, TOPIC), {
      day: "2026-12-01",
      objects: 3,
      lines: 4,
      byRule: [
        { field: "c", rule: "must be > 0", count: 2 },
        { field: "event", rule: "unreadable dead letter", count: 1 },
        { field: "symbol", rule: "must match", count: 1 },
      ],
      truncated: false,
    });
    const bounded = await countDeadLetters(lake, TOPIC, { maxObjects: 1 });
    assert.deepEqual([bounded.objects, bounded.lines, bounded.truncated], [
      3,
      2,
      true,
    ]);
  });
});

Deno.test("the Snowflake status reader asks the same facts in Snowflake's SQL, one bind per placeholder", async () => {
  const statements: { sql: string; binds: (string | number)[] }[] = [];
  const answers: [RegExp, Record<string, unknown>[]][] = [
    [/information_schema\.tables/, [
      { NAME: "raw.loaded_ranges" },
      { NAME: "silver.silver_clean_stock_quotes" },
    ]],
    [/RAW\.LOAD_SWEEPS/, [{ SWEPT: 1 }]],
    [/RAW\.LOAD_MARKS/, [{
      LANDING_DAY: "2026-12-01",
      STREAM_PARTITION: 0,
      STREAM_TAG: "0a1b2c3d",
      LAST_KEY: "k",
    }]],
    [/RAW\.LOADED_RANGES/, [
      { P: 0, LAST_OFFSET: 119, LOADED_MS: 1_000 },
      { P: 1, LAST_OFFSET: "4", LOADED_MS: 2_000 },
    ]],
    [/max\(stream_timestamp\)/, [{ T: 1_500 }]],
    [/SILVER\.SILVER_CLEAN_STOCK_QUOTES/, [{ T: 3_000 }]],
    [/RAW\.REJECTED_STOCK_QUOTES/, [{ FIELD: "c", RULE: "must be > 0", N: 2 }]],
  ];
  const session = {
    location: "snowflake://test/STOCKS",
    execute(sql: string, binds: (string | number)[] = []) {
      statements.push({ sql, binds });
      const rows = answers.find(([pattern]) => pattern.test(sql))?.[1] ?? [];
      return Promise.resolve({ rows, queryId: "q" });
    },
    close: () => Promise.resolve(),
  };
  const reader = new SnowflakeStatusReader(session);
  const facts = await reader.read([{
    kind: "quotes",
    topic: TOPIC,
    streamId: STREAM,
    lookbackDays: 2,
  }]);
  assert.deepEqual(facts.kinds[0], {
    kind: "quotes",
    discovery: {
      swept: true,
      marks: [{ day: "2026-12-01", partition: 0, tag: "0a1b2c3d", key: "k" }],
    },
    loaded: [
      { partition: 0, lastOffset: 119, loadedAt: 1_000 },
      { partition: 1, lastOffset: 4, loadedAt: 2_000 },
    ],
    rawEventAt: 1_500,
    silverAt: 3_000,
    goldAt: null,
    rejected: [{ field: "c", rule: "must be > 0", count: 2 }],
  });
  for (const { sql, binds } of statements) {
    assert.equal(sql.split("?").length - 1, binds.length, sql);
  }
  assert.deepEqual(
    statements.find((s) => /max\(stream_timestamp\)/.test(s.sql))?.binds,
    [STREAM, TOPIC, 2_000],
    "the newest load's rows",
  );
});
