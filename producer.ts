/**
 * `deno task produce [options]`: publishes events from a source to the topic
 * of their kind (quotes to `KAFKA_TOPIC`, trades to `KAFKA_TRADES_TOPIC`; on
 * Kafka when `KAFKA_BROKERS` is set, else the embedded stream) until the
 * source ends, the bound is reached, or SIGINT/SIGTERM. Serves its metrics
 * at `/metrics` when `METRICS_PORT` is set.
 *
 * @module
 */
import {
  buildSource,
  parseSourceArgs,
  runSignal,
  SOURCE_USAGE,
  sourceKind,
} from "./lib/app/cli.ts";
import { loadConfig } from "./lib/runtime/config.ts";
import { openLake, openStream } from "./lib/app/wiring.ts";
import { logger } from "./lib/runtime/log.ts";
import { preflight } from "./lib/app/preflight.ts";
import { skipFields } from "./lib/produce/source.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";
import { reportProgress } from "./lib/ops/progress.ts";
import { publish, type PublishStats } from "./lib/produce/publisher.ts";
import { configuredMetricsEndpoint } from "./lib/ops/metrics/endpoint.ts";
import { metrics } from "./lib/ops/metrics/registry.ts";

const log = logger("producer");

await runMain(async () => {
  const args = parseSourceArgs(Deno.args);
  if (args.flags.help) {
    console.log(`Usage: deno task produce [options]\n\n${SOURCE_USAGE}`);
    return;
  }
  const config = loadConfig();
  await using _metrics = configuredMetricsEndpoint(config);
  await preflight(config, { stream: true, lake: true });
  const signal = runSignal(shutdownSignal(), args.durationMs);
  const stream = openStream(config, sourceKind(args));
  const lake = openLake(config);
  const source = await buildSource(args, config, stream);
  await stream.ensureTopic();
  const producer = await stream.producer();
  log.info("producing", {
    source: source.name,
    kind: source.kind,
    stream: stream.location,
    topic: stream.topic,
  });
  const stats: PublishStats = { published: 0, rejected: 0 };
  metrics.watchPublisher(stream.topic, source.name, stats);
  metrics.watchSource(source);
  const stop = reportProgress(
    () => ({
      published: stats.published,
      rejected: stats.rejected,
      ...skipFields(source.stats),
    }),
    (counts) => log.info("progress", counts),
    { rateOf: "published" },
  );
  try {
    await publish({ source, producer, lake, signal, limit: args.count }, stats);
  } finally {
    stop();
    await producer.close();
  }
  log.info("producer finished", { ...stats, ...skipFields(source.stats) });
});
