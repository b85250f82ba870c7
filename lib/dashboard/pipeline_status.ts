/**
 * The pipeline's status for the dashboard's panel: the `PipelineStatus` of
 * `deno task status` (lib/app/status.ts: offsets per partition, freshness,
 * the last dbt run, dead letters by rule), gathered on demand while a page
 * is open, at most once per {@linkcode PipelineStatusOptions.maxAgeMs}
 * however many pages ask.
 *
 * Gathering reads RAW from the DuckDB warehouse opened read-only for a few
 * queries, between the writer's transactions (it waits up to 2 s for the
 * lock, then reports the file held). Inside the demo's own process, which
 * writes that file, the panel never opens it (`readWarehouse: false`): RAW's
 * offsets are then reported as not read, and the stream's, the lake's, dbt's
 * and gold's facts still are.
 *
 * @module
 */
import { type OpenStatusSources, openStatusSources } from "../app/status.ts";
import { gatherStatus } from "../app/status.ts";
import { configuredGoldCopy } from "../app/gold_copy.ts";
import { EVENT_KINDS } from "../contract/kinds.ts";
import type { PipelineStatus } from "../ops/status.ts";
import type { Config } from "../runtime/config.ts";
import {
  unreadFacts,
  type WarehouseStatusReader,
} from "../warehouse/status.ts";

/** Why RAW is not read inside the demo's process. */
const NOT_READ =
  "not read by the dashboard in the demo's own process, which writes the warehouse";

/** Options for {@linkcode pipelineStatus}. */
export interface PipelineStatusOptions {
  /** Settings: the stream, the lake, the warehouse, `FOLLOW_STATUS_PATH`. */
  config: Config;
  /**
   * Whether to read RAW from the warehouse; false inside a process that
   * writes it.
   *
   * @default {true}
   */
  readWarehouse?: boolean;
  /**
   * A status younger than this is answered again instead of gathered, in
   * milliseconds.
   *
   * @default {2000}
   */
  maxAgeMs?: number;
}

/** Gathers the pipeline's status, and releases what that holds. */
export interface PipelineStatusSource {
  /**
   * The status, gathered now or at most `maxAgeMs` ago.
   *
   * @throws {Error} When the stream, the lake or the warehouse cannot be read.
   */
  gather(): Promise<PipelineStatus>;
  /** Releases the sources (a Snowflake session, the lake's client). */
  close(): Promise<void>;
}

/**
 * The pipeline's status as the configured sources tell it, opened on the
 * first gathering (and again after a failure to open them).
 *
 * @param options Settings, whether to read RAW, and how long a status is kept.
 * @returns The source of statuses.
 */
export function pipelineStatus(
  options: PipelineStatusOptions,
): PipelineStatusSource {
  const { config, readWarehouse = true, maxAgeMs = 2_000 } = options;
  let sources: Promise<OpenStatusSources> | undefined;
  let last: { at: number; status: Promise<PipelineStatus> } | undefined;
  const open = async (): Promise<OpenStatusSources> => {
    const opened = await openStatusSources(config, EVENT_KINDS);
    return readWarehouse
      ? opened
      : { ...opened, warehouse: goldOnly(configuredGoldCopy(config)) };
  };
  return {
    gather() {
      const now = performance.now();
      if (last && now - last.at < maxAgeMs) return last.status;
      sources ??= open();
      const opening = sources;
      const status = opening.then(gatherStatus, (error) => {
        if (sources === opening) sources = undefined;
        throw error;
      });
      last = { at: now, status };
      status.catch(() => {
        if (last?.status === status) last = undefined;
      });
      return status;
    },
    async close() {
      const opened = sources;
      sources = undefined;
      await (await opened?.catch(() => undefined))?.close();
    },
  };
}

/** A warehouse reader that reads nothing: RAW and silver not read, for the reason above. */
function goldOnly(goldCopy: string): WarehouseStatusReader {
  return {
    location: "(not read)",
    read: (requests) =>
      Promise.resolve({
        location: "(not read)",
        unavailable: NOT_READ,
        heldBy: null,
        goldSource: goldCopy,
        goldPublishedAt: null,
        kinds: requests.map(({ kind }) => unreadFacts(kind)),
      }),
  };
}
