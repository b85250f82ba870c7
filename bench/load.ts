/**
 * `deno task bench:load`: the loader at scale, on the embedded defaults
 * (local lake, DuckDB), against DuckDB's own reading of the same objects
 * (see `bench/README.md`).
 *
 * 1. A lake of `--events` quotes (1,000,000 by default) of 500 symbols in 3
 *    partitions, `--per-object` events an object (200), each line as the
 *    landing writer writes it, is loaded by `loader.ts` into a new DuckDB
 *    file: the whole process is timed and its peak resident memory sampled.
 * 2. DuckDB's own rate: `create table … as select * from
 *    read_ndjson_objects(…)` over the same objects into another new file.
 * 3. A load that finds nothing new, on that lake, and on lakes of
 *    `--empty-sizes` objects (1,000 and 1,000,000) whose ledger already
 *    holds every object: `loader.ts` as a process, and the load alone
 *    (open, discover, close) in this process.
 *
 * ```sh
 * deno task bench:load                                    # ~6 min on 2 cores
 * deno task bench:load --events 200000 --empty-sizes 1000 # a quick try; results not written
 * ```
 *
 * Results go to `bench/results/load.{md,json}` for a run of the default
 * sizes, or wherever `--out` says.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import { formatLandedLine } from "../lib/contract/landed_line.ts";
import { eventKey } from "../lib/lake/keys.ts";
import { LocalLake } from "../lib/lake/local.ts";
import { encodeLines } from "../lib/lake/ndjson.ts";
import { loadNewObjects } from "../lib/load/loader.ts";
import { setLogSink } from "../lib/runtime/log.ts";
import { DuckDBWarehouse } from "../lib/warehouse/duckdb/warehouse.ts";
import { runEntryPoint } from "./process.ts";
import { machine, machineSection, round, writeResults } from "./report.ts";
import { market } from "./watchlist.ts";

const SYMBOLS = market(500);

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SCRATCH = join(BENCH_DIR, "scratch", "load");
const TOPIC = "stock-quotes";
const STREAM_ID = "embedded:bench-load";
const PARTITIONS = 3;
const DAY = new Date().toISOString().slice(0, 10);

/** Targets of issue 15 on this 2-core machine. */
const TARGETS = {
  loadPerSecond: 500_000,
  loadVsDuckDB: 0.5,
  emptyLoadSeconds: 1,
  loaderPeakRssMiB: 512,
};

interface Args {
  events: number;
  perObject: number;
  emptySizes: number[];
  out: string | undefined;
}

function parse(): Args {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      events: { type: "string", default: "1000000" },
      "per-object": { type: "string", default: "200" },
      "empty-sizes": { type: "string", default: "1000,1000000" },
      out: { type: "string" },
    },
  });
  const count = (name: string, text: string) => {
    const n = Number(text.replace(/_/g, ""));
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `--${name} must be a whole number of at least 1: current value is ${text}`,
      );
    }
    return n;
  };
  return {
    events: count("events", values.events),
    perObject: count("per-object", values["per-object"]),
    emptySizes: values["empty-sizes"].split(",").map((s) =>
      count("empty-sizes", s.trim())
    ),
    out: values.out,
  };
}

function progress(message: string): void {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Writes `events` quotes as the landing writer would, `perObject` an object. */
async function writeLake(dir: string, events: number, perObject: number) {
  const now = Date.now();
  const next = new Array<number>(PARTITIONS).fill(0);
  let written = 0;
  let objects = 0;
  while (written < events) {
    const partition = objects % PARTITIONS;
    const size = Math.min(perObject, events - written);
    const first = next[partition];
    const lines: string[] = [];
    for (let i = 0; i < size; i++) {
      const n = written + i;
      const fetched = now - 3_600_000 + Math.floor(n / 2);
      const price = 100 + (n % 997) / 10;
      lines.push(formatLandedLine({
        symbol: SYMBOLS[n % SYMBOLS.length],
        c: price,
        d: 0.5,
        dp: 0.25,
        h: price + 1,
        l: price - 1,
        o: 100,
        pc: 99.5,
        t: Math.floor(fetched / 1000),
        fetched_at: fetched,
        source: "simulated",
      }, {
        id: STREAM_ID,
        topic: TOPIC,
        partition,
        offset: first + i,
        timestamp: fetched + 2,
      }));
    }
    const key = eventKey(DAY, {
      streamId: STREAM_ID,
      topic: TOPIC,
      partition,
      firstOffset: first,
      lastOffset: first + size - 1,
    });
    const path = join(dir, key);
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, await encodeLines(lines));
    next[partition] += size;
    written += size;
    objects++;
  }
  return objects;
}

/**
 * A lake of `size` objects over 100 landing days and 3 partitions, with a
 * warehouse whose ledger, marks and sweep already hold every one (the
 * objects are empty: a load that finds nothing new never reads them).
 */
async function loadedLake(dir: string, size: number) {
  const days = 100;
  const keys: string[] = [];
  const marks = new Map<string, [string, number, string]>();
  const base = Date.UTC(2026, 0, 1);
  for (let i = 0; i < size; i++) {
    const day = new Date(base + (i % days) * 86_400_000).toISOString()
      .slice(0, 10);
    const partition = Math.floor(i / days) % PARTITIONS;
    const offset = Math.floor(i / (days * PARTITIONS)) * 10;
    const key = eventKey(day, {
      streamId: STREAM_ID,
      topic: TOPIC,
      partition,
      firstOffset: offset,
      lastOffset: offset + 9,
    });
    keys.push(key);
    marks.set(`${day}/${partition}`, [day, partition, key]);
  }
  const folders = new Set(keys.map((k) => k.slice(0, k.lastIndexOf("/"))));
  for (const folder of folders) {
    await Deno.mkdir(join(dir, "lake", folder), { recursive: true });
  }
  for (const key of keys) {
    await Deno.writeFile(join(dir, "lake", key), new Uint8Array());
  }
  const db = join(dir, "warehouse.duckdb");
  await (await DuckDBWarehouse.open(db)).close();
  const instance = await DuckDBInstance.create(db);
  const connection = await instance.connect();
  try {
    await connection.run("create temp table keys (file_name varchar)");
    const appender = await connection.createAppender("keys", "main", "temp");
    for (const key of keys) {
      appender.appendVarchar(key);
      appender.endRow();
    }
    appender.flushSync();
    appender.closeSync();
    await connection.run(
      "insert into raw.load_ledger select file_name, 0, 10, 10, 0, 0, now() from keys order by file_name",
    );
    for (const [day, partition, key] of marks.values()) {
      await connection.run(
        "insert into raw.load_marks values ($1, $2::date, $3, $4, $5, now())",
        [TOPIC, day, partition, streamTagOf(key), key],
      );
    }
    await connection.run("insert into raw.load_sweeps values ($1, now())", [
      TOPIC,
    ]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

function streamTagOf(key: string): string {
  return key.split("/").pop()!.split("+")[1];
}

/** The load alone, in this process: open, discover, close. */
async function emptyLoadInProcess(dir: string): Promise<number> {
  const restore = setLogSink({ write() {} });
  try {
    const started = performance.now();
    const warehouse = await DuckDBWarehouse.open(join(dir, "warehouse.duckdb"));
    try {
      const totals = await loadNewObjects({
        lake: new LocalLake(join(dir, "lake")),
        warehouse,
        topic: TOPIC,
      });
      if (totals.files !== 0) {
        throw new Error(
          `a load that should find nothing loaded ${totals.files} objects`,
        );
      }
    } finally {
      await warehouse.close();
    }
    return (performance.now() - started) / 1000;
  } finally {
    restore();
  }
}

function loaderEnv(dir: string): Record<string, string> {
  return {
    LAKE_DIR: join(dir, "lake"),
    DUCKDB_PATH: join(dir, "warehouse.duckdb"),
    KAFKA_TOPIC: TOPIC,
    S3_BUCKET: "",
    WAREHOUSE: "duckdb",
  };
}

async function main(): Promise<void> {
  const args = parse();
  const loadAtStart = Deno.loadavg();
  await Deno.remove(SCRATCH, { recursive: true }).catch(() => {});
  const full = join(SCRATCH, "full");

  progress(
    `writing ${args.events.toLocaleString("en-US")} quotes to a local lake`,
  );
  const objects = await writeLake(
    join(full, "lake"),
    args.events,
    args.perObject,
  );

  progress("loader.ts: loading them into a new DuckDB file");
  const load = await runEntryPoint("loader.ts", [], loaderEnv(full));
  const finished = load.logs.find((r) => r.msg === "load finished");
  if (Number(finished?.inserted) !== args.events) {
    throw new Error(
      `the loader inserted ${finished?.inserted} of ${args.events} quotes`,
    );
  }
  const loadRate = args.events / load.seconds;

  progress("DuckDB's own read_ndjson_objects into a new file");
  const native = join(SCRATCH, "native.duckdb");
  const started = performance.now();
  const instance = await DuckDBInstance.create(native);
  const connection = await instance.connect();
  await connection.run(
    `create table quotes as select * from read_ndjson_objects('${
      join(full, "lake", TOPIC)
    }/**/*.ndjson.gz')`,
  );
  connection.closeSync();
  instance.closeSync();
  const nativeSeconds = (performance.now() - started) / 1000;
  const nativeRate = args.events / nativeSeconds;

  const empty: {
    objects: number;
    processSeconds: number;
    loadSeconds: number;
  }[] = [];
  progress(`a load that finds nothing new: ${objects} objects`);
  empty.push({
    objects,
    processSeconds:
      (await runEntryPoint("loader.ts", [], loaderEnv(full))).seconds,
    loadSeconds: await emptyLoadInProcess(full),
  });
  for (const size of args.emptySizes) {
    const dir = join(SCRATCH, `loaded-${size}`);
    progress(
      `a load that finds nothing new: ${
        size.toLocaleString("en-US")
      } objects, ledger full`,
    );
    await loadedLake(dir, size);
    empty.push({
      objects: size,
      processSeconds:
        (await runEntryPoint("loader.ts", [], loaderEnv(dir))).seconds,
      loadSeconds: await emptyLoadInProcess(dir),
    });
    await Deno.remove(dir, { recursive: true });
  }

  const host = await machine(loadAtStart);
  const json = {
    date: new Date().toISOString(),
    events: args.events,
    objects,
    events_per_object: args.perObject,
    load_seconds: round(load.seconds),
    load_events_per_second: Math.round(loadRate),
    loader_peak_rss_mib: load.peakRssMiB,
    duckdb_read_ndjson_objects_seconds: round(nativeSeconds),
    duckdb_read_ndjson_objects_events_per_second: Math.round(nativeRate),
    load_vs_duckdb: round(loadRate / nativeRate),
    empty_loads: empty.map((e) => ({
      objects: e.objects,
      process_seconds: round(e.processSeconds),
      load_seconds: round(e.loadSeconds, 3),
    })),
    targets: TARGETS,
    machine: host,
  };
  const met = (ok: boolean) => ok ? "yes" : "**no**";
  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  const rows = [
    [
      `load rate, ${n(args.events)} quotes (loader.ts process)`,
      `${n(loadRate)} events/s`,
      `≥ ${n(TARGETS.loadPerSecond)} events/s`,
      met(loadRate >= TARGETS.loadPerSecond),
    ],
    [
      "load rate against DuckDB's read_ndjson_objects",
      `${round(loadRate / nativeRate)}× (${n(nativeRate)} events/s)`,
      `≥ ${TARGETS.loadVsDuckDB}×`,
      met(loadRate / nativeRate >= TARGETS.loadVsDuckDB),
    ],
    [
      "loader peak RSS",
      `${load.peakRssMiB} MiB`,
      `≤ ${TARGETS.loaderPeakRssMiB} MiB`,
      met(load.peakRssMiB <= TARGETS.loaderPeakRssMiB),
    ],
    ...empty.map((e) => [
      `load that finds nothing new, ${n(e.objects)} objects`,
      `${round(e.loadSeconds, 3)} s (process ${round(e.processSeconds)} s)`,
      `< ${TARGETS.emptyLoadSeconds} s`,
      met(e.loadSeconds < TARGETS.emptyLoadSeconds),
    ]),
  ];
  const markdown = [
    "# Load benchmarks",
    "",
    `Run ${json.date} by \`deno task bench:load\` (see \`bench/README.md\`), on the`,
    `embedded defaults: ${
      n(args.events)
    } quotes of ${SYMBOLS.length} symbols in`,
    `${
      n(objects)
    } objects of ${args.perObject} events, ${PARTITIONS} partitions.`,
    "",
    "| measure | result | target | met |",
    "| --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    "The load rate is the whole `deno task load` process (start-up, discovery,",
    "reading, checking, one transaction per 500 objects). DuckDB's own rate is",
    "`create table as select * from read_ndjson_objects(...)` over the same",
    "objects into a new file, in the same run. A load that finds nothing new is",
    "timed alone (open the warehouse, discover, close) and as the whole process;",
    "the lakes of 1,000 and 1,000,000 objects hold empty objects over 100",
    "landing days, every one already in the ledger.",
    "",
    ...machineSection(host),
  ].join("\n");
  const defaults = args.events === 1_000_000 && args.perObject === 200 &&
    args.emptySizes.join(",") === "1000,1000000";
  if (args.out !== undefined || defaults) {
    const [md] = await writeResults(
      args.out ?? join(BENCH_DIR, "results"),
      "load",
      markdown,
      json,
    );
    progress(`wrote ${md}`);
  }
  console.log(markdown);
  await Deno.remove(SCRATCH, { recursive: true }).catch(() => {});
}

await main();
