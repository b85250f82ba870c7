/**
 * `deno task bench:landing`: landing Kafka → S3 at 500 symbols against a raw
 * kafkajs consume-only loop on the same topic, with the event loop's lag
 * during each (see `bench/README.md`). Writes
 * `bench/results/landing.{md,json}`. It measures; it does not pass or fail
 * on a target.
 *
 * ```sh
 * deno task bench:landing                           # 500,000 quotes of 500 symbols, 3 rounds
 * deno task bench:landing --events 100000 --rounds 1 --out /tmp/b
 * ```
 *
 * Options: `--events n` quotes (default 500,000); `--symbols n` symbols
 * (default 500); `--rounds n` measured rounds, each a raw loop then a
 * landing, medians reported (default 3); `--encoders n` worker threads of
 * the landing (default: the sink's own default); `--out dir` where to write
 * (default `bench/results`, only for a run at the default sizes).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { flushLimits, openLake, openStream } from "../lib/app/wiring.ts";
import type { Lake, LakeObject } from "../lib/lake/lake.ts";
import { DEFAULT_ENCODERS, EncoderPool } from "../lib/land/encoder_pool.ts";
import { startLanding } from "../lib/land/landing.ts";
import { loadConfig } from "../lib/runtime/config.ts";
import { setLogSink } from "../lib/runtime/log.ts";
import { SimulatedSource } from "../lib/produce/sources/simulated.ts";
import { servicesUp } from "../dev/services.ts";
import {
  type BaselineServices,
  type Rate,
  rawConsume,
  rawProduce,
} from "./baselines.ts";
import { machine, machineSection, round, writeResults } from "./report.ts";
import { market } from "./watchlist.ts";

const RESULTS_DIR = fileURLToPath(new URL("results", import.meta.url));
const DEFAULTS = { events: 500_000, symbols: 500, rounds: 3 };
/** The target of issue 15: landing at least this share of the raw consume rate. */
const TARGET_RATIO = 0.7;
/** How often the lag probe expects to run, in milliseconds. */
const PROBE_MS = 10;

interface Args {
  events: number;
  symbols: number;
  rounds: number;
  encoders: number | undefined;
  out: string | undefined;
}

function parse(): Args {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      events: { type: "string", default: String(DEFAULTS.events) },
      symbols: { type: "string", default: String(DEFAULTS.symbols) },
      rounds: { type: "string", default: String(DEFAULTS.rounds) },
      encoders: { type: "string" },
      out: { type: "string" },
    },
  });
  const whole = (name: string, text: string, min: number) => {
    const value = Number(text.replace(/_/g, ""));
    if (!Number.isInteger(value) || value < min) {
      throw new RangeError(
        `Cannot run the landing benchmark as '--${name}' must be a whole number of at least ${min}: current value is ${text}`,
      );
    }
    return value;
  };
  return {
    events: whole("events", values.events, 1000),
    symbols: whole("symbols", values.symbols, 1),
    rounds: whole("rounds", values.rounds, 1),
    encoders: values.encoders === undefined
      ? undefined
      : whole("encoders", values.encoders, 1),
    out: values.out,
  };
}

function progress(message: string): void {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** The event loop's lag while it runs: how late a repeating timer fires. */
interface Lag {
  /** Largest lag, milliseconds. */
  maxMs: number;
  /** 99th percentile, milliseconds. */
  p99Ms: number;
}

/** Starts a timer that measures how late each of its ticks fires. */
function lagProbe(): { stop(): Lag } {
  const lags: number[] = [];
  let expected = performance.now() + PROBE_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - expected));
    expected = now + PROBE_MS;
  }, PROBE_MS);
  return {
    stop() {
      clearInterval(timer);
      lags.sort((a, b) => a - b);
      return {
        maxMs: round(lags.at(-1) ?? 0, 1),
        p99Ms: round(lags[Math.floor(lags.length * 0.99)] ?? 0, 1),
      };
    },
  };
}

/** A lake under a prefix of its own, so each round writes fresh keys. */
class PrefixedLake implements Lake {
  constructor(readonly inner: Lake, readonly prefix: string) {}
  get location() {
    return `${this.inner.location}/${this.prefix}`;
  }
  put(key: string, body: Uint8Array) {
    return this.inner.put(this.prefix + key, body);
  }
  get(key: string) {
    return this.inner.get(this.prefix + key);
  }
  list(prefix: string): AsyncIterable<LakeObject> {
    return this.inner.list(this.prefix + prefix);
  }
  folders(prefix: string): AsyncIterable<string> {
    return this.inner.folders(this.prefix + prefix);
  }
}

async function quotes(symbols: string[], events: number): Promise<string[]> {
  const source = new SimulatedSource({
    symbols,
    count: events,
    rate: events,
    paced: false,
  });
  const lines: string[] = [];
  for await (const quote of source.events(new AbortController().signal)) {
    lines.push(JSON.stringify(quote));
  }
  return lines;
}

interface Measured extends Rate {
  lag: Lag;
  objects?: number;
}

/** The pipeline's landing (lib/land/) of the whole topic into the lake, in this process. */
async function land(
  env: Record<string, string>,
  topic: string,
  events: number,
  prefix: string,
  encoders: number | undefined,
): Promise<Measured> {
  const config = loadConfig({ ...env, KAFKA_TOPIC: topic });
  const lake = new PrefixedLake(openLake(config), prefix);
  const stream = openStream(config);
  const probe = lagProbe();
  const started = performance.now();
  const landing = await startLanding({
    stream,
    lake,
    groupId: `bench-landing-${crypto.randomUUID()}`,
    limits: flushLimits(config),
    encoders: encoders === undefined
      ? undefined
      : new EncoderPool({ size: encoders }),
  });
  await landing.drain();
  const seconds = (performance.now() - started) / 1000;
  const lag = probe.stop();
  await landing.stop();
  const { stats } = landing.sink;
  if (stats.events !== events) {
    throw new Error(
      `Cannot measure the landing as it landed ${stats.events} events of ${events}`,
    );
  }
  return {
    events,
    seconds,
    perSecond: events / seconds,
    lag,
    objects: stats.objects,
  };
}

async function consume(
  services: BaselineServices,
  topic: string,
  events: number,
): Promise<Measured> {
  const probe = lagProbe();
  const rate = await rawConsume(services, topic, events);
  return { ...rate, lag: probe.stop() };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main(): Promise<void> {
  const args = parse();
  const loadAtStart = Deno.loadavg();
  const date = new Date().toISOString();
  const run = date.replace(/[-:.TZ]/g, "").slice(0, 14);
  progress("starting Kafka and MinIO (or reusing them)");
  const env = { ...Deno.env.toObject(), ...await servicesUp() };
  setLogSink({ write() {} });
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
  const topic = `bench-landing-${run}`;
  const lines = await quotes(market(args.symbols), args.events);
  await openStream(loadConfig({ ...env, KAFKA_TOPIC: topic })).ensureTopic();
  progress(`publishing ${args.events} quotes of ${args.symbols} symbols`);
  await rawProduce(
    services,
    topic,
    lines,
    (line) => JSON.parse(line).symbol,
  );
  const rounds: { raw: Measured; landing: Measured }[] = [];
  for (let r = 0; r < args.rounds; r++) {
    const raw = await consume(services, topic, args.events);
    progress(
      `round ${r + 1}: raw consume ${Math.round(raw.perSecond)} events/s`,
    );
    const landing = await land(
      env,
      topic,
      args.events,
      `bench-landing/${run}-${r}/`,
      args.encoders,
    );
    progress(
      `round ${r + 1}: landing ${
        Math.round(landing.perSecond)
      } events/s, event loop lag max ${landing.lag.maxMs} ms`,
    );
    rounds.push({ raw, landing });
  }
  const raw = median(rounds.map((r) => r.raw.perSecond));
  const landed = median(rounds.map((r) => r.landing.perSecond));
  const results = {
    benchmark: "landing",
    date,
    events: args.events,
    symbols: args.symbols,
    encoders: args.encoders ?? DEFAULT_ENCODERS,
    target_ratio: TARGET_RATIO,
    median: {
      raw_consume_per_second: Math.round(raw),
      landing_per_second: Math.round(landed),
      ratio: round(landed / raw),
      landing_lag_max_ms: median(rounds.map((r) => r.landing.lag.maxMs)),
      landing_lag_p99_ms: median(rounds.map((r) => r.landing.lag.p99Ms)),
      raw_lag_max_ms: median(rounds.map((r) => r.raw.lag.maxMs)),
    },
    rounds: rounds.map(({ raw, landing }) => ({
      raw: { seconds: round(raw.seconds), lag: raw.lag },
      landing: {
        seconds: round(landing.seconds),
        lag: landing.lag,
        objects: landing.objects,
      },
    })),
    machine: await machine(loadAtStart),
  };
  const n = (value: number) => value.toLocaleString("en-US");
  const m = results.median;
  const report = [
    "# Landing benchmark",
    "",
    `Run ${date} by \`deno task bench:landing\` (see \`bench/README.md\`), on Kafka and MinIO from \`deno task services:up\`: ${
      n(args.events)
    } simulated quotes of ${
      n(args.symbols)
    } symbols in a topic of 3 partitions; landing with ${results.encoders} worker thread(s); medians of ${args.rounds} rounds, each a raw loop then a landing, in one process.`,
    "",
    "| measure | landing | raw kafkajs consume-only loop | ratio | target | met |",
    "| --- | --- | --- | ---: | --- | --- |",
    `| events/s (group join included) | ${n(m.landing_per_second)} | ${
      n(m.raw_consume_per_second)
    } | ${m.ratio}× | ≥ ${TARGET_RATIO}× | ${
      m.ratio >= TARGET_RATIO ? "yes" : "**no**"
    } |`,
    `| event loop lag, max (p99) | ${m.landing_lag_max_ms} ms (${m.landing_lag_p99_ms} ms) | ${m.raw_lag_max_ms} ms | | | |`,
    "",
    "Landing is `startLanding` (lib/land/landing.ts) with the `FLUSH_MAX_*` defaults into MinIO, from its start to the drain's last commit. The lag is how late a 10 ms timer fires on the main thread meanwhile.",
    "",
    ...machineSection(results.machine),
  ].join("\n");
  console.log(`\n${report}`);
  const official = args.encoders === undefined &&
    args.events === DEFAULTS.events &&
    args.symbols === DEFAULTS.symbols && args.rounds === DEFAULTS.rounds;
  const outDir = args.out ?? (official ? RESULTS_DIR : undefined);
  if (!outDir) {
    progress("results not written (not the default sizes; --out writes them)");
    return;
  }
  const [md, json] = await writeResults(outDir, "landing", report, results);
  progress(`wrote ${md} and ${json}`);
}

await main();
