/**
 * `deno task bench:dbt`: the cost of one incremental dbt run against the
 * length of the history it runs on (see `bench/README.md`).
 *
 * For each history size (100k and 10M RAW rows by default) the benchmark
 * builds a scratch DuckDB warehouse under `bench/scratch/`, fills RAW in SQL
 * inside DuckDB (25 symbols polled every 15 s, with refetches and invalid
 * rows), runs a full `dbt build` (timed for information only), then rounds
 * of: append 10k RAW rows (new quotes plus late ones) and time one
 * incremental `dbt run` of silver and gold. The first round is a warm-up and
 * not counted. It reports the median seconds per size, the ratio
 * largest/smallest size, and checks that the incremental silver and gold
 * equal a `--full-refresh` of the same data. Results go to
 * `bench/results/dbt_incremental.{md,json}`.
 *
 * ```sh
 * deno task bench:dbt                                  # 100k vs 10M
 * deno task bench:dbt --sizes 2000,50000 --rounds 2    # a quick try
 * ```
 *
 * Options: `--sizes a,b` history sizes in RAW rows (the first is the
 * baseline, the last the one compared with it); `--rounds n` measured
 * incremental runs per size (default 5) after `--warmup n` unmeasured ones
 * (default 1); `--no-check` skips the full-refresh comparison; `--keep`
 * keeps the scratch warehouses; `--reuse` reuses kept warehouses (no new
 * history, no full build) to iterate on the models; `--out dir` where to
 * write the results (default `bench/results`, written only for a fresh run
 * of the default sizes unless `--out` is given).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  DBT_PROJECT_DIR,
  FREQUENT_BUILD,
  FREQUENT_TEST_WINDOW_MINUTES,
  runDbt,
} from "../lib/transform/dbt.ts";
import { DuckDBWarehouse } from "../lib/warehouse/duckdb/warehouse.ts";
import { machine, machineSection, round, writeResults } from "./report.ts";
import { WATCHLIST } from "./watchlist.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SCRATCH_DIR = join(BENCH_DIR, "scratch");
const DEFAULT_SIZES = [100_000, 10_000_000];

/** Shape of a synthetic feed. */
interface Feed {
  /** Symbols quoted, one quote each per round. */
  symbols: readonly string[];
  /** Seconds between two quotes of a symbol (market time). */
  stepSeconds: number;
  /** Market time (epoch seconds) of the last round of the history. */
  historyEnd: number;
  /** When set, the history starts here (market open) whatever its size, instead of ending at historyEnd. */
  historyStart?: number;
  /** RAW rows per landed file (one loaded_at per file). */
  rowsPerFile: number;
  /** Rows of one appended batch. */
  batchRows: number;
  /** Of which late: quotes older than the last round. */
  lateRows: number;
  /** How far back a late quote can be, in seconds. */
  lateHorizonSeconds: number;
  /** How much earlier than the previous load a late-committed load is stamped (inside silver's lookback). */
  lateCommitSeconds: number;
}

/** The default feed: 25 symbols every 15 s, history sizes up to 70 days. */
const HISTORY_FEED: Feed = {
  /** Symbols quoted, one quote each per round. */
  symbols: WATCHLIST,
  /** Seconds between two quotes of a symbol (market time). */
  stepSeconds: 15,
  /** Market time (epoch seconds) of the last round of the history. */
  historyEnd: 1_763_740_800, // 2025-11-21T16:00:00Z
  /** RAW rows per landed file (one loaded_at per file). */
  rowsPerFile: 10_000,
  /** Rows of one appended batch. */
  batchRows: 10_000,
  /** Of which late: quotes older than the last round. */
  lateRows: 50,
  /** How far back a late quote can be, in seconds. */
  lateHorizonSeconds: 26 * 3600,
  /** How much earlier than the previous load a late-committed load is stamped (inside the 15 min lookback). */
  lateCommitSeconds: 10 * 60,
};

/**
 * The trading day (`--day`): 500 symbols quoted once a second from the open
 * (14:30 UTC), loaded every 30 s (15,000 quotes per load), with 150 late
 * rows per load: quotes up to 2 minutes old, a load stamped a minute before
 * the previous one, and newer fetches of recent quotes.
 */
const DAY_FEED: Feed = {
  symbols: [
    ...WATCHLIST,
    ...Array.from(
      { length: 500 - WATCHLIST.length },
      (_, i) => `SYM${String(i + 1).padStart(3, "0")}`,
    ),
  ],
  stepSeconds: 1,
  historyEnd: 0,
  historyStart: 1_763_735_400, // 2025-11-21T14:30:00Z
  rowsPerFile: 15_000,
  batchRows: 15_150,
  lateRows: 150,
  lateHorizonSeconds: 120,
  // off the 30 s grid of the loads' stamps: two loads never share a stamp
  lateCommitSeconds: 67,
};
/** 10 minutes after the open, and 10 minutes before the close (6.5 h = 11.7M rows). */
const DAY_SIZES = [300_000, 11_400_000];

let FEED: Feed = HISTORY_FEED;
let S = 0;
/** Rounds of new quotes in one appended batch. */
let BATCH_ROUNDS = 0;
let FRESH_ROWS = 0;
let LATE_ROWS = 0;

/** Makes `feed` the feed of this run. */
function useFeed(feed: Feed): void {
  FEED = feed;
  S = feed.symbols.length;
  BATCH_ROUNDS = Math.floor((feed.batchRows - feed.lateRows) / S);
  FRESH_ROWS = BATCH_ROUNDS * S;
  LATE_ROWS = feed.batchRows - FRESH_ROWS;
}
useFeed(HISTORY_FEED);

/** Relations compared with a full refresh. */
const CHECKED = [
  "silver.silver_clean_stock_quotes",
  "silver.silver_quarantined_stock_quotes",
  "gold.gold_candles",
  "gold.gold_volatility",
  "gold.gold_latest_kpi",
  "gold.gold_treechart",
];

/** The dbt selection of one incremental run: the silver and gold models. */
const INCREMENTAL_SELECT = ["--select", "path:models/silver path:models/gold"];

/**
 * The dbt command of one measured run: the silver and gold models, or with
 * --day the whole frequent build of a cycle (models and windowed tests).
 */
function measuredCommand(args: Args): string[] {
  return args.day ? [...FREQUENT_BUILD] : ["run", ...INCREMENTAL_SELECT];
}

interface Args {
  sizes: number[];
  rounds: number;
  warmup: number;
  check: boolean;
  keep: boolean;
  reuse: boolean;
  out: string | undefined;
  /** The trading-day scenario (--day): DAY_FEED, DAY_SIZES, the frequent build. */
  day: boolean;
}

/** The entry of ModelTiming that sums the data tests' seconds. */
const DATA_TESTS = "(data tests, summed)";

/** Seconds per model of one dbt command (dbt's run_results.json). */
type ModelTiming = Record<string, number>;

interface SizeResult {
  rawRows: number;
  rawRowsAfter: number;
  silverRows: number;
  candleRows: number;
  /** Whether the warehouse was reused (--reuse): no generation or full build. */
  reused: boolean;
  generateSeconds: number;
  fullBuildSeconds: number;
  incrementalSeconds: number[];
  medianSeconds: number;
  /** Median execution seconds per model. */
  modelMedianSeconds: ModelTiming;
  /** "equal", "skipped" or what differs. */
  fullRefreshCheck: string;
}

function parse(): Args {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sizes: { type: "string" },
      rounds: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      "no-check": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      reuse: { type: "boolean", default: false },
      out: { type: "string" },
      day: { type: "boolean", default: false },
    },
  });
  if (values.day) useFeed(DAY_FEED);
  const sizes = values.sizes
    ? values.sizes.split(",").map((s) => Number(s.replace(/_/g, "")))
    : values.day
    ? DAY_SIZES
    : DEFAULT_SIZES;
  if (sizes.length < 2 || sizes.some((n) => !Number.isInteger(n) || n < S)) {
    throw new Error(
      `--sizes needs two or more whole numbers of at least ${S}, e.g. 100000,10000000`,
    );
  }
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error("--rounds must be a positive whole number");
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error("--warmup must be a whole number");
  }
  return {
    sizes,
    rounds,
    warmup,
    check: !values["no-check"],
    keep: values.keep || values.reuse,
    reuse: values.reuse,
    out: values.out,
    day: values.day,
  };
}

function progress(message: string): void {
  console.log(
    `[bench:dbt ${new Date().toISOString().slice(11, 19)}] ${message}`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The RAW rows of a generated source relation as an insert. `source` yields
 * sym (symbol index), t (quote epoch seconds), fetched_ms, salt (0 for the
 * quote as first published, else a revised price), part, off, file_name,
 * loaded_s and invalid (a row the quarantine must take).
 */
function insertQuotes(source: string): string {
  const symbols = `[${FEED.symbols.map((s) => `'${s}'`).join(", ")}]`;
  return `
insert into raw.source_stock_quotes
with generated as (${source}),
source as (
  select
    cast(sym as integer) as sym,
    cast(t as bigint) as t,
    cast(fetched_ms as bigint) as fetched_ms,
    cast(salt as integer) as salt,
    cast(part as integer) as part,
    cast(off as bigint) as off,
    file_name,
    cast(loaded_s as bigint) as loaded_s,
    invalid
  from generated
),
priced as (
  select
    source.*,
    ${symbols}[sym + 1] as symbol,
    40 + (sym * 37) % 400 as base,
    t // 86400 as day,
    -- a smooth walk plus per-quote noise: a function of the key (and salt)
    (hash(sym, t, salt) % 10000) / 10000.0 as noise
  from source
),
quoted as (
  select
    priced.*,
    round(base * exp(0.03 * sin(t / 10500.0 + sym) + 0.01 * sin(t / 800.0 + 2 * sym)
      + 0.002 * (noise - 0.5)), 2) as c,
    round(base * exp(0.03 * sin(day + sym)), 2) as o,
    round(base * exp(0.03 * sin(day - 1 + sym)), 2) as pc
  from priced
)
select
  json_object(
    'symbol', symbol,
    'c', case when invalid then 0 else c end,
    'd', round(c - pc, 2),
    'dp', round(100 * (c - pc) / pc, 4),
    'h', round(greatest(c, o) * 1.004, 2),
    'l', round(least(c, o) * 0.996, 2),
    'o', o,
    'pc', pc,
    't', t,
    'fetched_at', fetched_ms,
    'source', 'simulated',
    '_stream', json_object(
      'id', 'embedded:bench', 'topic', 'stock-quotes', 'partition', part,
      'offset', off, 'timestamp', fetched_ms + 5
    )
  ),
  'embedded:bench',
  'stock-quotes',
  part,
  off,
  make_timestamptz((fetched_ms + 5) * 1000),
  file_name,
  make_timestamptz(loaded_s * 1000000)
from quoted`;
}

/** Rounds (quotes per symbol) of a history of `rows` RAW rows. */
function historyRounds(rows: number): number {
  return Math.ceil(rows / S);
}

/** Market time of round `seq` of a history of `rounds` rounds. */
function roundTime(rounds: number, seq: number): number {
  if (FEED.historyStart !== undefined) {
    return FEED.historyStart + seq * FEED.stepSeconds;
  }
  return FEED.historyEnd - (rounds - 1 - seq) * FEED.stepSeconds;
}

/** The history: `rows` RAW rows, one file per 10k, ~0.1 % refetches and ~0.02 % invalid. */
function historySql(rows: number): string {
  const rounds = historyRounds(rows);
  const t0 = roundTime(rounds, 0);
  const step = FEED.stepSeconds;
  const perFile = FEED.rowsPerFile;
  return insertQuotes(`
    select
      i % ${S} as sym,
      -- one poll in a thousand sees the previous quote again (same t, newer fetch)
      ${t0} + (i // ${S} - case when hash(i) % 1000 = 1 and i >= ${S} then 1 else 0 end) * ${step} as t,
      (${t0} + (i // ${S}) * ${step}) * 1000 + 100 + hash(i, 'f') % 800 as fetched_ms,
      0 as salt,
      (i % ${S}) % 3 as part,
      i as off,
      'stock-quotes/history-' || lpad(cast(i // ${perFile} as varchar), 6, '0') || '.jsonl' as file_name,
      ${t0} + (least((i // ${perFile} + 1) * ${perFile}, ${rows}) - 1) // ${S} * ${step} + 30 as loaded_s,
      hash(i, 'x') % 5000 = 2 as invalid
    from range(${rows}) as r(i)`);
}

/**
 * Appended batch `batch` (1-based) after a history of `rows`: the next
 * rounds of every symbol, then late rows from the feed's late horizon:
 * quotes that land now (new keys between two polls; with one poll a
 * second, where every second has its quote, a late copy of an older fetch,
 * which loses), newer fetches stamped as a load that committed before the
 * previous one (inside the lookback), and revised prices of existing quotes
 * (newer fetch of the same key).
 */
function batchSql(rows: number, batch: number): string {
  const rounds = historyRounds(rows);
  const step = FEED.stepSeconds;
  const firstSeq = rounds + (batch - 1) * BATCH_ROUNDS;
  const lastSeq = firstSeq + BATCH_ROUNDS - 1;
  const loaded = roundTime(rounds, lastSeq) + 30;
  const previousLoaded = roundTime(rounds, firstSeq - 1) + 30;
  const now = roundTime(rounds, firstSeq);
  const lateSlots = Math.floor(FEED.lateHorizonSeconds / step);
  const offsetBase = 1_000_000_000 * batch;
  const file = `'stock-quotes/batch-${String(batch).padStart(4, "0")}.jsonl'`;
  const third = Math.floor(LATE_ROWS / 3);
  return insertQuotes(`
    select
      j % ${S} as sym,
      ${roundTime(rounds, 0)} + (${firstSeq} + j // ${S}) * ${step} as t,
      (${
    roundTime(rounds, 0)
  } + (${firstSeq} + j // ${S}) * ${step}) * 1000 + 100 + hash(j, ${batch}) % 800 as fetched_ms,
      0 as salt,
      (j % ${S}) % 3 as part,
      ${offsetBase} + j as off,
      ${file} as file_name,
      ${loaded} as loaded_s,
      false as invalid
    from range(${FRESH_ROWS}) as r(j)
    union all
    select
      sym,
      ${
    step > 1
      ? `-- revised quotes hit an existing key; the others fall between two polls
      base_t + case when kind = 'revised' then 0 else 1 + (${batch} + j) % (${step} - 1) end as t,
      case when kind = 'revised' then ${
        now * 1000 + 500
      } else (base_t + ${step} - 1) * 1000 end as fetched_ms,
      case when kind = 'revised' then ${batch} else 0 end as salt,`
      : `-- every second has its quote: all hit an existing key
      base_t as t,
      case kind when 'revised' then ${now * 1000 + 500}
        when 'late_commit' then ${now * 1000 + 400}
        else base_t * 1000 + 50 end as fetched_ms,
      case kind when 'revised' then ${batch}
        when 'late_commit' then ${batch + 100000} else 0 end as salt,`
  }
      sym % 3 as part,
      ${offsetBase} + ${FRESH_ROWS} + j as off,
      ${file} as file_name,
      case when kind = 'late_commit' then ${
    previousLoaded - FEED.lateCommitSeconds
  } else ${loaded} end as loaded_s,
      false as invalid
    from (
      select
        j,
        (j * 7 + ${batch}) % ${S} as sym,
        ${now} - (1 + hash(j, ${batch}, 'late') % ${lateSlots}) * ${step} as base_t,
        case when j < ${third} then 'late_quote' when j < ${
    2 * third
  } then 'late_commit' else 'revised' end as kind
      from range(${LATE_ROWS}) as r(j)
    ) as late`);
}

async function withDuckDB<T>(
  path: string,
  work: (sql: (text: string) => Promise<unknown[][]>) => Promise<T>,
): Promise<T> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    return await work(async (text) =>
      (await connection.runAndReadAll(text)).getRows()
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function scalar(path: string, text: string): Promise<number> {
  return await withDuckDB(path, async (sql) => Number((await sql(text))[0][0]));
}

async function removeIfExists(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

async function dbt(
  args: string[],
  db: string,
  targetPath: string,
): Promise<{ seconds: number; models: ModelTiming }> {
  const started = performance.now();
  const result = await runDbt([
    ...args,
    "--target-path",
    targetPath,
    "--log-path",
    join(targetPath, "logs"),
  ], {
    duckdbPath: db,
  });
  const seconds = (performance.now() - started) / 1000;
  if (!result.success) {
    console.error(result.output);
    throw new Error(`dbt ${args.join(" ")} failed on ${db}`);
  }
  const runResults = JSON.parse(
    await Deno.readTextFile(join(targetPath, "run_results.json")),
  ) as {
    results: { unique_id: string; execution_time: number }[];
  };
  const models: ModelTiming = {};
  for (const r of runResults.results) {
    if (r.unique_id.startsWith("model.")) {
      models[r.unique_id.split(".").pop()!] = r.execution_time;
    } else if (r.unique_id.startsWith("test.")) {
      models[DATA_TESTS] = (models[DATA_TESTS] ?? 0) + r.execution_time;
    }
  }
  return { seconds, models };
}

/** Rows of `table` in one relation but not in the other, both ways (a multiset difference). */
function differenceSql(a: string, b: string): string {
  return `select (select count(*) from (select * from ${a} except all select * from ${b}))
    + (select count(*) from (select * from ${b} except all select * from ${a}))`;
}

async function fullRefreshCheck(
  db: string,
  targetPath: string,
): Promise<string> {
  // transformed_at records when a run wrote a row: a rebuild writes every
  // row again, so it is the one column that differs by design.
  const compared = (relation: string) =>
    `(select * exclude (transformed_at) from ${relation})`;
  await withDuckDB(db, async (sql) => {
    await sql("create schema if not exists bench_incremental");
    for (const relation of CHECKED) {
      const name = relation.replace(".", "__");
      const [[hasStamp]] = await sql(
        `select count(*) from information_schema.columns
         where table_schema || '.' || table_name = '${relation}' and column_name = 'transformed_at'`,
      );
      await sql(
        `create or replace table bench_incremental.${name} as select * from ${
          Number(hasStamp) > 0 ? compared(relation) : relation
        }`,
      );
    }
  });
  await dbt(["run", "--full-refresh", ...INCREMENTAL_SELECT], db, targetPath);
  const differences: string[] = [];
  await withDuckDB(db, async (sql) => {
    for (const relation of CHECKED) {
      const copy = `bench_incremental.${relation.replace(".", "__")}`;
      const [[hasStamp]] = await sql(
        `select count(*) from information_schema.columns
         where table_schema || '.' || table_name = '${relation}' and column_name = 'transformed_at'`,
      );
      const current = Number(hasStamp) > 0 ? compared(relation) : relation;
      const rows = Number((await sql(differenceSql(copy, current)))[0][0]);
      if (rows > 0) differences.push(`${relation}: ${rows} rows differ`);
    }
    await sql("drop schema bench_incremental cascade");
  });
  return differences.length ? differences.join("; ") : "equal";
}

/** One scratch warehouse and its measurements so far. */
interface Bench {
  rows: number;
  label: string;
  db: string;
  targetPath: string;
  reused: boolean;
  nextBatch: number;
  generateSeconds: number;
  fullBuildSeconds: number;
  incrementalSeconds: number[];
  modelRuns: ModelTiming[];
}

/** Builds (or, with --reuse, reopens) the scratch warehouse of one size. */
async function setUp(rows: number, args: Args): Promise<Bench> {
  const label = rows.toLocaleString("en-US");
  const bench: Bench = {
    rows,
    label,
    db: join(SCRATCH_DIR, `warehouse_${rows}.duckdb`),
    targetPath: join(SCRATCH_DIR, `target_${rows}`),
    reused: false,
    nextBatch: 1,
    generateSeconds: 0,
    fullBuildSeconds: 0,
    incrementalSeconds: [],
    modelRuns: [],
  };
  const { db, targetPath } = bench;
  if (args.reuse && await Deno.stat(db).then(() => true, () => false)) {
    bench.reused = true;
    bench.nextBatch = 1 + await scalar(
      db,
      "select count(distinct file_name) from raw.source_stock_quotes where file_name like 'stock-quotes/batch-%'",
    );
    progress(`${label}: reusing ${db} (next batch ${bench.nextBatch})`);
    return bench;
  }
  await removeIfExists(db);
  await removeIfExists(`${db}.wal`);
  await removeIfExists(targetPath);

  // RAW exactly as the loader creates it (primary key included).
  await (await DuckDBWarehouse.open(db)).close();
  progress(`${label}: generating the RAW history`);
  let started = performance.now();
  await withDuckDB(db, (sql) => sql(historySql(rows)));
  bench.generateSeconds = (performance.now() - started) / 1000;
  // The reconciliation test re-derives silver from all of RAW: not needed to
  // set the warehouse up (the full-refresh check at the end covers silver).
  progress(
    `${label}: generated in ${
      round(bench.generateSeconds, 1)
    } s; full dbt build (--exclude tag:reconciliation)`,
  );
  started = performance.now();
  await dbt(["build", "--exclude", "tag:reconciliation"], db, targetPath);
  bench.fullBuildSeconds = (performance.now() - started) / 1000;
  progress(`${label}: full build in ${round(bench.fullBuildSeconds, 1)} s`);
  if (args.day) {
    // Hours into a day, the rows the frequent build's data tests read (its
    // window of recently transformed rows) are those of the last cycles,
    // not the whole table: date the full build's rows an hour back.
    await withDuckDB(db, async (sql) => {
      for (
        const table of [
          "silver.silver_clean_stock_quotes",
          "gold.gold_candles",
          "gold.gold_volatility",
        ]
      ) {
        await sql(
          `update ${table} set transformed_at = transformed_at - interval 1 hour`,
        );
      }
    });
  }
  return bench;
}

/** Appends a fresh batch and times one incremental run; `round_` < 1 is a warm-up. */
async function measure(
  bench: Bench,
  round_: number,
  args: Args,
): Promise<void> {
  const { rounds } = args;
  await withDuckDB(
    bench.db,
    (sql) => sql(batchSql(bench.rows, bench.nextBatch++)),
  );
  const { seconds, models } = await dbt(
    measuredCommand(args),
    bench.db,
    bench.targetPath,
  );
  const name = round_ < 1 ? "warm-up run" : `run ${round_}/${rounds}`;
  progress(
    `${bench.label}: incremental ${name}: ${round(seconds)} s (${
      Object.entries(models).map(([m, s]) => `${m} ${round(s)}`).join(", ")
    })`,
  );
  if (round_ < 1) return;
  bench.incrementalSeconds.push(seconds);
  bench.modelRuns.push(models);
}

/** Counts, the full-refresh check and clean-up of one size. */
async function finish(bench: Bench, args: Args): Promise<SizeResult> {
  const { db, targetPath, label } = bench;
  const modelMedianSeconds: ModelTiming = {};
  for (const model of Object.keys(bench.modelRuns[0]).sort()) {
    modelMedianSeconds[model] = round(
      median(bench.modelRuns.map((m) => m[model] ?? 0)),
      3,
    );
  }
  const count = (relation: string) =>
    scalar(db, `select count(*) from ${relation}`);
  const rawRowsAfter = await count("raw.source_stock_quotes");
  const silverRows = await count("silver.silver_clean_stock_quotes");
  const candleRows = await count("gold.gold_candles");

  let fullRefresh = "skipped";
  if (args.check) {
    progress(`${label}: comparing silver and gold with a full refresh`);
    fullRefresh = await fullRefreshCheck(db, targetPath);
    progress(`${label}: full refresh: ${fullRefresh}`);
  }
  if (!args.keep) {
    await removeIfExists(db);
    await removeIfExists(`${db}.wal`);
    await removeIfExists(targetPath);
  }
  return {
    rawRows: bench.rows,
    rawRowsAfter,
    silverRows,
    candleRows,
    reused: bench.reused,
    generateSeconds: round(bench.generateSeconds, 1),
    fullBuildSeconds: round(bench.fullBuildSeconds, 1),
    incrementalSeconds: bench.incrementalSeconds.map((s) => round(s)),
    medianSeconds: round(median(bench.incrementalSeconds)),
    modelMedianSeconds,
    fullRefreshCheck: fullRefresh,
  };
}

function markdown(
  results: SizeResult[],
  ratio: number,
  args: Args,
  host: Record<string, string>,
  date: string,
): string {
  const { warmup } = args;
  const n = (value: number) => value.toLocaleString("en-US");
  const base = results[0];
  const top = results[results.length - 1];
  const models = Object.keys(top.modelMedianSeconds);
  const growth = models
    .map((m) => ({
      model: m,
      seconds: round(
        top.modelMedianSeconds[m] - (base.modelMedianSeconds[m] ?? 0),
        3,
      ),
    }))
    .sort((a, b) => b.seconds - a.seconds);
  const scenario = args.day
    ? `One cycle's frequent build (\`${
      measuredCommand(args).join(" ")
    }\`: every model, and the data tests on the rows transformed in the last ${FREQUENT_TEST_WINDOW_MINUTES} minutes) after appending one 30 s load of a trading day: ${
      n(FRESH_ROWS)
    } new quotes (${S} symbols, one quote a second each) and ${LATE_ROWS} late rows (late copies of older fetches up to 2 min old, newer fetches from a load stamped ${FEED.lateCommitSeconds} s before the previous one, inside silver's lookback, and revised prices of recent quotes). The start of the day is 10 minutes after the open (${
      n(base.rawRows)
    } rows), the end 10 minutes before the close (${
      n(top.rawRows)
    } rows; the whole 6.5 h day is 11.7M). Median of ${base.incrementalSeconds.length} rounds, each on a fresh load, after ${warmup} unmeasured warm-up round(s); rounds alternate between the two warehouses. Each warehouse is first built in full, its rows then dated an hour back, as they would be hours into the day.`
    : `One incremental \`dbt run --select ${
      INCREMENTAL_SELECT[1]
    }\` after appending ${n(FEED.batchRows)} RAW rows: ${
      n(FRESH_ROWS)
    } new quotes and ${LATE_ROWS} late ones (quotes up to 26 h old landing now, the same stamped as a load that committed 30 min before the previous one, inside the lookback, and newer fetches of existing quotes). Median of ${base.incrementalSeconds.length} rounds, each on a fresh batch, after ${warmup} unmeasured warm-up round(s). The feed: ${S} symbols, one quote per symbol every ${FEED.stepSeconds} s, ${
      n(FEED.rowsPerFile)
    } rows per landed file, ~0.1 % refetches and ~0.02 % invalid rows.`;
  const lines = [
    args.day ? "# dbt per cycle over a trading day" : "# dbt incremental cost",
    "",
    `Run ${date} by \`deno task bench:dbt${
      args.day ? " --day" : ""
    }\` (see \`bench/README.md\`).`,
    "",
    scenario,
    "",
    args.day
      ? `**Ratio end / start of the day: ${ratio}** (target ≤ 1.5).`
      : `**Ratio ${n(top.rawRows)} / ${
        n(base.rawRows)
      } rows of history: ${ratio}** (target ≤ 1.5).`,
    "",
    "| history (RAW rows) | silver rows | gold_candles rows | full build (s) | incremental runs (s) | median (s) | incremental = full refresh |",
    "| ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ...results.map((r) =>
      `| ${n(r.rawRows)} | ${n(r.silverRows)} | ${n(r.candleRows)} | ${
        r.reused ? "(reused)" : r.fullBuildSeconds
      } | ${
        r.incrementalSeconds.join(", ")
      } | ${r.medianSeconds} | ${r.fullRefreshCheck} |`
    ),
    "",
    "Median seconds per model (dbt's `run_results.json`: the model's own queries plus dbt's per-model work; the rest of a run is dbt's start-up, parsing and connection):",
    "",
    `| model | ${results.map((r) => n(r.rawRows)).join(" | ")} | growth (s) |`,
    `| --- | ${results.map(() => "---:").join(" | ")} | ---: |`,
    ...growth.map(({ model, seconds }) =>
      `| ${model} | ${
        results.map((r) => r.modelMedianSeconds[model] ?? "").join(" | ")
      } | ${seconds} |`
    ),
    "",
    ...machineSection(host),
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const args = parse();
  const loadAtStart = Deno.loadavg();
  await Deno.mkdir(SCRATCH_DIR, { recursive: true });
  progress(
    `sizes ${
      args.sizes.join(", ")
    }; ${args.warmup} warm-up and ${args.rounds} measured rounds of ${FEED.batchRows} appended rows; dbt project ${DBT_PROJECT_DIR}`,
  );
  const benches: Bench[] = [];
  for (const rows of args.sizes) benches.push(await setUp(rows, args));
  // Rounds alternate between the sizes, so that a slow spell of the machine
  // (other work on it) weighs on every size alike.
  for (let round_ = 1 - args.warmup; round_ <= args.rounds; round_++) {
    for (const bench of benches) await measure(bench, round_, args);
  }
  const results: SizeResult[] = [];
  for (const bench of benches) results.push(await finish(bench, args));
  const ratio = round(
    results[results.length - 1].medianSeconds / results[0].medianSeconds,
  );
  const host = await machine(loadAtStart);
  const date = new Date().toISOString();
  for (const r of results) {
    progress(
      `${
        r.rawRows.toLocaleString("en-US")
      } rows: median ${r.medianSeconds} s (${
        r.incrementalSeconds.join(", ")
      }); full refresh ${r.fullRefreshCheck}`,
    );
  }
  progress(`ratio ${ratio} (target ≤ 1.5)`);

  const official =
    args.sizes.join() === (args.day ? DAY_SIZES : DEFAULT_SIZES).join() &&
    !results.some((r) => r.reused);
  const outDir = args.out ??
    (official ? join(BENCH_DIR, "results") : undefined);
  const name = args.day ? "dbt_incremental_day" : "dbt_incremental";
  if (outDir) {
    await writeResults(
      outDir,
      name,
      markdown(results, ratio, args, host, date),
      {
        benchmark: name,
        date,
        ratio,
        target_ratio: 1.5,
        feed: {
          symbols: S,
          step_seconds: FEED.stepSeconds,
          rows_per_file: FEED.rowsPerFile,
          batch_rows: FEED.batchRows,
          fresh_rows_per_batch: FRESH_ROWS,
          late_rows_per_batch: LATE_ROWS,
        },
        command: measuredCommand(args).join(" "),
        warmup_rounds: args.warmup,
        results,
        machine: host,
      },
    );
    progress(`wrote ${join(outDir, `${name}.{md,json}`)}`);
  } else {
    progress(
      "results not written (not a fresh run of the default sizes; --out writes them)",
    );
  }
  const failed = results.filter((r) =>
    r.fullRefreshCheck !== "equal" && r.fullRefreshCheck !== "skipped"
  );
  if (failed.length) {
    throw new Error(
      `incremental and full refresh differ: ${
        failed.map((r) => `${r.rawRows}: ${r.fullRefreshCheck}`).join("; ")
      }`,
    );
  }
}

await main();
