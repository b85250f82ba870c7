/**
 * The Finnhub trades source: Finnhub's trades WebSocket (`FINNHUB_WS_URL`),
 * one connection per key, every symbol subscribed on it, each trade received
 * yielded as one event of the trade contract.
 *
 * - The key is the URL's `token` query parameter, so the URL is never logged
 *   whole: logs name only its origin (scheme, host and port). The key is
 *   registered as a secret as well.
 * - On open, `{"type":"subscribe","symbol":S}` for each symbol; on stop,
 *   `{"type":"unsubscribe","symbol":S}` for each, then a normal close.
 * - `{"type":"ping"}` is answered with nothing, but counts as life.
 *   `{"type":"error","msg":…}` (an invalid symbol, say) is one warning; the
 *   other symbols go on.
 * - `{"type":"trade","data":[…]}`: each element is one trade (`s` is the
 *   symbol; `c` absent or `null` is no codes), `fetched_at` the time the
 *   message was received, `source` `finnhub-trades`. Elements are neither
 *   sorted nor merged: two identical prints are two trades. An element that
 *   breaks the contract goes to `onReject` with its rejection; the others go
 *   on.
 * - Repeated messages: Finnhub has been seen to deliver a whole message more
 *   than once. A trade message whose text is identical, byte for byte, to one
 *   received less than `repeatWindowMs` (5 s) before, among the last
 *   `repeatWindowMessages` (1,000) trade messages, is dropped and counted as
 *   skipped `repeated_message`. A message is a batch of prints with their
 *   millisecond times, so two distinct batches with the same text within
 *   seconds are not expected; anything less than the whole text (a trade
 *   that looks like another, in the same message or another) is never
 *   compared.
 * - Reconnects: when the socket closes or errors, or when nothing at all
 *   (not even a ping) arrives for `idleMs` (`FINNHUB_WS_IDLE_MS`), the source
 *   opens a new connection after a jittered exponential backoff (500 ms
 *   doubling up to 30 s; back to the start once a connection has stayed up
 *   for `healthyMs`, 60 s) and subscribes every symbol again. Trades Finnhub
 *   sent while no connection was up are not sent again by Finnhub.
 * - A refused key (HTTP 401 or 403 at the handshake) stops the source with a
 *   {@linkcode FatalError}. Deno's WebSocket reports a failed handshake only
 *   as an error event; in Deno 2.9 its message names the status (`Invalid
 *   status code: 401`). When it does not, the source asks for the status
 *   with an HTTP upgrade request of its own ({@linkcode handshakeStatus}).
 *
 * Counters (`stats.counts`): `messages`, `trades`, `pings`, `errors`,
 * `reconnects`; skipped (`stats.skipped`): `repeated_message`, `invalid`
 * (trades dead-lettered), `bad_message` (not JSON, or no list of trades),
 * `other_message` (a type not known).
 *
 * Received messages wait in memory until the caller takes their trades; the
 * publisher takes them as fast as the stream acknowledges.
 *
 * @module
 */
import { type Trade, validateTrade } from "../../contract/trade.ts";
import { rejection, SYMBOL_PATTERN } from "../../contract/rules.ts";
import { logger, redact, registerSecret } from "../../runtime/log.ts";
import {
  backoffDelay,
  type BackoffOptions,
  FatalError,
  sleep,
} from "../../runtime/retry.ts";
import { Connection, handshakeStatus } from "./finnhub_ws.ts";
import {
  count,
  countSkip,
  emptyStats,
  type OnReject,
  type SourceStats,
  type TradeSource,
} from "../source.ts";

export { handshakeStatus };

const log = logger("finnhub-trades");

/** Options for {@linkcode FinnhubTradesSource}. */
export interface FinnhubTradesOptions {
  /** Finnhub API key (`FINNHUB_API_KEY`). */
  apiKey: string;
  /** Symbols to subscribe. */
  symbols: string[];
  /**
   * The WebSocket's URL (`FINNHUB_WS_URL`); tests point it at a fake.
   *
   * @default {"wss://ws.finnhub.io"}
   */
  url?: string;
  /**
   * Reconnect when nothing arrives for this long, in milliseconds
   * (`FINNHUB_WS_IDLE_MS`); also the longest wait for a handshake.
   *
   * @default {180000}
   */
  idleMs?: number;
  /**
   * Backoff between connections.
   *
   * @default {{ baseMs: 500, maxMs: 30000 }} (half jitter)
   */
  backoff?: BackoffOptions;
  /**
   * A connection that stayed up this long (milliseconds) resets the backoff.
   *
   * @default {60000}
   */
  healthyMs?: number;
  /**
   * A trade message identical to one received this recently (milliseconds)
   * is dropped as repeated.
   *
   * @default {5000}
   */
  repeatWindowMs?: number;
  /**
   * Most trade messages remembered to find repeats.
   *
   * @default {1000}
   */
  repeatWindowMessages?: number;
  /**
   * Clock of `fetched_at` (epoch milliseconds).
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** A {@linkcode TradeSource} on Finnhub's trades WebSocket. */
export class FinnhubTradesSource implements TradeSource {
  /** Written into each trade's `source`, and names its dead letters. */
  readonly name = "finnhub-trades";
  /** Always `trades`. */
  readonly kind = "trades";
  /** Counters so far. */
  readonly stats: SourceStats = {
    ...emptyStats(),
    counts: { messages: 0, trades: 0, pings: 0, errors: 0, reconnects: 0 },
  };

  readonly #apiKey: string;
  readonly #symbols: readonly string[];
  readonly #url: URL;
  readonly #idleMs: number;
  readonly #backoff: BackoffOptions;
  readonly #healthyMs: number;
  readonly #repeatWindowMs: number;
  readonly #repeatWindowMessages: number;
  readonly #now: () => number;
  /** Trade messages received lately, for repeats: text → receive time. */
  readonly #recent = new Map<string, number>();
  readonly #recentOrder: { text: string; at: number }[] = [];

  /**
   * Creates the source; nothing connects until {@linkcode FinnhubTradesSource.events}.
   *
   * @param options Key, symbols, URL, idle time, backoff and clock.
   * @throws {FatalError} When `apiKey` is missing or empty.
   * @throws {RangeError} When `symbols` is empty or holds an invalid symbol,
   * `url` is not a ws(s) URL, or a number is out of range.
   */
  constructor(options: FinnhubTradesOptions) {
    const {
      apiKey,
      symbols,
      url = "wss://ws.finnhub.io",
      idleMs = 180_000,
      backoff = {},
      healthyMs = 60_000,
      repeatWindowMs = 5_000,
      repeatWindowMessages = 1_000,
      now = Date.now,
    } = options;
    if (typeof apiKey !== "string" || apiKey.trim() === "") {
      throw new FatalError(
        "Cannot create the Finnhub trades source as 'FINNHUB_API_KEY' must be set to a Finnhub API key: current value is empty",
      );
    }
    registerSecret(apiKey);
    if (!Array.isArray(symbols) || symbols.length === 0) {
      throw new RangeError(
        `Cannot create the Finnhub trades source as 'symbols' must be a non-empty list: current value is ${
          JSON.stringify(symbols)
        }`,
      );
    }
    const bad = symbols.find((s) => !SYMBOL_PATTERN.test(s));
    if (bad !== undefined) {
      throw new RangeError(
        `Cannot create the Finnhub trades source as 'symbols' must match ${SYMBOL_PATTERN.source}: current value is ${
          JSON.stringify(bad)
        }`,
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      parsed = new URL("invalid:");
    }
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new RangeError(
        `Cannot create the Finnhub trades source as 'FINNHUB_WS_URL' must be a ws:// or wss:// URL: current value is ${
          JSON.stringify(redact(url))
        }`,
      );
    }
    for (
      const [name, value] of Object.entries({
        idleMs,
        healthyMs,
        repeatWindowMs,
        repeatWindowMessages,
      })
    ) {
      if (!Number.isFinite(value) || value <= 0) {
        throw new RangeError(
          `Cannot create the Finnhub trades source as '${name}' must be a positive number: current value is ${value}`,
        );
      }
    }
    this.#apiKey = apiKey;
    this.#symbols = [...new Set(symbols)];
    this.#url = parsed;
    this.#idleMs = idleMs;
    this.#backoff = { baseMs: 500, maxMs: 30_000, ...backoff };
    this.#healthyMs = healthyMs;
    this.#repeatWindowMs = repeatWindowMs;
    this.#repeatWindowMessages = repeatWindowMessages;
    this.#now = now;
  }

  /** Where the source connects, without the key: scheme, host and port. */
  get origin(): string {
    return `${this.#url.protocol}//${this.#url.host}`;
  }

  /**
   * Yields each trade received, reconnecting as needed, until `signal`
   * aborts (or the caller stops iterating): then it unsubscribes every
   * symbol and closes the connection.
   *
   * @param signal Stops the source.
   * @param onReject Called for each trade element that breaks the contract,
   * at position `finnhub-trades:message N:trade I`.
   * @throws {FatalError} When Finnhub refuses the key at the handshake.
   */
  async *events(
    signal: AbortSignal,
    onReject?: OnReject,
  ): AsyncIterable<Trade> {
    let attempt = 0;
    let reason = "";
    for (let round = 0; !signal.aborted; round++) {
      if (round > 0) {
        count(this.stats, "reconnects");
        const delayMs = backoffDelay(attempt++, this.#backoff);
        log.warn("reconnecting to the Finnhub trades websocket", {
          origin: this.origin,
          reason,
          delay_ms: delayMs,
        });
        try {
          await sleep(delayMs, signal);
        } catch {
          return;
        }
      }
      const connection = new Connection(this.#socketUrl(), signal, this.#now);
      let openedAt: number | undefined;
      let stopping = true;
      try {
        while (true) {
          const arrival = await connection.next(this.#idleMs);
          if (arrival === undefined) return; // aborted
          if (arrival.type === "open") {
            openedAt = performance.now();
            for (const symbol of this.#symbols) {
              connection.send({ type: "subscribe", symbol });
            }
            log.info("subscribed on the Finnhub trades websocket", {
              origin: this.origin,
              symbols: this.#symbols.join(","),
            });
            continue;
          }
          if (arrival.type === "message") {
            for (const trade of await this.#accept(arrival, onReject)) {
              yield trade;
            }
            continue;
          }
          if (arrival.type === "failed") {
            const status = arrival.status ??
              await handshakeStatus(this.#socketUrl(), signal);
            if (status === 401 || status === 403) {
              throw new FatalError(
                `Finnhub refused the API key at the trades websocket's handshake (HTTP ${status} from ${this.origin}): check FINNHUB_API_KEY`,
              );
            }
            reason = `handshake failed${
              status === undefined ? "" : ` (HTTP ${status})`
            }: ${oneLine(arrival.detail)}`;
          } else if (arrival.type === "closed") {
            reason = `connection closed (code ${arrival.code}${
              arrival.detail ? `, ${oneLine(arrival.detail)}` : ""
            })`;
          } else {
            reason = openedAt === undefined
              ? `no handshake within ${this.#idleMs} ms`
              : `nothing received for ${this.#idleMs} ms`;
          }
          stopping = false;
          break;
        }
      } finally {
        connection.close(
          stopping
            ? this.#symbols.map((symbol) => ({ type: "unsubscribe", symbol }))
            : [],
        );
        if (stopping && openedAt !== undefined) {
          log.info("closed the Finnhub trades websocket", {
            origin: this.origin,
          });
        }
      }
      if (
        openedAt !== undefined &&
        performance.now() - openedAt >= this.#healthyMs
      ) {
        attempt = 0;
      }
    }
  }

  #socketUrl(): string {
    const url = new URL(this.#url.href);
    url.searchParams.set("token", this.#apiKey);
    return url.href;
  }

  /** The trades of one message; counts, warns and dead-letters the rest. */
  async #accept(
    arrival: { text: string; at: number },
    onReject?: OnReject,
  ): Promise<Trade[]> {
    count(this.stats, "messages");
    const number = this.stats.counts!.messages;
    let message: unknown;
    try {
      message = JSON.parse(arrival.text);
    } catch {
      countSkip(this.stats, "bad_message");
      log.warn("skipped a websocket message that is not JSON", {
        text: oneLine(arrival.text),
      });
      return [];
    }
    const type = typeof message === "object" && message !== null
      ? (message as Record<string, unknown>).type
      : undefined;
    if (type === "ping") {
      count(this.stats, "pings");
      return [];
    }
    if (type === "error") {
      count(this.stats, "errors");
      log.warn("Finnhub reported an error on the trades websocket", {
        msg: oneLine(String((message as Record<string, unknown>).msg)),
      });
      return [];
    }
    if (type !== "trade") {
      countSkip(this.stats, "other_message");
      log.debug("skipped a websocket message of another type", {
        text: oneLine(arrival.text),
      });
      return [];
    }
    if (this.#repeated(arrival.text, arrival.at)) {
      countSkip(this.stats, "repeated_message");
      log.debug("dropped a repeated trade message", { message: number });
      return [];
    }
    const data = (message as Record<string, unknown>).data;
    if (!Array.isArray(data)) {
      countSkip(this.stats, "bad_message");
      log.warn("skipped a trade message without a list of trades", {
        text: oneLine(arrival.text),
      });
      return [];
    }
    const fetchedAt = Math.floor(arrival.at);
    const trades: Trade[] = [];
    for (const [index, element] of data.entries()) {
      const position = `finnhub-trades:message ${number}:trade ${index}`;
      if (
        typeof element !== "object" || element === null ||
        Array.isArray(element)
      ) {
        countSkip(this.stats, "invalid");
        await onReject?.({
          position,
          input: JSON.stringify(element) ?? String(element),
          rejection: rejection("trade", element, "must be a JSON object"),
        });
        continue;
      }
      const { s, p, v, t, c } = element as Record<string, unknown>;
      const event = {
        symbol: s,
        p,
        v,
        t,
        c: c ?? [],
        fetched_at: fetchedAt,
        source: this.name,
      };
      const result = validateTrade(event, { now: fetchedAt });
      if (!result.ok) {
        countSkip(this.stats, "invalid");
        await onReject?.({
          position,
          input: JSON.stringify(element),
          rejection: result.rejection,
        });
        continue;
      }
      count(this.stats, "trades");
      this.stats.emitted++;
      trades.push(result.trade);
    }
    return trades;
  }

  /** Whether `text` repeats a trade message received within the window; else remembers it. */
  #repeated(text: string, at: number): boolean {
    const order = this.#recentOrder;
    while (
      order.length > 0 &&
      (order.length >= this.#repeatWindowMessages ||
        order[0].at <= at - this.#repeatWindowMs)
    ) {
      this.#recent.delete(order.shift()!.text);
    }
    if (this.#recent.has(text)) return true;
    this.#recent.set(text, at);
    order.push({ text, at });
    return false;
  }
}

const MAX_DETAIL = 160;

function oneLine(text: string): string {
  const line = redact(text).replace(/\s+/g, " ").trim();
  return line.length > MAX_DETAIL ? `${line.slice(0, MAX_DETAIL)}…` : line;
}
