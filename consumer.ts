/**
 * `deno task consume [--kind K] [--drain]`: lands the stream in the lake (the
 * S3 bucket when `S3_BUCKET` is set, else `LAKE_DIR`), committing offsets
 * only after each object is durable: every kind's topic (quotes and trades),
 * each with its own consumer group, or the one `--kind` names. Runs until
 * SIGINT/SIGTERM; with `--drain`, lands what the stream holds now and exits
 * (a one-shot job). Serves its metrics at `/metrics` when `METRICS_PORT` is
 * set.
 *
 * @module
 */
import { parseCommandLine, selectedKinds } from "./lib/app/command_line.ts";
import { loadConfig } from "./lib/runtime/config.ts";
import { flushLimits, laneOf, openLake, openStream } from "./lib/app/wiring.ts";
import { type Landing, startLanding } from "./lib/land/landing.ts";
import { logger } from "./lib/runtime/log.ts";
import { preflight } from "./lib/app/preflight.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";
import { reportProgress } from "./lib/ops/progress.ts";
import { configuredMetricsEndpoint } from "./lib/ops/metrics/endpoint.ts";
import { metrics } from "./lib/ops/metrics/registry.ts";

const log = logger("consumer");

const USAGE = `Usage: deno task consume [--kind quotes|trades] [--drain]
Lands the stream in the lake (S3_BUCKET, else LAKE_DIR), committing each
partition's offset only after its objects are durable. Runs until Ctrl-C or
SIGTERM, then lands what it holds and commits.

  --kind K  land only this kind's topic (KAFKA_TOPIC for quotes,
            KAFKA_TRADES_TOPIC for trades); every kind by default
  --drain   land what the stream holds now, then exit (a one-shot job)`;

await runMain(async () => {
  const values = parseCommandLine("consume", Deno.args, {
    kind: { type: "string" },
    drain: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const kinds = selectedKinds(values.kind);
  const config = loadConfig();
  await using _metrics = configuredMetricsEndpoint(config);
  await preflight(config, { stream: true, lake: true });
  const shutdown = shutdownSignal();
  const lake = openLake(config);
  const landings: { kind: string; landing: Landing }[] = [];
  const unwatch: (() => void)[] = [];
  try {
    for (const kind of kinds) {
      const lane = laneOf(config, kind);
      const stream = openStream(config, kind);
      const landing = await startLanding({
        kind,
        stream,
        lake,
        groupId: lane.groupId,
        limits: flushLimits(config),
      });
      landings.push({ kind, landing });
      unwatch.push(metrics.watchLanding(lane.topic, landing));
      log.info("consuming", {
        kind,
        stream: stream.location,
        topic: lane.topic,
        group: lane.groupId,
        lake: lake.location,
      });
    }
  } catch (error) {
    await Promise.allSettled(landings.map(({ landing }) => landing.stop()));
    throw error;
  }
  // Progress sums the kinds; each kind's totals are logged at the end.
  const stop = reportProgress(
    () => {
      const sum: Record<string, number> = {};
      for (const { landing } of landings) {
        for (const [name, n] of Object.entries(landing.sink.stats)) {
          sum[name] = (sum[name] ?? 0) + n;
        }
      }
      return sum;
    },
    (counts) => log.info("progress", counts),
    { rateOf: "events" },
  );
  const done = Promise.all(landings.map(({ landing }) => landing.done));
  try {
    if (values.drain) {
      await Promise.race([
        Promise.all(landings.map(({ landing }) => landing.drain())),
        done,
      ]);
    } else {
      const stopped = new Promise((resolve) =>
        shutdown.addEventListener("abort", resolve, { once: true })
      );
      await Promise.race([stopped, done]);
    }
  } finally {
    stop();
    for (const stopWatching of unwatch) stopWatching();
    await Promise.allSettled(landings.map(({ landing }) => landing.stop()));
  }
  await done;
  for (const { kind, landing } of landings) {
    log.info("consumer finished", { ...landing.sink.stats, kind });
  }
});
