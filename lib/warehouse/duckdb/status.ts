/**
 * `deno task status`'s reads of the DuckDB warehouse (../status.ts), made
 * so that they never stall the pipeline that writes it:
 *
 * - gold from the gold copy (./gold_copy.ts), which no writer holds;
 * - RAW and silver from the warehouse file opened read-only, for a few
 *   queries, then closed. A reader keeps a writer out while it has the file
 *   open, and a writer keeps the reader out: the status waits a moment for
 *   the lock (`lockWaitMs`), then reports the file held, and by whom
 *   (./lock_holder.ts), instead of waiting on.
 *
 * @module
 */
import { resolve } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { describeHolder, LOCK_CONFLICT, lockHolder } from "./lock_holder.ts";
import { waitForLock } from "./lock_wait.ts";
import {
  STATUS_LOADED,
  STATUS_PUBLISHED,
  STATUS_TABLES,
  statusNewestSql,
  statusRawEventSql,
  statusRejectedSql,
} from "./sql.ts";
import { readDiscoveryState } from "./discovery_state.ts";
import {
  type KindFacts,
  LAYER_TABLES,
  loadedFromRows,
  numberOrNull,
  ruleCountsFromRows,
  type StatusRequest,
  unreadFacts,
  type WarehouseFacts,
  type WarehouseStatusReader,
} from "../status.ts";
import type { EventKind } from "../../contract/kinds.ts";

/** Options for {@linkcode DuckDBStatusReader}. */
export interface DuckDBStatusOptions {
  /** The warehouse file. */
  path: string;
  /** The gold copy. */
  goldCopy: string;
  /**
   * How long to wait for a writer to release the file, in milliseconds,
   * before reporting it held.
   *
   * @default {2000}
   */
  lockWaitMs?: number;
}

/** The DuckDB warehouse as the status reads it. */
export class DuckDBStatusReader implements WarehouseStatusReader {
  /** The warehouse file, absolute. */
  readonly location: string;
  readonly #goldCopy: string;
  readonly #lockWaitMs: number;

  /**
   * Describes the reader; nothing is opened until {@linkcode read}.
   *
   * @param options The warehouse file, its gold copy and the lock wait.
   */
  constructor(options: DuckDBStatusOptions) {
    const { path, goldCopy, lockWaitMs = 2_000 } = options;
    this.location = resolve(path);
    this.#goldCopy = resolve(goldCopy);
    this.#lockWaitMs = lockWaitMs;
  }

  /**
   * Reads gold from the gold copy, then RAW and silver from the warehouse
   * opened read-only.
   *
   * @param requests The kinds' topics and logs.
   * @returns The facts; RAW's and silver's are null, with the reason, when
   * the file does not exist or another process held it for `lockWaitMs`.
   * @throws {Error} When a file cannot be read for another reason.
   */
  async read(requests: StatusRequest[]): Promise<WarehouseFacts> {
    const gold = await readOnly(this.#goldCopy, (query) => readGold(query));
    const goldAt = (kind: EventKind) => gold?.byKind.get(kind) ?? null;
    const facts: WarehouseFacts = {
      location: this.location,
      unavailable: null,
      heldBy: null,
      goldSource: this.#goldCopy,
      goldPublishedAt: gold?.publishedAt ?? null,
      kinds: requests.map((request) => unreadFacts(request.kind)),
    };
    try {
      const kinds = await waitForLock({
        path: this.location,
        action: "read the DuckDB warehouse",
        goldCopy: this.#goldCopy,
        lockWaitMs: this.#lockWaitMs,
        level: "debug",
      }, () => readOnly(this.location, (query) => readRaw(query, requests)));
      if (kinds === undefined) {
        facts.unavailable = "the warehouse file does not exist yet";
        facts.kinds = requests.map((request) =>
          emptyFacts(request.kind, goldAt(request.kind))
        );
      } else {
        facts.kinds = kinds.map((kind) => ({
          ...kind,
          goldAt: goldAt(kind.kind),
        }));
      }
    } catch (error) {
      const cause = (error as Error).cause as Error | undefined;
      if (cause === undefined || !LOCK_CONFLICT.test(cause.message ?? "")) {
        throw error;
      }
      const holder = lockHolder(cause.message);
      facts.unavailable = `the warehouse file is held by ${
        describeHolder(holder)
      }`;
      facts.heldBy = holder ?? null;
      facts.kinds = requests.map((request) =>
        unreadFacts(request.kind, goldAt(request.kind))
      );
    }
    return facts;
  }
}

type Query = (
  sql: string,
  params?: (string | number)[],
) => Promise<unknown[][]>;

/**
 * Runs `work` on a DuckDB file opened read-only, then closes it; undefined
 * when the file does not exist.
 */
async function readOnly<T>(
  path: string,
  work: (query: Query) => Promise<T>,
): Promise<T | undefined> {
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const instance = await DuckDBInstance.create(path, {
    access_mode: "READ_ONLY",
  });
  let connection: DuckDBConnection | undefined;
  try {
    connection = await instance.connect();
    const open = connection;
    return await work(async (sql, params = []) =>
      (await open.runAndReadAll(sql, params)).getRows()
    );
  } finally {
    connection?.closeSync();
    instance.closeSync();
  }
}

/** Gold's newest transform per kind, and when the copy was published. */
async function readGold(query: Query) {
  const tables = await tablesOf(query);
  const byKind = new Map<EventKind, number | null>();
  for (const [kind, { gold }] of Object.entries(LAYER_TABLES)) {
    byKind.set(
      kind as EventKind,
      tables.has(gold) ? await newest(query, gold) : null,
    );
  }
  const publishedAt = tables.has("main.published")
    ? numberOrNull((await query(STATUS_PUBLISHED))[0]?.[0])
    : null;
  return { byKind, publishedAt };
}

/** RAW's and silver's facts of each kind asked about. */
async function readRaw(
  query: Query,
  requests: StatusRequest[],
): Promise<KindFacts[]> {
  const tables = await tablesOf(query);
  const facts: KindFacts[] = [];
  for (const { kind, topic, streamId, lookbackDays } of requests) {
    if (!tables.has("raw.loaded_ranges")) {
      facts.push(emptyFacts(kind));
      continue;
    }
    const discovery = await readDiscoveryState(query, topic, lookbackDays);
    const loaded = loadedFromRows(
      await query(STATUS_LOADED, [streamId, topic]),
    );
    const newestLoad = Math.max(...loaded.map((p) => p.loadedAt));
    const rawEventAt = loaded.length === 0 ? null : numberOrNull(
      (await query(statusRawEventSql(kind), [streamId, topic, newestLoad]))[0]
        ?.[0],
    );
    const silver = LAYER_TABLES[kind].silver;
    facts.push({
      kind,
      discovery,
      loaded,
      rawEventAt,
      silverAt: tables.has(silver) ? await newest(query, silver) : null,
      goldAt: null,
      rejected: ruleCountsFromRows(await query(statusRejectedSql(kind))),
    });
  }
  return facts;
}

/** The facts of a kind of which nothing was loaded: discovery starts from nothing. */
function emptyFacts(kind: EventKind, goldAt: number | null = null): KindFacts {
  return {
    ...unreadFacts(kind, goldAt),
    discovery: { swept: false, marks: [] },
    loaded: [],
    rejected: [],
  };
}

async function tablesOf(query: Query): Promise<Set<string>> {
  return new Set((await query(STATUS_TABLES)).map(([name]) => String(name)));
}

async function newest(query: Query, table: string): Promise<number | null> {
  return numberOrNull((await query(statusNewestSql(table)))[0]?.[0]);
}
