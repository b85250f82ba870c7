/**
 * The Finnhub source: polls Finnhub's `GET /quote` for each symbol in turn,
 * within a call budget, and yields each new quote as an event.
 *
 * - The API key goes in the `X-Finnhub-Token` header, never in a URL, and is
 *   registered as a secret so no log line can carry it.
 * - Calls never exceed `callsPerMinute` in any sliding minute
 *   ({@linkcode CallBudget}); retries count against the budget too.
 * - An all-zero answer (unknown symbol, no data) and a quote whose `t` has not
 *   moved since the last one published (market closed) are skipped and
 *   counted; an invalid quote goes to `onReject`.
 * - 401 and 403 stop the source with a {@linkcode FatalError}. 429 waits for
 *   `Retry-After` (or backs off) and retries; 5xx, network faults, timeouts
 *   and unreadable bodies back off and retry up to `maxRetries` times, then
 *   the symbol is skipped for this round.
 *
 * @module
 */
import { CallBudget, type Clock, systemClock } from "../budget.ts";
import { logger, redact, registerSecret } from "../../runtime/log.ts";
import {
  type Quote,
  SYMBOL_PATTERN,
  validateQuote,
} from "../../contract/quote.ts";
import {
  backoffDelay,
  type BackoffOptions,
  FatalError,
} from "../../runtime/retry.ts";
import {
  count,
  countSkip,
  emptyStats,
  type QuoteSource,
  type SourceReject,
  type SourceStats,
} from "../source.ts";

const log = logger("finnhub");

/** Finnhub's `/quote` fields that hold prices or the time; all zero means "no data". */
const ZERO_FIELDS = ["c", "h", "l", "o", "pc", "t"] as const;

/** The longest `Retry-After` honoured; a larger one is cut to this. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** Options for {@linkcode FinnhubSource}. */
export interface FinnhubSourceOptions {
  /** Finnhub API key (`FINNHUB_API_KEY`). */
  apiKey: string;
  /** Symbols to poll, in round-robin order. */
  symbols: string[];
  /**
   * Finnhub API base URL (`FINNHUB_BASE_URL`); tests point it at a fake.
   *
   * @default {"https://finnhub.io/api/v1"}
   */
  baseUrl?: string;
  /**
   * Calls allowed in any sliding minute (`FINNHUB_CALLS_PER_MINUTE`).
   *
   * @default {60}
   */
  callsPerMinute?: number;
  /**
   * Timeout of one request in milliseconds, body included
   * (`FINNHUB_TIMEOUT_MS`). Measured in real time, not on `clock`.
   *
   * @default {10000}
   */
  timeoutMs?: number;
  /**
   * Retries of one symbol's call before it is skipped for this round.
   *
   * @default {5}
   */
  maxRetries?: number;
  /**
   * Backoff between retries (base, cap, jitter, randomness).
   *
   * @default {{}} (200 ms doubling up to 30 s, half jitter)
   */
  backoff?: BackoffOptions;
  /**
   * Clock for `fetched_at`, the call budget and every backoff wait.
   *
   * @default {systemClock}
   */
  clock?: Clock;
  /**
   * The fetch function.
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
}

/**
 * Why a call failed, each counted in `stats.skipped`: `rate_limited` is
 * HTTP 429; `client_error` another 4xx than 401, 403, 404 and 429 (those
 * three stop the source).
 */
export const FINNHUB_FAILURES = [
  "rate_limited",
  "server_error",
  "client_error",
  "timeout",
  "network_error",
  "bad_response",
] as const;

/** One of {@linkcode FINNHUB_FAILURES}. */
export type FinnhubFailure = typeof FINNHUB_FAILURES[number];

/** How one call went: a body to use, or a failure worth retrying. */
type CallOutcome =
  | { ok: true; body: Record<string, unknown> }
  | {
    ok: false;
    /** Counter name, e.g. `server_error`. */
    reason: FinnhubFailure;
    /** One-line description for the log. */
    detail: string;
    /** HTTP status, when there was an answer. */
    status?: number;
    /** The server's `Retry-After`, in milliseconds. */
    retryAfterMs?: number;
  };

/**
 * A {@linkcode QuoteSource} that polls Finnhub's REST `/quote` endpoint for
 * each symbol in turn until the signal aborts.
 *
 * Counters in {@linkcode FinnhubSource.stats | stats.skipped}: `all_zero`,
 * `unchanged_t`, `invalid` (skipped answers) and, per failed call, its
 * reason ({@linkcode FINNHUB_FAILURES}); `gave_up` counts symbols skipped
 * for a round after `maxRetries` retries. `stats.counts.requests` counts
 * every request sent, retries included.
 *
 * @example Polling two symbols
 * ```ts ignore
 * import { FinnhubSource } from "./finnhub.ts";
 * const source = new FinnhubSource({
 *   apiKey: Deno.env.get("FINNHUB_API_KEY") ?? "",
 *   symbols: ["AAPL", "MSFT"],
 * });
 * const controller = new AbortController();
 * for await (const quote of source.events(controller.signal)) {
 *   console.log(quote.symbol, quote.c);
 * }
 * ```
 */
export class FinnhubSource implements QuoteSource {
  /** The source's name, written into each quote's `source`. */
  readonly name = "finnhub";
  /** Always `quotes`. */
  readonly kind = "quotes";
  /** Counters so far. */
  readonly stats: SourceStats = emptyStats();

  readonly #apiKey: string;
  readonly #symbols: readonly string[];
  readonly #quoteUrl: string;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #backoff: BackoffOptions;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch;
  readonly #budget: CallBudget;
  /** The `t` of the last quote published, per symbol. */
  readonly #lastT = new Map<string, number>();

  /**
   * Creates the source; no request is made until {@linkcode FinnhubSource.events}.
   *
   * @param options Key, symbols, endpoint, budget, timeout, retries, clock and fetch.
   * @throws {FatalError} When `apiKey` is missing or empty.
   * @throws {RangeError} When `symbols` is empty or holds an invalid symbol,
   * `baseUrl` is not an http(s) URL, or a number is out of range.
   */
  constructor(options: FinnhubSourceOptions) {
    const {
      apiKey,
      symbols,
      baseUrl = "https://finnhub.io/api/v1",
      callsPerMinute = 60,
      timeoutMs = 10_000,
      maxRetries = 5,
      backoff = {},
      clock = systemClock,
      fetch = globalThis.fetch,
    } = options;
    if (typeof apiKey !== "string" || apiKey.trim() === "") {
      throw new FatalError(
        "Cannot create the Finnhub source as 'FINNHUB_API_KEY' must be set to a Finnhub API key: current value is empty",
      );
    }
    registerSecret(apiKey);
    if (!Array.isArray(symbols) || symbols.length === 0) {
      throw new RangeError(
        `Cannot create the Finnhub source as 'symbols' must be a non-empty list: current value is ${
          JSON.stringify(symbols)
        }`,
      );
    }
    const bad = symbols.find((s) => !SYMBOL_PATTERN.test(s));
    if (bad !== undefined) {
      throw new RangeError(
        `Cannot create the Finnhub source as 'symbols' must match ${SYMBOL_PATTERN.source}: current value is ${
          JSON.stringify(bad)
        }`,
      );
    }
    let base: URL;
    try {
      base = new URL(baseUrl);
    } catch {
      base = new URL("invalid:");
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new RangeError(
        `Cannot create the Finnhub source as 'baseUrl' must be an http(s) URL: current value is ${
          JSON.stringify(baseUrl)
        }`,
      );
    }
    if (!Number.isSafeInteger(callsPerMinute) || callsPerMinute <= 0) {
      throw new RangeError(
        `Cannot create the Finnhub source as 'callsPerMinute' must be a positive integer: current value is ${callsPerMinute}`,
      );
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(
        `Cannot create the Finnhub source as 'timeoutMs' must be a positive number: current value is ${timeoutMs}`,
      );
    }
    if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
      throw new RangeError(
        `Cannot create the Finnhub source as 'maxRetries' must be a non-negative integer: current value is ${maxRetries}`,
      );
    }
    this.#apiKey = apiKey;
    this.#symbols = [...symbols];
    this.#quoteUrl = `${base.href.replace(/\/+$/, "")}/quote`;
    this.#timeoutMs = timeoutMs;
    this.#maxRetries = maxRetries;
    this.#backoff = backoff;
    this.#clock = clock;
    this.#fetch = fetch;
    this.#budget = new CallBudget({ limit: callsPerMinute, clock });
  }

  /**
   * Polls each symbol in turn and yields every new, valid quote, until
   * `signal` aborts; the iterator then returns without error.
   *
   * @param signal Stops polling, including a request or wait in progress.
   * @param onReject Called for each answer that fails
   * {@linkcode validateQuote}, with position `finnhub:SYMBOL`.
   * @returns The quotes, `source` `finnhub`, `fetched_at` from the clock.
   * @throws {FatalError} When Finnhub rejects the key (401), denies access
   * (403), or the endpoint does not exist (404: check `FINNHUB_BASE_URL`).
   */
  async *events(
    signal: AbortSignal,
    onReject?: (reject: SourceReject) => void | Promise<void>,
  ): AsyncGenerator<Quote> {
    try {
      while (true) {
        for (const symbol of this.#symbols) {
          const body = await this.#fetchQuote(symbol, signal);
          if (body === undefined) continue;
          const quote = await this.#accept(symbol, body, onReject);
          if (quote !== undefined) yield quote;
        }
      }
    } catch (error) {
      if (signal.aborted && !(error instanceof FatalError)) return;
      throw error;
    }
  }

  /** Turns an answer into a quote to publish, or skips it and says why. */
  async #accept(
    symbol: string,
    body: Record<string, unknown>,
    onReject?: (reject: SourceReject) => void | Promise<void>,
  ): Promise<Quote | undefined> {
    if (ZERO_FIELDS.every((field) => body[field] === 0)) {
      countSkip(this.stats, "all_zero");
      log.debug("skipped all-zero quote (unknown symbol or no data)", {
        symbol,
      });
      return undefined;
    }
    if (body.t !== undefined && body.t === this.#lastT.get(symbol)) {
      countSkip(this.stats, "unchanged_t");
      log.debug("skipped quote with unchanged t", { symbol, t: body.t });
      return undefined;
    }
    const now = this.#clock.now();
    const event = {
      ...body,
      symbol,
      fetched_at: Math.floor(now),
      source: this.name,
    };
    const result = validateQuote(event, { now });
    if (!result.ok) {
      countSkip(this.stats, "invalid");
      log.warn("rejected invalid quote", { symbol, ...result.rejection });
      await onReject?.({
        position: `finnhub:${symbol}`,
        input: JSON.stringify(event),
        rejection: result.rejection,
      });
      return undefined;
    }
    this.#lastT.set(symbol, result.quote.t);
    this.stats.emitted++;
    return result.quote;
  }

  /**
   * Calls `/quote` for one symbol, retrying failures with backoff; returns the
   * parsed body, or `undefined` once `maxRetries` retries have failed.
   */
  async #fetchQuote(
    symbol: string,
    signal: AbortSignal,
  ): Promise<Record<string, unknown> | undefined> {
    for (let attempt = 0;; attempt++) {
      await this.#budget.acquire(signal);
      const outcome = await this.#call(symbol, signal);
      if (outcome.ok) return outcome.body;

      countSkip(this.stats, outcome.reason);
      const fields = {
        symbol,
        reason: outcome.reason,
        status: outcome.status,
        detail: outcome.detail,
        attempt: attempt + 1,
      };
      if (attempt >= this.#maxRetries) {
        countSkip(this.stats, "gave_up");
        log.warn("finnhub call failed; skipping symbol this round", {
          ...fields,
          max_retries: this.#maxRetries,
        });
        return undefined;
      }
      const delayMs = outcome.retryAfterMs ??
        backoffDelay(attempt, this.#backoff);
      log.warn("finnhub call failed; retrying", {
        ...fields,
        delay_ms: delayMs,
      });
      await this.#clock.sleep(delayMs, signal);
    }
  }

  /** Makes one request and classifies its answer. */
  async #call(symbol: string, signal: AbortSignal): Promise<CallOutcome> {
    const url = `${this.#quoteUrl}?symbol=${encodeURIComponent(symbol)}`;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.#timeoutMs);
    const call = this.#fetch;
    count(this.stats, "requests");
    let response: Response;
    let text: string;
    try {
      response = await call(url, {
        headers: {
          "X-Finnhub-Token": this.#apiKey,
          "Accept": "application/json",
        },
        signal: AbortSignal.any([signal, timeout.signal]),
      });
      text = await response.text();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (timeout.signal.aborted) {
        return {
          ok: false,
          reason: "timeout",
          detail: `no complete answer within ${this.#timeoutMs} ms`,
        };
      }
      return {
        ok: false,
        reason: "network_error",
        detail: oneLine(error instanceof Error ? error.message : String(error)),
      };
    } finally {
      clearTimeout(timer);
    }

    const { status } = response;
    log.debug("finnhub answered", { symbol, status, bytes: text.length });
    if (status === 200) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return {
          ok: false,
          reason: "bad_response",
          status,
          detail: `body is not JSON: ${oneLine(text)}`,
        };
      }
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        return {
          ok: false,
          reason: "bad_response",
          status,
          detail: `body is not a JSON object: ${oneLine(text)}`,
        };
      }
      return { ok: true, body: body as Record<string, unknown> };
    }

    const said = errorText(text);
    const answer = `HTTP ${status}${said ? ` ${said}` : ""}`;
    if (status === 401) {
      throw new FatalError(
        `Finnhub rejected the API key (${answer}): check FINNHUB_API_KEY`,
      );
    }
    if (status === 403) {
      throw new FatalError(
        `Finnhub API key has no access to /quote for ${symbol} (${answer}): check the plan of FINNHUB_API_KEY or the symbol`,
      );
    }
    if (status === 404) {
      throw new FatalError(
        `Finnhub has no /quote endpoint at the configured base URL (${answer}): check FINNHUB_BASE_URL`,
      );
    }
    if (status === 429) {
      return {
        ok: false,
        reason: "rate_limited",
        status,
        detail: said,
        retryAfterMs: this.#retryAfterMs(response.headers.get("Retry-After")),
      };
    }
    return {
      ok: false,
      reason: status >= 500 ? "server_error" : "client_error",
      status,
      detail: said,
    };
  }

  /** `Retry-After` (seconds or an HTTP date) in milliseconds, capped; `undefined` when absent or unreadable. */
  #retryAfterMs(header: string | null): number | undefined {
    if (header === null) return undefined;
    const value = header.trim();
    let ms: number;
    if (/^\d+$/.test(value)) ms = Number(value) * 1000;
    else {
      const at = Date.parse(value);
      if (Number.isNaN(at)) return undefined;
      ms = Math.max(0, at - this.#clock.now());
    }
    return Math.min(ms, MAX_RETRY_AFTER_MS);
  }
}

const MAX_DETAIL = 120;

/** The `error` text of a Finnhub error body, else the body, on one short line without secrets. */
function errorText(text: string): string {
  try {
    const body = JSON.parse(text);
    if (typeof body?.error === "string") return oneLine(body.error);
  } catch {
    // not JSON: use the text itself
  }
  return oneLine(text);
}

function oneLine(text: string): string {
  const line = redact(text).replace(/\s+/g, " ").trim();
  return line.length > MAX_DETAIL ? `${line.slice(0, MAX_DETAIL)}…` : line;
}
