/**
 * Gathers the facts of `deno task status` into one
 * {@linkcode PipelineStatus} (lib/ops/status.ts judges and renders it): per
 * kind and partition, the stream's end offset and the lake group's
 * committed offset, what landed (the newest object name per partition, as
 * the loader's discovery lists them: lib/load/discovery.ts) and what is in
 * RAW (lib/warehouse/status.ts); the freshness of RAW, silver and gold; the
 * last dbt run (dbt's run_results.json) and the follow service's status
 * file; the dead letters by rule.
 *
 * What one call costs, per kind: Kafka, one admin connection for the log's
 * identity and one consumer and admin connection for the offsets (no group
 * is joined, so the running lake consumer is not disturbed; the embedded
 * stream reads its files); the lake, the listings of a load that finds
 * nothing new plus what landed since the last load, and one day of dead
 * letters; the warehouse, a few small queries (DuckDB: the file opened
 * read-only for them, the gold copy for gold). Nothing grows with the
 * history, so a dashboard may call {@linkcode gatherStatus} every few
 * seconds; on DuckDB each call keeps a writer out for the moment of its
 * queries (the writer waits for the lock, as it does for dbt).
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import type { Lake } from "../lake/lake.ts";
import { streamTag } from "../lake/keys.ts";
import { DEFAULT_LOOKBACK_DAYS, landedEnds } from "../load/discovery.ts";
import { countDeadLetters } from "../ops/dead_letters.ts";
import type {
  FollowSnapshot,
  KindStatus,
  LayerFreshness,
  PartitionStatus,
  PipelineStatus,
} from "../ops/status.ts";
import type { Config } from "../runtime/config.ts";
import type { Stream } from "../stream/stream.ts";
import { readLastDbtRun, RUN_RESULTS_PATH } from "../transform/run_results.ts";
import {
  type KindFacts,
  LAYER_TABLES,
  type WarehouseStatusReader,
} from "../warehouse/status.ts";
import { type FollowStatus, readStatusFile } from "./follow_status.ts";
import { laneOf, openLake, openStatusReader, openStream } from "./wiring.ts";

/** One kind's stream and the lake consumer's group. */
export interface StatusKind {
  /** The kind. */
  kind: EventKind;
  /** Its stream (the kind's topic). */
  stream: Stream;
  /** The lake consumer's group of the kind. */
  groupId: string;
}

/** What {@linkcode gatherStatus} reads. */
export interface StatusSources {
  /** The kinds, in the order shown. */
  kinds: StatusKind[];
  /** The lake. */
  lake: Lake;
  /** The warehouse, as the status reads it. */
  warehouse: WarehouseStatusReader;
  /**
   * dbt's results of its last command.
   *
   * @default {RUN_RESULTS_PATH}
   */
  runResultsPath?: string;
  /** `deno task follow`'s status file, if one may exist. */
  followStatusPath?: string;
  /**
   * Clock, epoch milliseconds: the time ages are measured to.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * Gathers the pipeline's status.
 *
 * @param sources The streams, lake and warehouse, and where dbt and the
 * follow service write their results.
 * @returns The status; what the warehouse could not tell (its file held by
 * a writer) is null in it, with the reason.
 * @throws {Error} When the stream, the lake or the warehouse cannot be read
 * (Kafka or S3 unreachable, a refused login).
 */
export async function gatherStatus(
  sources: StatusSources,
): Promise<PipelineStatus> {
  const {
    kinds,
    lake,
    warehouse,
    runResultsPath = RUN_RESULTS_PATH,
    followStatusPath,
    now = Date.now,
  } = sources;
  const streams = await Promise.all(kinds.map(readStream));
  const [facts, dbt, follow] = await Promise.all([
    warehouse.read(kinds.map(({ kind, stream }, i) => ({
      kind,
      topic: stream.topic,
      streamId: streams[i].streamId,
      lookbackDays: DEFAULT_LOOKBACK_DAYS,
    }))),
    readLastDbtRun(runResultsPath),
    followStatusPath === undefined
      ? null
      : readStatusFile(followStatusPath).then((file) =>
        file === null ? null : followSnapshot(file, followStatusPath)
      ),
  ]);
  const at = now();
  const statuses: KindStatus[] = [];
  for (const [i, source] of kinds.entries()) {
    statuses.push(
      await kindStatus(source, streams[i], facts.kinds[i], lake, at),
    );
  }
  return {
    at: new Date(at).toISOString(),
    stream: kinds[0]?.stream.location ?? "",
    lake: lake.location,
    warehouse: {
      location: facts.location,
      unavailable: facts.unavailable,
      heldBy: facts.heldBy,
      goldSource: facts.goldSource,
      goldPublishedAt: iso(facts.goldPublishedAt),
    },
    kinds: statuses,
    dbt,
    follow,
  };
}

/** What the stream says of one kind: its log, and each partition's offsets. */
interface StreamFacts {
  streamId: string;
  starts: Map<number, number>;
  ends: { partition: number; offset: number }[];
  committed: Map<number, number>;
}

async function readStream(
  { stream, groupId }: StatusKind,
): Promise<StreamFacts> {
  const streamId = await stream.identity();
  // A consumer that never runs joins no group: it only reads offsets.
  const consumer = await stream.consumer(groupId);
  try {
    const [starts, ends, committed] = await Promise.all([
      consumer.startOffsets(),
      consumer.endOffsets(),
      consumer.committedOffsets(),
    ]);
    const byPartition = (list: { partition: number; offset: number }[]) =>
      new Map(list.map(({ partition, offset }) => [partition, offset]));
    return {
      streamId,
      starts: byPartition(starts),
      ends,
      committed: byPartition(committed),
    };
  } finally {
    await consumer.stop();
  }
}

async function kindStatus(
  { kind, stream, groupId }: StatusKind,
  streamFacts: StreamFacts,
  facts: KindFacts,
  lake: Lake,
  at: number,
): Promise<KindStatus> {
  const { streamId, starts, ends, committed } = streamFacts;
  const [landed, lakeDeadLetters] = await Promise.all([
    facts.discovery === null ? null : landedEnds(
      lake,
      stream.topic,
      streamTag(streamId),
      facts.discovery,
    ),
    countDeadLetters(lake, stream.topic),
  ]);
  const loaded = facts.loaded === null
    ? null
    : new Map(facts.loaded.map((p) => [p.partition, p.lastOffset + 1]));
  const partitions: PartitionStatus[] = ends.map(({ partition, offset }) => {
    const start = starts.get(partition) ?? 0;
    const upTo = Math.max(committed.get(partition) ?? start, start);
    const landedEnd = landed?.get(partition);
    const loadedEnd = loaded?.get(partition);
    return {
      partition,
      end: offset,
      committed: upTo,
      landed: landedEnd === undefined ? null : landedEnd + 1,
      loaded: loadedEnd ?? null,
      streamLag: Math.max(0, offset - upTo),
      loadLag: loaded === null
        ? null
        : Math.max(0, upTo - Math.max(loadedEnd ?? start, start)),
    };
  });
  const newestLoad = facts.loaded === null || facts.loaded.length === 0
    ? null
    : Math.max(...facts.loaded.map((p) => p.loadedAt));
  const fresh = (time: number | null, measure: string): LayerFreshness => ({
    at: iso(time),
    ageSeconds: time === null ? null : Math.max(0, (at - time) / 1000),
    measure,
  });
  const tables = LAYER_TABLES[kind];
  return {
    kind,
    topic: stream.topic,
    groupId,
    streamId,
    partitions,
    lag: partitions.reduce((n, p) => n + p.streamLag + (p.loadLag ?? 0), 0),
    freshness: {
      raw: fresh(newestLoad, "newest loaded_at in raw.loaded_ranges"),
      silver: fresh(
        facts.silverAt,
        `newest transformed_at in ${tables.silver}`,
      ),
      gold: fresh(facts.goldAt, `newest transformed_at in ${tables.gold}`),
    },
    newestEventAt: iso(facts.rawEventAt),
    deadLetters: { lake: lakeDeadLetters, loader: facts.rejected },
  };
}

function followSnapshot(file: FollowStatus, source: string): FollowSnapshot {
  return {
    step: file.step,
    updatedAt: file.updated_at,
    cycles: file.cycles,
    dbtRuns: file.dbt_runs,
    lastDbtMs: file.last_dbt_ms,
    error: file.error ?? null,
    source,
  };
}

function iso(time: number | null): string | null {
  return time === null ? null : new Date(time).toISOString();
}

/**
 * Kafka's retries for the status: a connection tried twice, each read three
 * times, so that an unreachable broker is reported within seconds, where the
 * pipeline's stages keep trying for a minute and more.
 */
const STATUS_KAFKA = {
  retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1_000 },
  adminRetry: { maxAttempts: 3, baseMs: 200, maxMs: 1_000 },
};

/** The configured sources of the status, and how to release them. */
export interface OpenStatusSources extends StatusSources {
  /** Releases the warehouse session (Snowflake) and the lake's client. */
  close(): Promise<void>;
}

/**
 * The status's sources as configured: each kind's stream and group
 * (lib/app/wiring.ts), the lake, the warehouse's status reader (DuckDB: the
 * file and its gold copy; Snowflake: a session), dbt's run results and
 * `FOLLOW_STATUS_PATH`.
 *
 * @param config Settings.
 * @param kinds The kinds to report.
 * @returns The sources; close them after the last gathering.
 * @throws {Error} When the Snowflake session cannot be opened.
 */
export async function openStatusSources(
  config: Config,
  kinds: readonly EventKind[],
): Promise<OpenStatusSources> {
  const lake = openLake(config);
  const warehouse = await openStatusReader(config);
  return {
    kinds: kinds.map((kind) => ({
      kind,
      stream: openStream(config, kind, STATUS_KAFKA),
      groupId: laneOf(config, kind).groupId,
    })),
    lake,
    warehouse: warehouse.reader,
    followStatusPath: config.followStatusPath,
    async close() {
      (lake as { close?: () => void }).close?.();
      await warehouse.close();
    },
  };
}
