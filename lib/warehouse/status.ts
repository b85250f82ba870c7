/**
 * What `deno task status` (lib/app/status.ts) reads of a warehouse, in one
 * visit: per kind, discovery's marks (where the lake's listing of what
 * landed starts), each partition's newest loaded offset and when it was
 * loaded, the newest stream timestamp of the newest load, silver's and
 * gold's newest `transformed_at`, and the loader's refused lines by rule.
 *
 * Every read is small whatever the history: the loaded offsets come from
 * `raw.loaded_ranges` (one row per run of offsets a load inserted, about one
 * per lake object, never RAW's rows), the newest event from RAW's rows of
 * the newest load only, the rest from maxima and small tables.
 *
 * DuckDB reads the file opened read-only for a moment, and gold from the
 * gold copy (./duckdb/status.ts); Snowflake reads through a session
 * (./snowflake/status.ts). This file holds what both share.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import type { DiscoveryState } from "./warehouse.ts";

/** One kind's topic of one log, as the status asks the warehouse about it. */
export interface StatusRequest {
  /** The kind, whose RAW, silver and gold tables are read. */
  kind: EventKind;
  /** The topic (also the lake prefix discovery's marks are kept under). */
  topic: string;
  /** The log's identity (see `Stream.identity()`). */
  streamId: string;
  /** Days before the newest marked day whose marks are read (discovery's lookback). */
  lookbackDays: number;
}

/** The newest loaded offset of one partition. */
export interface LoadedPartition {
  /** The partition. */
  partition: number;
  /** The newest offset in RAW. */
  lastOffset: number;
  /** When it was loaded, epoch milliseconds. */
  loadedAt: number;
}

/** How many lines broke one rule of one field. */
export interface RuleCount {
  /** The field, or `event` when the whole event was unusable. */
  field: string;
  /** The rule it broke. */
  rule: string;
  /** Lines. */
  count: number;
}

/** What the warehouse says of one kind. Fields are null where it could not be read. */
export interface KindFacts {
  /** The kind. */
  kind: EventKind;
  /** Discovery's marks and sweep of the topic, or null when RAW could not be read. */
  discovery: DiscoveryState | null;
  /** Each partition's newest loaded offset, or null when RAW could not be read. */
  loaded: LoadedPartition[] | null;
  /** The newest stream timestamp of the rows of the newest load, epoch ms. */
  rawEventAt: number | null;
  /** Silver's newest `transformed_at`, epoch ms; null when not built or not read. */
  silverAt: number | null;
  /** Gold's newest `transformed_at` (candles of the kind), epoch ms. */
  goldAt: number | null;
  /** The loader's refused lines by rule, or null when RAW could not be read. */
  rejected: RuleCount[] | null;
}

/** The process holding a warehouse file that the status could not open. */
export interface Holder {
  /** Its process id. */
  pid: number;
  /** Its program. */
  program: string;
  /** Its command line, when the operating system tells. */
  commandLine?: string;
}

/** What the warehouse says, per kind asked about. */
export interface WarehouseFacts {
  /** Where it is, without credentials. */
  location: string;
  /** Why RAW and silver were not read (the file is held, or does not exist), or null. */
  unavailable: string | null;
  /** Who holds the file, when that is why and the operating system tells. */
  heldBy: Holder | null;
  /** Where gold was read: the gold copy's path, or the warehouse. */
  goldSource: string;
  /** When the gold copy was published, epoch ms (DuckDB), or null. */
  goldPublishedAt: number | null;
  /** Per kind, in the order asked. */
  kinds: KindFacts[];
}

/** A warehouse as the status reads it. */
export interface WarehouseStatusReader {
  /** Where it is, without credentials. */
  readonly location: string;
  /**
   * Reads the facts of the given kinds in one visit.
   *
   * @param requests The kinds' topics and logs.
   * @returns The facts; what could not be read for want of the file's lock is null, with the reason.
   * @throws {Error} When the warehouse fails otherwise (a refused login, a broken file).
   */
  read(requests: StatusRequest[]): Promise<WarehouseFacts>;
}

/** Silver's and gold's table of each kind, `schema.table`, whose newest `transformed_at` is its freshness. */
export const LAYER_TABLES: Readonly<
  Record<EventKind, { silver: string; gold: string }>
> = {
  quotes: {
    silver: "silver.silver_clean_stock_quotes",
    gold: "gold.gold_candles",
  },
  trades: {
    silver: "silver.silver_clean_stock_trades",
    gold: "gold.gold_trade_candles",
  },
};

/**
 * A number as a driver returns it (number, bigint or text), or null.
 *
 * @param value The value.
 * @returns The number, or null when the value is null, undefined or not a number.
 */
export function numberOrNull(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const number = Number(value);
  return Number.isFinite(number) ? number : null;
}

/**
 * Loaded offsets from rows of (partition, last offset, loaded_at in epoch ms).
 *
 * @param rows The rows, any numeric type the driver returns.
 * @returns One entry per partition, in row order.
 */
export function loadedFromRows(
  rows: Iterable<readonly unknown[]>,
): LoadedPartition[] {
  return [...rows].map(([partition, lastOffset, loadedAt]) => ({
    partition: Number(partition),
    lastOffset: Number(lastOffset),
    loadedAt: Number(loadedAt),
  }));
}

/**
 * Rule counts from rows of (field, rule, count).
 *
 * @param rows The rows.
 * @returns The counts, in row order.
 */
export function ruleCountsFromRows(
  rows: Iterable<readonly unknown[]>,
): RuleCount[] {
  return [...rows].map(([field, rule, count]) => ({
    field: String(field),
    rule: String(rule),
    count: Number(count),
  }));
}

/**
 * The facts of a kind whose RAW and silver could not be read: only gold, if any.
 *
 * @param kind The kind.
 * @param goldAt Gold's newest `transformed_at`, if read.
 * @returns The facts.
 */
export function unreadFacts(
  kind: EventKind,
  goldAt: number | null = null,
): KindFacts {
  return {
    kind,
    discovery: null,
    loaded: null,
    rawEventAt: null,
    silverAt: null,
    goldAt,
    rejected: null,
  };
}
