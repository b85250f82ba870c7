/**
 * The pipeline's metrics, through prom-client: every metric's definition
 * and what feeds it (./endpoint.ts serves them). docs/metrics.md lists each
 * metric with its type, labels and meaning.
 *
 * Two ways in, so that no event pays for a metric:
 *
 * - The stages below keep running totals already: the publisher's
 *   `PublishStats`, a source's `SourceStats`, the lake sink's `LandingStats`
 *   and tallies. The counters here mirror them, read at each scrape
 *   ({@linkcode PipelineMetrics.watchPublisher}, `watchSource`,
 *   `watchLanding`); a landing's lag is read from the stream then too.
 * - What the real-time cycle measures (events loaded, load and dbt
 *   durations, freshness) is observed as it happens by lib/app/, above this
 *   file, through the `count…`, `observe…` and `set…` methods.
 *
 * One instance serves a process: {@linkcode metrics}.
 *
 * @module
 */
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from "prom-client";
import type { Landing, PartitionLag } from "../../land/landing.ts";
import type { LakeSink } from "../../land/sink.ts";
import type { PublishStats } from "../../produce/publisher.ts";
import type { Source } from "../../produce/source.ts";
import {
  FINNHUB_FAILURES,
  FinnhubSource,
} from "../../produce/sources/finnhub.ts";
import { FinnhubTradesSource } from "../../produce/sources/finnhub_trades.ts";
import { logger } from "../../runtime/log.ts";
import { MirroredCounter } from "./mirrored_counter.ts";

const log = logger("metrics");

/** A layer of the warehouse whose freshness is measured. */
export type Layer = "raw" | "gold";

/** How long a scrape waits for a landing's lag, in milliseconds; after it, the lag is left out. */
const LAG_DEADLINE_MS = 2_000;

/** Load step durations, in seconds: a load that finds nothing takes 0.02 s, a backfill minutes. */
const LOAD_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** dbt run durations, in seconds: the frequent models take a few, a build with tests more. */
const DBT_BUCKETS = [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600];

/** Freshness, in seconds, around the targets (RAW within 2 s, gold within 5 s). */
const FRESHNESS_BUCKETS = [
  0.5,
  1,
  1.5,
  2,
  3,
  5,
  7.5,
  10,
  15,
  30,
  60,
  120,
  300,
];

/** The landing as the metrics read it: its sink's totals and its lag. */
export type WatchedLanding = Pick<Landing, "lag"> & {
  /** The sink, with its running totals and tallies. */
  readonly sink: Pick<LakeSink, "stats" | "tallies">;
};

/** A landing whose lag the gauge reads, and the read under way, if any. */
interface LagReader {
  topic: string;
  landing: Pick<Landing, "lag">;
  reading?: Promise<PartitionLag[]>;
}

/** The pipeline's metrics on a registry of their own. */
export class PipelineMetrics {
  /** The registry every metric is on. */
  readonly registry: Registry = new Registry();

  readonly #published: MirroredCounter<"topic">;
  readonly #sourceRejects: MirroredCounter<"source">;
  readonly #finnhubRequests: MirroredCounter<never>;
  readonly #finnhubFailures: MirroredCounter<"reason">;
  readonly #wsReconnects: MirroredCounter<never>;
  readonly #landed: MirroredCounter<"topic">;
  readonly #deadLetters: MirroredCounter<"topic" | "field" | "rule">;
  readonly #objects: MirroredCounter<"topic" | "reason">;
  readonly #bytes: MirroredCounter<"topic">;
  readonly #retries: MirroredCounter<"topic">;
  readonly #lagReaders = new Set<LagReader>();
  readonly #lag: Gauge<"topic" | "partition">;
  readonly #loaded: Counter<"topic">;
  readonly #refused: Counter<"topic">;
  readonly #loadSeconds: Histogram<"topic">;
  readonly #dbtSeconds: Histogram<"command">;
  readonly #freshness: Histogram<"layer">;
  readonly #asOf: Gauge<"layer">;

  #processMetrics = false;

  /** Defines every metric on a new registry. */
  constructor() {
    const registry = this.registry;
    const mirror = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[] = [],
    ) => new MirroredCounter<L>({ name, help, labelNames }, registry);

    // Producing.
    this.#published = mirror(
      "stocks_events_published_total",
      "Events the stream acknowledged, by topic.",
      ["topic"],
    );
    this.#sourceRejects = mirror(
      "stocks_source_rejects_total",
      "Source inputs rejected by the event contract and dead-lettered under dead-letter/source=<name>/, by source.",
      ["source"],
    );
    this.#finnhubRequests = mirror(
      "stocks_finnhub_requests_total",
      "Calls to Finnhub's /quote, retries included.",
    );
    this.#finnhubFailures = mirror(
      "stocks_finnhub_request_failures_total",
      "Finnhub calls that failed, by reason; rate_limited is HTTP 429.",
      ["reason"],
    );
    this.#wsReconnects = mirror(
      "stocks_finnhub_ws_reconnects_total",
      "Reconnections of the Finnhub trades WebSocket (after a close, an error or silence).",
    );

    // Landing.
    this.#landed = mirror(
      "stocks_events_landed_total",
      "Valid events landed in the lake and committed, by topic.",
      ["topic"],
    );
    this.#deadLetters = mirror(
      "stocks_dead_letters_total",
      "Invalid messages landed under dead-letter/ and committed, by topic, field and rule broken.",
      ["topic", "field", "rule"],
    );
    this.#objects = mirror(
      "stocks_lake_objects_written_total",
      "Lake objects written (events and dead letters), by topic and why their batch was landed: count, bytes, age, revoke or drain.",
      ["topic", "reason"],
    );
    this.#bytes = mirror(
      "stocks_lake_written_bytes_total",
      "Compressed bytes of the lake objects written, by topic.",
      ["topic"],
    );
    this.#retries = mirror(
      "stocks_lake_write_retries_total",
      "Landing attempts that failed and were retried, nothing committed meanwhile, by topic.",
      ["topic"],
    );
    this.#lag = new Gauge({
      name: "stocks_consumer_lag_messages",
      help:
        "Messages of a partition not landed yet: its end offset minus the consumer group's committed offset, read at each scrape.",
      labelNames: ["topic", "partition"],
      registers: [registry],
      collect: () => this.#collectLag(),
    });

    // Loading and transforming.
    this.#loaded = new Counter({
      name: "stocks_events_loaded_total",
      help: "Rows inserted into RAW, by topic.",
      labelNames: ["topic"],
      registers: [registry],
    });
    this.#refused = new Counter({
      name: "stocks_load_refused_lines_total",
      help:
        "Landed lines the loader refused (kept in RAW's rejected tables), by topic.",
      labelNames: ["topic"],
      registers: [registry],
    });
    this.#loadSeconds = new Histogram({
      name: "stocks_load_duration_seconds",
      help:
        "Duration of one topic's load step: listing the lake and loading what is new.",
      labelNames: ["topic"],
      buckets: LOAD_BUCKETS,
      registers: [registry],
    });
    this.#dbtSeconds = new Histogram({
      name: "stocks_dbt_run_duration_seconds",
      help:
        "Duration of one dbt command of the real-time cycle, by command: seed, run (the models) or build (models and tests).",
      labelNames: ["command"],
      buckets: DBT_BUCKETS,
      registers: [registry],
    });
    this.#freshness = new Histogram({
      name: "stocks_freshness_seconds",
      help:
        "Age of each quote, from its fetched_at, when it reached a layer: its RAW row committed (raw), or its gold_latest_kpi row built (gold).",
      labelNames: ["layer"],
      buckets: FRESHNESS_BUCKETS,
      registers: [registry],
    });
    this.#asOf = new Gauge({
      name: "stocks_layer_as_of_timestamp_seconds",
      help:
        "Every lake object landed before this time is in the layer: RAW (raw), or RAW and then a finished dbt run (gold).",
      labelNames: ["layer"],
      registers: [registry],
    });
  }

  /**
   * Adds prom-client's metrics of the process (`process_cpu_seconds_total`,
   * `process_resident_memory_bytes`, the V8 heap, …), once; the endpoint
   * does, so that only a process that serves metrics reads them.
   */
  addProcessMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Mirrors a publishing run's totals: `stocks_events_published_total` and
   * `stocks_source_rejects_total`.
   *
   * @param topic The topic it publishes to.
   * @param source The source's name.
   * @param stats The totals the publisher updates.
   * @returns Stops watching; what was counted stays counted.
   */
  watchPublisher(
    topic: string,
    source: string,
    stats: PublishStats,
  ): () => void {
    return all(
      this.#published.watch(() => [[{ topic }, stats.published]]),
      this.#sourceRejects.watch(() => [[{ source }, stats.rejected]]),
    );
  }

  /**
   * Mirrors a source's own counters where it keeps some the metrics show:
   * the Finnhub source's calls and failures, the Finnhub trades source's
   * reconnections. Any other source adds nothing.
   *
   * @param source The source.
   * @returns Stops watching.
   */
  watchSource(source: Source): () => void {
    const { stats } = source;
    if (source instanceof FinnhubSource) {
      return all(
        this.#finnhubRequests.watch(() => [[{}, stats.counts?.requests ?? 0]]),
        this.#finnhubFailures.watch(() =>
          FINNHUB_FAILURES.map((reason) => [
            { reason },
            stats.skipped[reason] ?? 0,
          ])
        ),
      );
    }
    if (source instanceof FinnhubTradesSource) {
      return this.#wsReconnects.watch(() => [
        [{}, stats.counts?.reconnects ?? 0],
      ]);
    }
    return () => {};
  }

  /**
   * Mirrors a landing's totals (events landed, dead letters by rule,
   * objects by reason, bytes, retries) and reads its lag at each scrape.
   *
   * @param topic The topic it lands.
   * @param landing The landing.
   * @returns Stops watching; call it before the landing stops.
   */
  watchLanding(topic: string, landing: WatchedLanding): () => void {
    const { stats, tallies } = landing.sink;
    const lag: LagReader = { topic, landing };
    this.#lagReaders.add(lag);
    return all(
      () => this.#lagReaders.delete(lag),
      this.#landed.watch(() => [[{ topic }, stats.events]]),
      this.#deadLetters.watch(() =>
        [...tallies.deadLettersByRule.values()].map((
          { field, rule, count },
        ) => [{ topic, field, rule }, count])
      ),
      this.#objects.watch(() =>
        Object.entries(tallies.objectsByReason).map((
          [reason, count],
        ) => [{ topic, reason }, count ?? 0])
      ),
      this.#bytes.watch(() => [[{ topic }, stats.bytes]]),
      this.#retries.watch(() => [[{ topic }, stats.retries]]),
    );
  }

  /**
   * Counts what a load transaction (or several) put into RAW.
   *
   * @param topic The topic loaded.
   * @param inserted Rows inserted.
   * @param refused Lines refused.
   */
  countLoaded(topic: string, inserted: number, refused: number): void {
    this.#loaded.inc({ topic }, inserted);
    this.#refused.inc({ topic }, refused);
  }

  /**
   * Records how long one topic's load step took.
   *
   * @param topic The topic loaded.
   * @param ms Milliseconds.
   */
  observeLoad(topic: string, ms: number): void {
    this.#loadSeconds.observe({ topic }, ms / 1000);
  }

  /**
   * Records how long one dbt command took.
   *
   * @param command `seed`, `run` or `build`.
   * @param ms Milliseconds.
   */
  observeDbtRun(command: string, ms: number): void {
    this.#dbtSeconds.observe({ command }, ms / 1000);
  }

  /**
   * Records one quote's freshness in a layer.
   *
   * @param layer `raw` or `gold`.
   * @param ms Milliseconds from its `fetched_at`.
   */
  observeFreshness(layer: Layer, ms: number): void {
    this.#freshness.observe({ layer }, ms / 1000);
  }

  /**
   * Sets when a layer was last complete: every object landed before then is
   * in it.
   *
   * @param layer `raw` or `gold`.
   * @param epochMs The time, epoch milliseconds.
   */
  setAsOf(layer: Layer, epochMs: number): void {
    this.#asOf.set({ layer }, epochMs / 1000);
  }

  /**
   * Every metric in Prometheus' text format, its mirrored totals and lag
   * read now.
   *
   * @returns The text.
   */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Reads each watched landing's lag; one that fails or takes too long is left out of this scrape. */
  async #collectLag(): Promise<void> {
    const readings = await Promise.all(
      [...this.#lagReaders].map(async (reader) => {
        try {
          // A read still under way from the last scrape is awaited, not doubled.
          reader.reading ??= reader.landing.lag().finally(() =>
            reader.reading = undefined
          );
          return { topic: reader.topic, lag: await within(reader.reading) };
        } catch (error) {
          log.debug("left a landing's lag out of a scrape", {
            topic: reader.topic,
            error,
          });
          return { topic: reader.topic, lag: [] };
        }
      }),
    );
    this.#lag.reset();
    for (const { topic, lag } of readings) {
      for (const { partition, messages } of lag) {
        this.#lag.set({ topic, partition: String(partition) }, messages);
      }
    }
  }
}

/** The metrics of this process. */
export const metrics: PipelineMetrics = new PipelineMetrics();

/** Calls every function given, in order. */
function all(...stops: (() => unknown)[]): () => void {
  return () => {
    for (const stop of stops) stop();
  };
}

/** Settles as `work` does, or rejects after {@linkcode LAG_DEADLINE_MS}. */
async function within<T>(work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${LAG_DEADLINE_MS} ms`)),
          LAG_DEADLINE_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
