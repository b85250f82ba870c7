/**
 * `deno task bench`: the pipeline's throughput, freshness, memory and the
 * cost growth of its dbt models, measured on the real local services
 * (Kafka and MinIO from `deno task services:up`, DuckDB, dbt) side by side
 * with plain baselines (see `bench/README.md`). Writes
 * `bench/results/pipeline.{md,json}`. It measures; it does not pass or fail
 * on a target (it fails only when a step does).
 *
 * ```sh
 * deno task bench                               # everything (~16 min on 2 cores)
 * deno task bench --skip dbt,freshness          # throughput and memory only
 * deno task bench --events 200000 --out /tmp/b  # a quick try elsewhere
 * ```
 *
 * Options: `--events n` quotes for the throughput steps (default 1,000,000);
 * `--baseline-seconds s` how long the one-object-per-event baseline runs
 * (default 20); `--freshness d` how long each continuous demo runs (default
 * 5m; one on the embedded defaults, one on Kafka and MinIO); `--skip a,b` steps to leave out (`throughput`, `dbt`, `freshness`):
 * a skipped dbt step reports `bench/results/dbt_incremental.json` as last
 * written by `deno task bench:dbt`; `--out dir` where to write (default
 * `bench/results`, only for a run of every step at the default sizes).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { muteKafkajsTimerWarning } from "../lib/stream/kafka/log.ts";
import { parseDuration } from "../lib/app/cli.ts";
import { servicesUp } from "../dev/services.ts";
import { LocalLake } from "../lib/lake/local.ts";
import { S3Lake } from "../lib/lake/s3.ts";
import { SimulatedSource } from "../lib/produce/sources/simulated.ts";
import {
  type BaselineServices,
  objectPerEvent,
  type Rate,
  rawConsume,
  rawProduce,
} from "./baselines.ts";
import { machine, machineSection, round, writeResults } from "./report.ts";
import { type ProcessRun, runEntryPoint } from "./process.ts";
import { market } from "./watchlist.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SCRATCH_DIR = join(BENCH_DIR, "scratch");
const RESULTS_DIR = join(BENCH_DIR, "results");
const STEPS = ["throughput", "dbt", "freshness"] as const;
type Step = typeof STEPS[number];

/** The targets of issues 8 and 15, on this 2-core machine. */
const TARGETS = {
  producerVsRaw: 0.8,
  landingVsRaw: 0.7,
  landingVsObjectPerEvent: 100,
  loadPerSecond: 500_000,
  dbtRatio: 1.5,
  rawP95Ms: 2_000,
  goldP95Ms: 5_000,
  steadyRatio: 1.25,
  rssRatio: 1.2,
};

/** The freshness runs: a market of 500 symbols, each quoted once a second. */
const FRESHNESS_SYMBOLS = market(500);

interface Args {
  events: number;
  baselineSeconds: number;
  freshnessMs: number;
  skip: Set<Step>;
  out: string | undefined;
}

function parse(): Args {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      events: { type: "string", default: "1000000" },
      "baseline-seconds": { type: "string", default: "20" },
      freshness: { type: "string", default: "5m" },
      skip: { type: "string", default: "" },
      out: { type: "string" },
    },
  });
  const events = Number(values.events.replace(/_/g, ""));
  const baselineSeconds = Number(values["baseline-seconds"]);
  if (!Number.isInteger(events) || events < 1000) {
    throw new RangeError("--events must be a whole number of at least 1000");
  }
  if (!(baselineSeconds > 0)) {
    throw new RangeError("--baseline-seconds must be a positive number");
  }
  const skip = new Set(
    values.skip.split(",").map((s) => s.trim()).filter(Boolean),
  );
  for (const step of skip) {
    if (!(STEPS as readonly string[]).includes(step)) {
      throw new RangeError(
        `--skip takes ${STEPS.join(", ")}: current value is ${step}`,
      );
    }
  }
  return {
    events,
    baselineSeconds,
    freshnessMs: parseDuration(values.freshness),
    skip: skip as Set<Step>,
    out: values.out,
  };
}

function progress(message: string): void {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function record(run: ProcessRun, msg: string): Record<string, unknown> {
  const found = run.logs.find((r) => r.msg === msg);
  if (!found) throw new Error(`no '${msg}' log line`);
  return found;
}

/** Events per second between two of a process's own log lines. */
function loggedRate(
  run: ProcessRun,
  from: string,
  to: string,
  count: string,
): Rate {
  const start = Date.parse(record(run, from).ts as string);
  const end = record(run, to);
  const seconds = (Date.parse(end.ts as string) - start) / 1000;
  const events = Number(end[count]);
  return { events, seconds, perSecond: events / seconds };
}

function shown(rate: Rate) {
  return {
    events: rate.events,
    seconds: round(rate.seconds, 2),
    per_second: Math.round(rate.perSecond),
  };
}

/** Writes `events` simulated quotes (5 symbols, the pipeline's default) as NDJSON. */
async function writeQuotes(path: string, events: number): Promise<string[]> {
  const source = new SimulatedSource({
    symbols: ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN"],
    count: events,
    rate: events,
    paced: false,
  });
  const lines: string[] = [];
  for await (const quote of source.events(new AbortController().signal)) {
    lines.push(JSON.stringify(quote));
  }
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return lines;
}

async function createTopic(brokers: string[], topic: string): Promise<void> {
  muteKafkajsTimerWarning();
  const admin = new Kafka({
    clientId: "bench",
    brokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
    });
  } finally {
    await admin.disconnect();
  }
}

/** Producer, landing, the baselines, load and memory. */
async function throughput(
  args: Args,
  env: Record<string, string>,
  run: string,
) {
  const services: BaselineServices = {
    brokers: env.KAFKA_BROKERS.split(","),
    s3: {
      endpoint: env.S3_ENDPOINT,
      region: env.S3_REGION,
      bucket: env.S3_BUCKET,
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    },
  };
  const topic = `bench-${run}`;
  const rawTopic = `bench-${run}-raw`;
  const file = join(SCRATCH_DIR, "quotes.ndjson");
  const warehouse = join(SCRATCH_DIR, `load-${run}.duckdb`);
  const pipelineEnv = {
    ...env,
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: `bench-${run}`,
    KAFKA_TRADES_TOPIC: `${topic}-trades`,
    KAFKA_TRADES_GROUP_ID: `bench-${run}-trades`,
    DUCKDB_PATH: warehouse,
  };

  progress(`writing ${args.events.toLocaleString("en-US")} quotes to ${file}`);
  const lines = await writeQuotes(file, args.events);
  await createTopic(services.brokers, rawTopic);

  progress(
    "producer: deno task produce --source replay (acks=all, idempotent)",
  );
  const produced = await runEntryPoint("producer.ts", [
    "--source",
    "replay",
    "--file",
    file,
  ], pipelineEnv);
  const producer = loggedRate(
    produced,
    "producing",
    "producer finished",
    "published",
  );
  progress(`producer: ${Math.round(producer.perSecond)} events/s`);

  progress("baseline: raw kafkajs send loop of the same payloads");
  const rawProducer = await rawProduce(
    services,
    rawTopic,
    lines,
    (line) => JSON.parse(line).symbol,
  );
  progress(`baseline: ${Math.round(rawProducer.perSecond)} events/s`);

  progress("landing: deno task consume --drain (Kafka → MinIO)");
  const consumed = await runEntryPoint("consumer.ts", ["--drain"], pipelineEnv);
  const landing = loggedRate(
    consumed,
    "consuming",
    "consumer finished",
    "events",
  );
  const objects = Number(record(consumed, "consumer finished").objects);
  progress(`landing: ${Math.round(landing.perSecond)} events/s`);

  progress("baseline: raw kafkajs consume-only loop");
  const rawConsumer = await rawConsume(services, topic, args.events);
  progress(`baseline: ${Math.round(rawConsumer.perSecond)} events/s`);

  progress(`baseline: one object per event, for ${args.baselineSeconds} s`);
  const perEvent = await objectPerEvent(
    services,
    topic,
    `bench-object-per-event/${run}`,
    args.baselineSeconds,
  );
  progress(`baseline: ${Math.round(perEvent.perSecond)} events/s`);

  progress("load: deno task load (MinIO → DuckDB)");
  const loaded = await runEntryPoint("loader.ts", [], pipelineEnv);
  const loadFinished = record(loaded, "load finished");
  const load: Rate = {
    events: Number(loadFinished.inserted),
    seconds: loaded.seconds,
    perSecond: Number(loadFinished.inserted) / loaded.seconds,
  };
  progress(`load: ${Math.round(load.perSecond)} events/s`);
  await Deno.remove(warehouse).catch(() => {});
  await Deno.remove(`${warehouse}.wal`).catch(() => {});

  return {
    producer: {
      pipeline: shown(producer),
      raw_kafkajs_loop: shown(rawProducer),
      ratio: round(producer.perSecond / rawProducer.perSecond),
      target_ratio: TARGETS.producerVsRaw,
    },
    landing: {
      pipeline: { ...shown(landing), objects },
      raw_kafkajs_consume: shown(rawConsumer),
      object_per_event: shown(perEvent),
      ratio_to_raw: round(landing.perSecond / rawConsumer.perSecond),
      target_ratio_to_raw: TARGETS.landingVsRaw,
      ratio_to_object_per_event: round(landing.perSecond / perEvent.perSecond),
      target_ratio_to_object_per_event: TARGETS.landingVsObjectPerEvent,
    },
    load: {
      ...shown(load),
      objects: Number(loadFinished.files),
      target_per_second: TARGETS.loadPerSecond,
    },
    memory: {
      producer_peak_rss_mib: produced.peakRssMiB,
      consumer_peak_rss_mib: consumed.peakRssMiB,
      loader_peak_rss_mib: loaded.peakRssMiB,
    },
  };
}

/** The incremental dbt benchmark, run now or as last written. */
async function dbtIncremental(args: Args) {
  const path = join(RESULTS_DIR, "dbt_incremental.json");
  if (!args.skip.has("dbt")) {
    progress("dbt: deno task bench:dbt (100k vs 10M rows of history)");
    await runEntryPoint("bench/dbt_incremental.ts", [], Deno.env.toObject());
  } else {
    progress(`dbt: skipped; reporting ${path}`);
  }
  const json = JSON.parse(await Deno.readTextFile(path));
  const [small, large] = [json.results[0], json.results.at(-1)];
  return {
    measured_now: !args.skip.has("dbt"),
    date: json.date,
    history_rows: [small.rawRows, large.rawRows],
    median_seconds: [small.medianSeconds, large.medianSeconds],
    ratio: json.ratio,
    target_ratio: TARGETS.dbtRatio,
  };
}

/** `deno task demo --continuous` on Kafka and MinIO. */
/** Objects landed under the topic's prefix, in the bucket or the lake directory. */
async function lakeObjects(
  env: Record<string, string>,
  topic: string,
  lakeDir: string,
): Promise<number> {
  const lake = env.S3_BUCKET
    ? new S3Lake({
      bucket: env.S3_BUCKET,
      endpoint: env.S3_ENDPOINT,
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    })
    : new LocalLake(lakeDir);
  let objects = 0;
  for await (const _ of lake.list(`${topic}/`)) objects++;
  if (lake instanceof S3Lake) lake.close();
  return objects;
}

/** The largest resident set in a window of a run, MiB. */
function peakBetween(
  run: ProcessRun,
  fromSeconds: number,
  toSeconds: number,
): number {
  let peak = 0;
  for (const [at, mib] of run.rss) {
    if (at >= fromSeconds && at < toSeconds) peak = Math.max(peak, mib);
  }
  return peak;
}

/**
 * `deno task demo --continuous` with every symbol quoted once a second, on
 * one backend: the embedded defaults, or Kafka and MinIO.
 */
async function freshness(
  args: Args,
  env: Record<string, string>,
  run: string,
  backend: "embedded" | "kafka_minio",
) {
  const dir = join(SCRATCH_DIR, `freshness-${run}-${backend}`);
  const seconds = Math.round(args.freshnessMs / 1000);
  const topic = `bench-${run}-freshness-${backend.replace("_", "-")}`;
  progress(
    `freshness (${backend}): deno task demo --continuous for ${seconds} s, ${FRESHNESS_SYMBOLS.length} symbols quoted once a second`,
  );
  const demo = await runEntryPoint("demo.ts", [
    "--continuous",
    "--duration",
    `${seconds}s`,
    "--rate",
    String(FRESHNESS_SYMBOLS.length),
  ], {
    ...env,
    ...(backend === "embedded"
      ? { KAFKA_BROKERS: "", S3_BUCKET: "", STREAM_DIR: join(dir, "stream") }
      : {}),
    LAKE_DIR: join(dir, "lake"),
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: topic,
    KAFKA_TRADES_TOPIC: `${topic}-trades`,
    KAFKA_TRADES_GROUP_ID: `${topic}-trades`,
    DUCKDB_PATH: join(dir, "warehouse.duckdb"),
    SYMBOLS: FRESHNESS_SYMBOLS.join(","),
  });
  const objects = await lakeObjects(
    backend === "embedded" ? { ...env, S3_BUCKET: "" } : env,
    topic,
    join(dir, "lake"),
  );
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const f = record(demo, "freshness");
  const pick = (prefix: string) => ({
    samples: f[`${prefix}_samples`],
    p50_ms: f[`${prefix}_p50_ms`],
    p95_ms: f[`${prefix}_p95_ms`],
    p99_ms: f[`${prefix}_p99_ms`],
    max_ms: f[`${prefix}_max_ms`],
    first_minute_p95_ms: f[`${prefix}_first_minute_p95_ms`],
    last_minute_p95_ms: f[`${prefix}_last_minute_p95_ms`],
  });
  progress(
    `freshness (${backend}): RAW p95 ${f.raw_p95_ms} ms, gold p95 ${f.gold_p95_ms} ms, ${objects} objects`,
  );
  const end = demo.seconds;
  return {
    seconds,
    symbols: FRESHNESS_SYMBOLS.length,
    loaded: f.loaded,
    cycles: f.cycles,
    dbt_runs: f.dbt_runs,
    lake_objects: objects,
    events_per_object: round(Number(f.loaded) / Math.max(objects, 1), 1),
    cycle_first_minute_p50_ms: f.cycle_first_minute_p50_ms,
    cycle_last_minute_p50_ms: f.cycle_last_minute_p50_ms,
    to_raw: { ...pick("raw"), target_p95_ms: TARGETS.rawP95Ms },
    to_gold_latest_kpi: { ...pick("gold"), target_p95_ms: TARGETS.goldP95Ms },
    demo_peak_rss_mib: demo.peakRssMiB,
    demo_first_minute_peak_rss_mib: peakBetween(demo, 0, 60),
    demo_last_minute_peak_rss_mib: peakBetween(demo, end - 60, end + 1),
  };
}

type Results = {
  throughput?: Awaited<ReturnType<typeof throughput>>;
  dbt: Awaited<ReturnType<typeof dbtIncremental>>;
  freshness?: Record<string, Awaited<ReturnType<typeof freshness>>>;
};

function markdown(
  results: Results,
  args: Args,
  host: Record<string, string>,
  date: string,
): string {
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  const s = (ms: unknown) => `${(Number(ms) / 1000).toFixed(2)} s`;
  const met = (ok: boolean) => (ok ? "yes" : "**no**");
  const rows: string[] = [];
  const t = results.throughput;
  if (t) {
    rows.push(
      `| producer publish rate (acks=all, idempotent) | ${
        n(t.producer.pipeline.per_second)
      } events/s | raw kafkajs send loop: ${
        n(t.producer.raw_kafkajs_loop.per_second)
      } events/s | ${t.producer.ratio}× | ≥ ${TARGETS.producerVsRaw}× | ${
        met(t.producer.ratio >= TARGETS.producerVsRaw)
      } |`,
      `| landing rate Kafka → S3 | ${
        n(t.landing.pipeline.per_second)
      } events/s | raw kafkajs consume-only loop: ${
        n(t.landing.raw_kafkajs_consume.per_second)
      } events/s | ${t.landing.ratio_to_raw}× | ≥ ${TARGETS.landingVsRaw}× | ${
        met(t.landing.ratio_to_raw >= TARGETS.landingVsRaw)
      } |`,
      `| landing rate Kafka → S3 | ${
        n(t.landing.pipeline.per_second)
      } events/s | one object per event: ${
        n(t.landing.object_per_event.per_second)
      } events/s | ${t.landing.ratio_to_object_per_event}× | ≥ ${TARGETS.landingVsObjectPerEvent}× | ${
        met(
          t.landing.ratio_to_object_per_event >=
            TARGETS.landingVsObjectPerEvent,
        )
      } |`,
      `| load rate lake → DuckDB (${n(t.load.events)} events) | ${
        n(t.load.per_second)
      } events/s | | | ≥ ${n(TARGETS.loadPerSecond)} events/s | ${
        met(t.load.per_second >= TARGETS.loadPerSecond)
      } |`,
    );
  }
  const d = results.dbt;
  rows.push(
    `| dbt incremental run, ${n(d.history_rows[1])} vs ${
      n(d.history_rows[0])
    } rows of history | ${d.median_seconds[1]} s vs ${
      d.median_seconds[0]
    } s | | ${d.ratio} | ≤ ${TARGETS.dbtRatio} | ${
      met(d.ratio <= TARGETS.dbtRatio)
    } |`,
  );
  for (const [backend, f] of Object.entries(results.freshness ?? {})) {
    const on = backend === "embedded" ? "embedded" : "Kafka + MinIO";
    const steady = (
      x: { first_minute_p95_ms: unknown; last_minute_p95_ms: unknown },
    ) => Number(x.last_minute_p95_ms) / Number(x.first_minute_p95_ms);
    rows.push(
      `| ${on}: freshness fetched_at → RAW, p50 / p95 / p99 | ${
        s(f.to_raw.p50_ms)
      } / ${s(f.to_raw.p95_ms)} / ${s(f.to_raw.p99_ms)} | ${
        n(Number(f.to_raw.samples))
      } quotes | | p95 ≤ ${s(TARGETS.rawP95Ms)} | ${
        met(Number(f.to_raw.p95_ms) <= TARGETS.rawP95Ms)
      } |`,
      `| ${on}: RAW p95, first minute → last minute | ${
        s(f.to_raw.first_minute_p95_ms)
      } → ${s(f.to_raw.last_minute_p95_ms)} | | ${
        round(steady(f.to_raw))
      }× | ≤ ${TARGETS.steadyRatio}× | ${
        met(steady(f.to_raw) <= TARGETS.steadyRatio)
      } |`,
      `| ${on}: freshness fetched_at → gold_latest_kpi, p50 / p95 / p99 | ${
        s(f.to_gold_latest_kpi.p50_ms)
      } / ${s(f.to_gold_latest_kpi.p95_ms)} / ${
        s(f.to_gold_latest_kpi.p99_ms)
      } | ${n(Number(f.to_gold_latest_kpi.samples))} gold rows | | p95 ≤ ${
        s(TARGETS.goldP95Ms)
      } | ${met(Number(f.to_gold_latest_kpi.p95_ms) <= TARGETS.goldP95Ms)} |`,
      `| ${on}: gold p95, first minute → last minute | ${
        s(f.to_gold_latest_kpi.first_minute_p95_ms)
      } → ${s(f.to_gold_latest_kpi.last_minute_p95_ms)} | | ${
        round(steady(f.to_gold_latest_kpi))
      }× | ≤ ${TARGETS.steadyRatio}× | ${
        met(steady(f.to_gold_latest_kpi) <= TARGETS.steadyRatio)
      } |`,
      `| ${on}: lake objects per event | 1 per ${f.events_per_object} (${
        n(f.lake_objects)
      } objects) | | | ≤ 1 per 100 | ${met(f.events_per_object >= 100)} |`,
      `| ${on}: cycle, median in the first → last minute | ${
        s(f.cycle_first_minute_p50_ms)
      } → ${
        s(f.cycle_last_minute_p50_ms)
      } | ${f.cycles} cycles, ${f.dbt_runs} dbt runs | | | |`,
      `| ${on}: demo peak RSS, first minute → last minute | ${f.demo_first_minute_peak_rss_mib} → ${f.demo_last_minute_peak_rss_mib} MiB | | ${
        round(
          f.demo_last_minute_peak_rss_mib / f.demo_first_minute_peak_rss_mib,
        )
      }× | ≤ ${TARGETS.rssRatio}× | ${
        met(
          f.demo_last_minute_peak_rss_mib <=
            TARGETS.rssRatio * f.demo_first_minute_peak_rss_mib,
        )
      } |`,
    );
  }
  if (t) {
    rows.push(
      `| peak memory (RSS) at top rate | producer ${t.memory.producer_peak_rss_mib} MiB, consumer ${t.memory.consumer_peak_rss_mib} MiB | loader ${t.memory.loader_peak_rss_mib} MiB | | | |`,
    );
  }
  const lines = [
    "# Pipeline benchmarks",
    "",
    `Run ${date} by \`deno task bench\` (see \`bench/README.md\`), on Kafka 4.1.1 and MinIO from \`deno task services:up\`${
      t
        ? `; throughput on ${
          n(args.events)
        } simulated quotes of 5 symbols (the default watchlist)`
        : ""
    }.`,
    "",
    "| measure | pipeline | baseline | ratio | target | met |",
    "| --- | --- | --- | ---: | --- | --- |",
    ...rows,
    "",
  ];
  if (t) {
    lines.push(
      `The producer is \`deno task produce --source replay\` of the quotes file, timed between its own log lines (connected → finished); the raw loop sends the same lines with the same kafkajs producer settings, 500 per send. Landing is \`deno task consume --drain\` into MinIO (${
        n(t.landing.pipeline.objects)
      } objects), timed from its start to its last commit, group join included, as is the consume-only loop; the one-object-per-event baseline PUTs each message as its own object, one at a time, for ${args.baselineSeconds} s. The load is the whole \`deno task load\` process (start-up, listing, reading, checking and one transaction per 500 objects).`,
      "",
    );
  }
  const f = results.freshness?.embedded ?? results.freshness?.kafka_minio;
  if (f) {
    lines.push(
      `Freshness: \`deno task demo --continuous\` for ${f.seconds} s, ${f.symbols} symbols each quoted once a second (the simulated source's fetched_at is the moment it emits the quote), once on the embedded defaults (file stream, local lake) and once on Kafka and MinIO. To RAW: every quote, up to the end of the load that committed it. To gold: each quote that became its symbol's row in gold_latest_kpi, up to the end of that dbt run. First and last minute: the p95 of the samples measured in the run's first and last 60 s. A cycle is the time from one load's commit to the next. RSS is the demo process's (producer, consumer, loader and the cycle; dbt runs in its own process).`,
      "",
    );
  }
  lines.push(
    `dbt: ${
      d.measured_now
        ? "measured in this run"
        : `from \`deno task bench:dbt\` of ${d.date}`
    } (\`bench/results/dbt_incremental.md\`).`,
    "",
    ...machineSection(host),
  );
  return lines.join("\n");
}

async function main(): Promise<void> {
  const args = parse();
  const loadAtStart = Deno.loadavg();
  const date = new Date().toISOString();
  const run = date.replace(/[-:.TZ]/g, "").slice(0, 14);
  await Deno.mkdir(SCRATCH_DIR, { recursive: true });
  progress("starting Kafka and MinIO (or reusing them)");
  const env = { ...Deno.env.toObject(), ...await servicesUp() };
  const results: Results = {
    throughput: args.skip.has("throughput")
      ? undefined
      : await throughput(args, env, run),
    dbt: await dbtIncremental(args),
    freshness: args.skip.has("freshness") ? undefined : {
      embedded: await freshness(args, env, run, "embedded"),
      kafka_minio: await freshness(args, env, run, "kafka_minio"),
    },
  };
  const host = await machine(loadAtStart);
  const official = args.skip.size === 0 && args.events === 1_000_000;
  const outDir = args.out ?? (official ? RESULTS_DIR : undefined);
  const report = markdown(results, args, host, date);
  console.log(`\n${report}`);
  if (!outDir) {
    progress(
      "results not written (not a run of every step at the default sizes; --out writes them)",
    );
    return;
  }
  const [md, json] = await writeResults(outDir, "pipeline", report, {
    benchmark: "pipeline",
    date,
    events: args.events,
    targets: TARGETS,
    ...results,
    machine: host,
  });
  progress(`wrote ${md} and ${json}`);
}

await main();
