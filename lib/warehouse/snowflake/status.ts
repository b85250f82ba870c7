/**
 * `deno task status`'s reads of the Snowflake warehouse (../status.ts),
 * through a session: the same facts as DuckDB's, from the same tables, in
 * Snowflake's SQL (./sql.ts). Gold is read in the warehouse itself, as
 * Snowflake has no gold copy, and readers never lock its tables.
 *
 * @module
 */
import type { EventKind } from "../../contract/kinds.ts";
import type { SnowflakeSession } from "./session.ts";
import {
  STATUS_LOADED,
  STATUS_TABLES,
  statusNewestSql,
  statusRawEventSql,
  statusRejectedSql,
} from "./sql.ts";
import { readDiscoveryState } from "./warehouse.ts";
import {
  type KindFacts,
  LAYER_TABLES,
  loadedFromRows,
  numberOrNull,
  ruleCountsFromRows,
  type StatusRequest,
  type WarehouseFacts,
  type WarehouseStatusReader,
} from "../status.ts";

/** The Snowflake warehouse as the status reads it. */
export class SnowflakeStatusReader implements WarehouseStatusReader {
  /** Account and database, without credentials. */
  readonly location: string;
  readonly #session: SnowflakeSession;

  /**
   * Reads through `session`, which stays open (its owner closes it).
   *
   * @param session A connected session whose role may read RAW, silver and gold.
   */
  constructor(session: SnowflakeSession) {
    this.#session = session;
    this.location = session.location;
  }

  /**
   * Reads the facts of each kind asked about.
   *
   * @param requests The kinds' topics and logs.
   * @returns The facts; a table dbt has not built yet reads as null.
   * @throws {Error} When a statement fails, e.g. the role may not read a schema.
   */
  async read(requests: StatusRequest[]): Promise<WarehouseFacts> {
    const session = this.#session;
    const rows = async (sql: string, binds: (string | number)[] = []) =>
      (await session.execute(sql, binds)).rows.map((row) => Object.values(row));
    const tables = new Set((await rows(STATUS_TABLES)).map(([n]) => String(n)));
    const newest = async (table: string) =>
      tables.has(table)
        ? numberOrNull((await rows(statusNewestSql(table)))[0]?.[0])
        : null;
    const kinds: KindFacts[] = [];
    for (const { kind, topic, streamId, lookbackDays } of requests) {
      kinds.push(
        await this.#kind(kind, topic, streamId, lookbackDays, rows, newest),
      );
    }
    return {
      location: this.location,
      unavailable: null,
      heldBy: null,
      goldSource: this.location,
      goldPublishedAt: null,
      kinds,
    };
  }

  async #kind(
    kind: EventKind,
    topic: string,
    streamId: string,
    lookbackDays: number,
    rows: (sql: string, binds?: (string | number)[]) => Promise<unknown[][]>,
    newest: (table: string) => Promise<number | null>,
  ): Promise<KindFacts> {
    const discovery = await readDiscoveryState(
      this.#session,
      topic,
      lookbackDays,
    );
    const loaded = loadedFromRows(await rows(STATUS_LOADED, [streamId, topic]));
    const newestLoad = Math.max(...loaded.map((p) => p.loadedAt));
    const rawEventAt = loaded.length === 0 ? null : numberOrNull(
      (await rows(statusRawEventSql(kind), [streamId, topic, newestLoad]))[0]
        ?.[0],
    );
    return {
      kind,
      discovery,
      loaded,
      rawEventAt,
      silverAt: await newest(LAYER_TABLES[kind].silver),
      goldAt: await newest(LAYER_TABLES[kind].gold),
      rejected: ruleCountsFromRows(await rows(statusRejectedSql(kind))),
    };
  }
}
