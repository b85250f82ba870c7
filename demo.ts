/**
 * `deno task demo [options]`: the whole pipeline in one process on the
 * configured services (embedded by default): source → stream → lake →
 * warehouse → `dbt build` → the gold copy readers open (lib/app/gold_copy.ts),
 * then a summary of the gold layer.
 *
 * The run is bounded by `--duration`, `--count` or the end of a replay file,
 * so `deno task demo --source replay --file quotes.ndjson` backfills a file.
 *
 * With `--continuous` it loads and runs dbt on the cycle of `deno task
 * follow` while quotes are landed (lib/app/continuous.ts), until the bound or
 * Ctrl-C, and reports each quote's freshness to RAW and to `gold_latest_kpi`;
 * the lake's batches are then landed after 250 ms unless `FLUSH_MAX_AGE_MS`
 * says otherwise. `--dashboard` serves the dashboard (lib/dashboard/) in the
 * same process meanwhile, reading only the gold copy the cycle publishes.
 *
 * It serves the metrics of every stage it runs at `/metrics` when
 * `METRICS_PORT` is set.
 *
 * @module
 */
import { relative } from "node:path";
import {
  buildSource,
  parseSourceArgs,
  runSignal,
  SOURCE_USAGE,
  type SourceArgs,
  sourceKind,
} from "./lib/app/cli.ts";
import { type Config, loadConfig } from "./lib/runtime/config.ts";
import {
  flushLimits,
  laneOf,
  openLake,
  openStream,
  openWarehouse,
} from "./lib/app/wiring.ts";
import type { Lake } from "./lib/lake/lake.ts";
import type { FlushLimits } from "./lib/land/partition_writer.ts";
import type { Source } from "./lib/produce/source.ts";
import type { Stream, StreamProducer } from "./lib/stream/stream.ts";
import {
  type CycleStats,
  emptyCycleStats,
  type Latencies,
  type LatencySummary,
  runContinuous,
} from "./lib/app/continuous.ts";
import { DbtWorker, runDbt } from "./lib/transform/dbt.ts";
import { type Landing, startLanding } from "./lib/land/landing.ts";
import { loadKinds } from "./lib/app/load_kinds.ts";
import { logger } from "./lib/runtime/log.ts";
import { preflight } from "./lib/app/preflight.ts";
import { skipFields } from "./lib/produce/source.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";
import { reportProgress } from "./lib/ops/progress.ts";
import { publish, type PublishStats } from "./lib/produce/publisher.ts";
import { ensureVenv } from "./lib/transform/venv.ts";
import { formatSummary, readGoldSummary } from "./lib/ops/summary.ts";
import { dbtUpdatesGold, publishGoldCopy } from "./lib/app/gold_copy.ts";
import { startDashboard } from "./lib/dashboard/start.ts";
import { configuredMetricsEndpoint } from "./lib/ops/metrics/endpoint.ts";
import { metrics } from "./lib/ops/metrics/registry.ts";

const log = logger("demo");
const DEFAULT_DURATION_MS = 20_000;
/**
 * Continuous mode: landing's max batch age unless FLUSH_MAX_AGE_MS is set.
 * At 500 symbols quoted once a second over 3 partitions, a batch then holds
 * about 125 events (the lake gets one object per 100 events or fewer), for
 * at most 0.75 s of a quote's freshness.
 */
const CONTINUOUS_FLUSH_AGE_MS = 750;

const USAGE = `Usage: deno task demo [--continuous] [options]

  --continuous                        load and run dbt on a short cycle while quotes
                                      land, until the bound or Ctrl-C; report freshness
  --dashboard                         with --continuous: serve the dashboard meanwhile
                                      (DASHBOARD_HOST:DASHBOARD_PORT, 127.0.0.1:8090)

${SOURCE_USAGE}`;

await runMain(async () => {
  const args = parseSourceArgs(Deno.args, ["continuous", "dashboard"], "demo");
  if (args.flags.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  const continuous = args.flags.continuous;
  if (continuous && config.warehouse !== "duckdb") {
    throw new RangeError(
      `Cannot run --continuous as it measures freshness in the DuckDB warehouse: WAREHOUSE is ${config.warehouse}`,
    );
  }
  if (args.flags.dashboard && !continuous) {
    throw new RangeError(
      "Cannot serve the dashboard as '--dashboard' needs '--continuous', which publishes gold while the demo runs: current value is --dashboard alone",
    );
  }
  await using _metrics = configuredMetricsEndpoint(config);
  await preflight(config, { stream: true, lake: true, warehouse: true });
  const shutdown = shutdownSignal();
  // The dashboard reads the gold copy and never the warehouse this process
  // writes (its pipeline panel leaves RAW out); it stops when the demo ends.
  const dashboardStop = new AbortController();
  const dashboard = args.flags.dashboard
    ? await startDashboard({
      config,
      signal: dashboardStop.signal,
      readWarehouse: false,
    })
    : undefined;
  try {
    return await runDemo(config, args, shutdown);
  } finally {
    dashboardStop.abort();
    await dashboard?.finished;
  }
});

/** The demo's run, after its settings are checked. */
async function runDemo(
  config: Config,
  args: SourceArgs,
  shutdown: AbortSignal,
): Promise<number> {
  const continuous = args.flags.continuous;
  if (!continuous && args.source !== "replay" && args.count === undefined) {
    args.durationMs ??= DEFAULT_DURATION_MS;
  }
  // Set dbt up first, so a first run's install does not sit between producing and transforming.
  await ensureVenv();
  const dbt = continuous
    ? await DbtWorker.start({
      duckdbPath: config.duckdbPath,
      target: config.dbtTarget,
    })
    : undefined;
  const limits = flushLimits(config);
  if (continuous && !Deno.env.has("FLUSH_MAX_AGE_MS")) {
    limits.maxAgeMs = CONTINUOUS_FLUSH_AGE_MS;
  }

  const lake = openLake(config);
  // The simulated quotes come with simulated trades, so the demo shows both
  // (trades at their source's default rate, for as long as quotes are
  // published); any other source runs alone.
  const lanes: DemoLane[] = [];
  try {
    for (
      const laneArgs of [
        args,
        ...(args.source === "simulated"
          ? [{
            ...args,
            source: "simulated-trades" as const,
            rate: undefined,
            count: undefined,
          }]
          : []),
      ]
    ) {
      lanes.push(await startLane(config, laneArgs, lake, limits));
    }
  } catch (error) {
    await Promise.allSettled(lanes.map((lane) => lane.stop()));
    throw error;
  }
  const [main] = lanes;
  log.info("starting", {
    sources: lanes.map((lane) => lane.source.name).join(","),
    stream: main.stream.location,
    lake: lake.location,
    warehouse: config.duckdbPath,
    continuous,
  });

  // 1. Source → stream → lake, concurrently.
  const published = main.published;
  const landed = main.landing.sink.stats;
  // Continuous mode: load and transform while landing, until it has drained.
  const cycleStats = emptyCycleStats();
  const landingDrained = new AbortController();
  const cycles = dbt
    ? runContinuous(
      { config, lake, dbt, stop: landingDrained.signal },
      cycleStats,
    )
    : undefined;
  // A failed cycle stops the source; the error is thrown below.
  const cyclesFailed = new AbortController();
  cycles?.catch(() => cyclesFailed.abort());
  const stopProgress = reportProgress(
    () => ({
      published: published.published,
      landed: landed.events,
      objects: landed.objects,
      ...(lanes.length > 1
        ? {
          trades_published: lanes[1].published.published,
          trades_landed: lanes[1].landing.sink.stats.events,
        }
        : {}),
      ...(dbt ? continuousCounts(cycleStats) : {}),
    }),
    (counts) => log.info("progress", counts),
    { rateOf: "published" },
  );
  const landings = lanes.map((lane) => lane.landing.done);
  try {
    const stopped = AbortSignal.any([
      runSignal(shutdown, args.durationMs),
      cyclesFailed.signal,
    ]);
    // The other lanes publish while the first does.
    const mainDone = new AbortController();
    const publishing = lanes.map((lane, i) =>
      publish(
        {
          source: lane.source,
          producer: lane.producer,
          lake,
          signal: i === 0 ? stopped : AbortSignal.any([
            stopped,
            mainDone.signal,
          ]),
          limit: i === 0 ? args.count : undefined,
        },
        lane.published,
      )
    );
    publishing[0].finally(() => mainDone.abort()).catch(() => {});
    await Promise.race([Promise.all(publishing), ...landings]);
    await Promise.all(lanes.map((lane) => lane.producer.close()));
    // (a failed cycle ends the wait too; its error is thrown below)
    await Promise.race([
      Promise.all(lanes.map((lane) => lane.landing.drain())),
      ...landings,
      ...(cycles ? [cycles] : []),
    ]);
  } finally {
    stopProgress();
    await Promise.allSettled(lanes.map((lane) => lane.stop()));
    landingDrained.abort();
  }
  await Promise.all(landings);
  for (const lane of lanes) {
    const stats = lane.landing.sink.stats;
    log.info("landed", {
      published: lane.published.published,
      source_rejects: lane.published.rejected,
      ...skipFields(lane.source.stats),
      events: stats.events,
      dead_letters: stats.deadLetters,
      objects: stats.objects,
      kind: lane.source.kind,
    });
  }
  if (dbt) {
    // 2–3. The last cycle has taken what landed: build (models and tests) once more.
    try {
      await cycles;
      return await finishContinuous(dbt, config, cycleStats);
    } finally {
      await dbt.close();
    }
  }
  if (shutdown.aborted) {
    log.info("stopped early: loading and building what was published", {
      published: published.published,
    });
  }

  // 2. Lake → warehouse (bounded by what landed; a second Ctrl-C stops it).
  const warehouse = await openWarehouse(config);
  try {
    const totals = await loadKinds({ config, lake, warehouse });
    log.info("loaded", { ...totals });
  } finally {
    await warehouse.close();
  }

  // 3. dbt build.
  const build = await runDbt(["build"], {
    duckdbPath: config.duckdbPath,
    target: config.dbtTarget,
  });
  if (!build.success) {
    console.error(build.output);
    return build.code || 1;
  }
  const copy = dbtUpdatesGold(["build"], config)
    ? await publishGoldCopy(config)
    : undefined;

  // 4. What the gold layer now says.
  console.log(formatSummary(await readGoldSummary(config.duckdbPath)));
  if (copy) console.log(goldCopyLine(copy.path));
  return 0;
}

/** One source's way through the demo: its stream, landing and producer. */
interface DemoLane {
  /** The source. */
  source: Source;
  /** Its kind's stream. */
  stream: Stream;
  /** The landing of that stream. */
  landing: Landing;
  /** The producer publishing the source to it. */
  producer: StreamProducer;
  /** What was published. */
  published: PublishStats;
  /** Closes the producer and stops the landing. */
  stop(): Promise<void>;
}

/** Builds a source and starts the landing and the producer of its kind's stream. */
async function startLane(
  config: Config,
  args: SourceArgs,
  lake: Lake,
  limits: FlushLimits,
): Promise<DemoLane> {
  const kind = sourceKind(args);
  const stream = openStream(config, kind);
  const source = await buildSource(args, config, stream);
  const landing = await startLanding({
    kind,
    stream,
    lake,
    groupId: laneOf(config, kind).groupId,
    limits,
  });
  let producer: StreamProducer;
  try {
    producer = await stream.producer();
  } catch (error) {
    await landing.stop();
    throw error;
  }
  const published: PublishStats = { published: 0, rejected: 0 };
  metrics.watchPublisher(stream.topic, source.name, published);
  metrics.watchSource(source);
  const stopWatching = metrics.watchLanding(stream.topic, landing);
  return {
    source,
    stream,
    landing,
    producer,
    published,
    async stop() {
      await producer.close();
      stopWatching();
      await landing.stop();
    },
  };
}

/** The continuous mode's counts for a progress line. */
function continuousCounts(stats: CycleStats): Record<string, number> {
  const counts: Record<string, number> = {
    loaded: stats.loaded,
    cycles: stats.cycles,
  };
  const raw = stats.toRaw.percentile(95);
  const gold = stats.toGold.percentile(95);
  if (raw !== undefined) counts.raw_p95_ms = raw;
  if (gold !== undefined) counts.gold_p95_ms = gold;
  return counts;
}

/**
 * Builds and tests once more and publishes the gold copy, then prints the
 * gold summary, the freshness and the gold copies' cost.
 */
async function finishContinuous(
  dbt: DbtWorker,
  config: Config,
  stats: CycleStats,
): Promise<number> {
  const toRaw = stats.toRaw.summary();
  const toGold = stats.toGold.summary();
  const copies = stats.goldCopies.summary();
  const minute = (latencies: Latencies, p: number) => {
    const { first, last } = latencies.ends(60_000);
    return [first.percentile(p), last.percentile(p)];
  };
  const [rawFirst, rawLast] = minute(stats.toRaw, 95);
  const [goldFirst, goldLast] = minute(stats.toGold, 95);
  const [cycleFirst, cycleLast] = minute(stats.cycleTimes, 50);
  log.info("freshness", {
    cycles: stats.cycles,
    dbt_runs: stats.dbtRuns,
    loaded: stats.loaded,
    ...prefixed("raw", toRaw),
    ...prefixed("gold", toGold),
    ...prefixed("gold_copy", copies),
    raw_first_minute_p95_ms: rawFirst,
    raw_last_minute_p95_ms: rawLast,
    gold_first_minute_p95_ms: goldFirst,
    gold_last_minute_p95_ms: goldLast,
    cycle_first_minute_p50_ms: cycleFirst,
    cycle_last_minute_p50_ms: cycleLast,
  });
  const build = await dbt.run(["build"], "info");
  if (!build.success) {
    console.error(build.output);
    return build.code || 1;
  }
  const copy = await publishGoldCopy(config);
  stats.goldCopies.add(copy.ms);
  console.log(formatSummary(await readGoldSummary(config.duckdbPath)));
  console.log(
    `\nFreshness over ${stats.cycles} cycles (from a quote's fetched_at):\n` +
      `  to its RAW row:              ${formatLatency(toRaw)}\n` +
      `  to its gold_latest_kpi row:  ${formatLatency(toGold)}\n` +
      goldCopyLine(copy.path, stats.goldCopies.summary()),
  );
  return 0;
}

/** Where readers find gold, and what writing it cost. */
function goldCopyLine(path: string, copies?: LatencySummary): string {
  const near = relative(Deno.cwd(), path);
  const cost = copies === undefined
    ? ""
    : `; written ${copies.samples} times, p50 ${copies.p50_ms} ms, max ${copies.max_ms} ms`;
  return `\nGold copy for readers, open it read-only: ${
    near.startsWith("..") ? path : near
  }${cost}`;
}

function prefixed(
  prefix: string,
  summary: LatencySummary,
): Record<string, number | undefined> {
  return Object.fromEntries(
    Object.entries(summary).map(([k, v]) => [`${prefix}_${k}`, v]),
  );
}

function formatLatency(summary: LatencySummary): string {
  if (summary.samples === 0) return "no samples";
  const s = (ms: number | undefined) => `${((ms ?? 0) / 1000).toFixed(2)} s`;
  return `p50 ${s(summary.p50_ms)}, p95 ${s(summary.p95_ms)}, p99 ${
    s(summary.p99_ms)
  } (${summary.samples.toLocaleString("en-US")} quotes)`;
}
