/**
 * `deno task demo [options]`: the whole pipeline in one process on the
 * configured services (embedded by default): source → stream → lake →
 * warehouse → `dbt build`, then a summary of the gold layer.
 *
 * The run is bounded by `--duration`, `--count` or the end of a replay file,
 * so `deno task demo --source replay --file quotes.ndjson` backfills a file.
 *
 * @module
 */
import {
  buildSource,
  parseSourceArgs,
  runSignal,
  SOURCE_USAGE,
} from "./lib/cli.ts";
import { loadConfig } from "./lib/config.ts";
import {
  flushLimits,
  openLake,
  openStream,
  openWarehouse,
} from "./lib/connect.ts";
import { runDbt } from "./lib/dbt.ts";
import { startLanding } from "./lib/landing.ts";
import { loadNewObjects } from "./lib/loader.ts";
import { logger } from "./lib/log.ts";
import { skipFields } from "./lib/source.ts";
import { runMain, shutdownSignal } from "./lib/main.ts";
import { reportProgress } from "./lib/progress.ts";
import { publish, type PublishStats } from "./lib/publisher.ts";
import { ensureVenv } from "./lib/python.ts";
import { formatSummary, readGoldSummary } from "./lib/summary.ts";

const log = logger("demo");
const DEFAULT_DURATION_MS = 20_000;

await runMain(async () => {
  const args = parseSourceArgs(Deno.args);
  if (args.flags.help) {
    console.log(`Usage: deno task demo [options]\n\n${SOURCE_USAGE}`);
    return;
  }
  const config = loadConfig();
  const shutdown = shutdownSignal();
  if (args.source !== "replay" && args.count === undefined) {
    args.durationMs ??= DEFAULT_DURATION_MS;
  }
  // Set dbt up first, so a first run's install does not sit between producing and transforming.
  await ensureVenv();

  const source = buildSource(args, config);
  const stream = openStream(config);
  const lake = openLake(config);
  log.info("starting", {
    source: source.name,
    stream: stream.location,
    lake: lake.location,
    warehouse: config.duckdbPath,
  });

  // 1. Source → stream → lake, concurrently.
  const landing = await startLanding({
    stream,
    lake,
    groupId: config.groupId,
    limits: flushLimits(config),
  });
  const producer = await stream.producer();
  const published: PublishStats = { published: 0, rejected: 0 };
  const { stats: landed } = landing.sink;
  const stopProgress = reportProgress(
    () => ({
      published: published.published,
      landed: landed.events,
      objects: landed.objects,
    }),
    (counts) => log.info("progress", counts),
    { rateOf: "published" },
  );
  try {
    await Promise.race([
      publish(
        {
          source,
          producer,
          lake,
          signal: runSignal(shutdown, args.durationMs),
          limit: args.count,
        },
        published,
      ),
      landing.done,
    ]);
    await producer.close();
    await Promise.race([landing.drain(), landing.done]);
  } finally {
    stopProgress();
    await producer.close();
    await landing.stop();
  }
  await landing.done;
  log.info("landed", {
    published: published.published,
    source_rejects: published.rejected,
    ...skipFields(source.stats),
    events: landed.events,
    dead_letters: landed.deadLetters,
    objects: landed.objects,
  });
  if (shutdown.aborted) return 130;

  // 2. Lake → warehouse.
  const warehouse = await openWarehouse(config);
  try {
    const totals = await loadNewObjects({
      lake,
      warehouse,
      topic: config.topic,
      filesPerLoad: config.loadMaxFiles,
      signal: shutdown,
    });
    log.info("loaded", { ...totals });
  } finally {
    await warehouse.close();
  }

  // 3. dbt build.
  const dbt = await runDbt(["build"], {
    duckdbPath: config.duckdbPath,
    target: config.dbtTarget,
  });
  if (!dbt.success) {
    console.error(dbt.output);
    return dbt.code || 1;
  }

  // 4. What the gold layer now says.
  console.log(formatSummary(await readGoldSummary(config.duckdbPath)));
});
