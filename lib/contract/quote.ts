/**
 * The event contract: one JSON event per quote.
 *
 * An event carries Finnhub's quote fields (`c, d, dp, h, l, o, pc, t`, with
 * `t` in epoch seconds) plus `symbol`, `fetched_at` (epoch milliseconds) and
 * `source`. {@linkcode validateQuote} is the one validator: the producer, the
 * consumer and the loader all call it, and an invalid event gets a precise
 * {@linkcode Rejection} naming the field, the value and the rule it broke.
 *
 * @module
 */

/** One quote event, as published to the stream and landed in the lake. */
export interface Quote {
  /** Ticker, e.g. `AAPL`, `BRK.B` or `BINANCE:BTCUSDT`; see {@linkcode SYMBOL_PATTERN}. */
  symbol: string;
  /** Current (last) price. */
  c: number;
  /** Change from the previous close, `c - pc`. */
  d: number;
  /** Change from the previous close in percent. */
  dp: number;
  /** High price of the day. */
  h: number;
  /** Low price of the day. */
  l: number;
  /** Open price of the day. */
  o: number;
  /** Previous close price. */
  pc: number;
  /** Quote time in epoch seconds. */
  t: number;
  /** When the quote was fetched, in epoch milliseconds. */
  fetched_at: number;
  /** Where the quote came from: `simulated`, `finnhub`, ... */
  source: string;
}

/** Why an event was rejected: the field, the offending value and the rule. */
export interface Rejection {
  /** The field that failed, or `event` when the whole event is unusable. */
  field: string;
  /** The offending value, shortened for logs and dead letters. */
  value: string;
  /** The rule the value broke, e.g. `must be a finite number > 0`. */
  rule: string;
}

/** The result of {@linkcode validateQuote}. */
export type Validation =
  | { ok: true; quote: Quote }
  | { ok: false; rejection: Rejection };

/**
 * Symbols: upper-case letters, digits, `.`, `-` and `:`, starting with a
 * letter or digit, at most 32 characters. Nothing else can reach an object
 * key or a SQL statement.
 */
export const SYMBOL_PATTERN = /^[A-Z0-9][A-Z0-9.:-]{0,31}$/;

/** Sources: lower-case letters, digits, `_` and `-`, at most 32 characters. */
export const SOURCE_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** The largest price accepted; anything above is a feed error. */
export const MAX_PRICE = 10_000_000;

/** The largest event accepted, in bytes of its JSON encoding. */
export const MAX_EVENT_BYTES = 4096;

/** How far `t` may lead `fetched_at`, and `fetched_at` the validator's clock. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

/** Quote fields that hold prices: finite, positive and at most {@linkcode MAX_PRICE}. */
export const PRICE_FIELDS = ["c", "h", "l", "o", "pc"] as const;

/** The fields of a {@linkcode Quote}, in the order they are written. */
export const QUOTE_FIELDS = [
  "symbol",
  "c",
  "d",
  "dp",
  "h",
  "l",
  "o",
  "pc",
  "t",
  "fetched_at",
  "source",
] as const;

/** Options for {@linkcode validateQuote}. */
export interface ValidateOptions {
  /**
   * The validator's clock in epoch milliseconds: `fetched_at` may not lead it
   * by more than {@linkcode MAX_CLOCK_SKEW_SECONDS}.
   *
   * @default {Date.now()}
   */
  now?: number;
}

/** An error that carries the {@linkcode Rejection} of an invalid event. */
export class InvalidQuoteError extends Error {
  /** Why the event was rejected. */
  readonly rejection: Rejection;

  /** Creates the error from a rejection. */
  constructor(rejection: Rejection) {
    super(describeRejection(rejection));
    this.name = "InvalidQuoteError";
    this.rejection = rejection;
  }
}

/**
 * Checks that `input` is a valid quote event and returns it normalised: only
 * the contract's fields, in contract order. Unknown fields (such as the stream
 * coordinates a landed line carries) are ignored.
 *
 * @param input A parsed JSON value.
 * @param options The validator's clock.
 * @returns The quote, or the first rule it broke.
 *
 * @example Rejecting a negative price
 * ```ts
 * import { validateQuote } from "./quote.ts";
 * const result = validateQuote({ symbol: "AAPL", c: -1 });
 * if (!result.ok) console.log(result.rejection.rule);
 * ```
 */
export function validateQuote(
  input: unknown,
  options: ValidateOptions = {},
): Validation {
  const { now = Date.now() } = options;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return reject("event", input, "must be a JSON object");
  }
  const event = input as Record<string, unknown>;

  const symbol = event.symbol;
  if (typeof symbol !== "string" || !SYMBOL_PATTERN.test(symbol)) {
    return reject(
      "symbol",
      symbol,
      `must match ${SYMBOL_PATTERN.source} (upper-case letters, digits, '.', '-', ':'; 1 to 32 characters)`,
    );
  }
  for (const field of PRICE_FIELDS) {
    const value = event[field];
    if (!isFiniteNumber(value) || value <= 0) {
      return reject(field, value, "must be a finite number > 0");
    }
    if (value > MAX_PRICE) {
      return reject(field, value, `must be at most ${MAX_PRICE}`);
    }
  }
  for (const field of ["d", "dp"] as const) {
    if (!isFiniteNumber(event[field])) {
      return reject(field, event[field], "must be a finite number");
    }
  }
  const h = event.h as number;
  const l = event.l as number;
  if (l > h) return reject("l", l, `must not exceed h (${h})`);

  const fetchedAt = event.fetched_at;
  if (!Number.isSafeInteger(fetchedAt) || (fetchedAt as number) <= 0) {
    return reject(
      "fetched_at",
      fetchedAt,
      "must be a positive integer (epoch milliseconds)",
    );
  }
  if ((fetchedAt as number) > now + MAX_CLOCK_SKEW_SECONDS * 1000) {
    return reject(
      "fetched_at",
      fetchedAt,
      `must not be more than ${MAX_CLOCK_SKEW_SECONDS}s in the future`,
    );
  }
  const t = event.t;
  if (!Number.isSafeInteger(t) || (t as number) <= 0) {
    return reject("t", t, "must be a positive integer (epoch seconds)");
  }
  if ((t as number) > (fetchedAt as number) / 1000 + MAX_CLOCK_SKEW_SECONDS) {
    return reject(
      "t",
      t,
      `must not be more than ${MAX_CLOCK_SKEW_SECONDS}s after fetched_at`,
    );
  }
  const source = event.source;
  if (typeof source !== "string" || !SOURCE_PATTERN.test(source)) {
    return reject("source", source, `must match ${SOURCE_PATTERN.source}`);
  }

  return {
    ok: true,
    quote: {
      symbol,
      c: event.c as number,
      d: event.d as number,
      dp: event.dp as number,
      h,
      l,
      o: event.o as number,
      pc: event.pc as number,
      t: t as number,
      fetched_at: fetchedAt as number,
      source,
    },
  };
}

/**
 * Parses one encoded event (a stream message value or a lake line) and
 * validates it, so that oversized input and malformed JSON get a rejection
 * like any other rule.
 *
 * @param text The event's JSON text.
 * @param options The validator's clock.
 * @returns The quote, or why it was rejected.
 */
export function parseQuote(
  text: string,
  options: ValidateOptions = {},
): Validation {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short text needs no count.
  const bytes = text.length * 3 <= MAX_EVENT_BYTES
    ? text.length
    : new TextEncoder().encode(text).length;
  if (bytes > MAX_EVENT_BYTES) {
    return reject(
      "event",
      `${bytes} bytes`,
      `must be at most ${MAX_EVENT_BYTES} bytes`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return reject(
      "event",
      text,
      `must be valid JSON (${(error as Error).message})`,
    );
  }
  return validateQuote(parsed, options);
}

/**
 * Checks a quote and returns it, or throws.
 *
 * @param input A parsed JSON value.
 * @param options The validator's clock.
 * @returns The normalised quote.
 * @throws {InvalidQuoteError} When the quote breaks a rule.
 */
export function assertQuote(
  input: unknown,
  options: ValidateOptions = {},
): Quote {
  const result = validateQuote(input, options);
  if (!result.ok) throw new InvalidQuoteError(result.rejection);
  return result.quote;
}

/**
 * Formats a rejection as one line: `'c' must be a finite number > 0: current value is -3`.
 *
 * @param rejection The rejection.
 * @returns A message for logs and errors.
 */
export function describeRejection(rejection: Rejection): string {
  return `'${rejection.field}' ${rejection.rule}: current value is ${rejection.value}`;
}

/** The UTC calendar day of a quote's time, as `YYYY-MM-DD`. */
export function quoteDate(quote: Pick<Quote, "t">): string {
  // Consecutive quotes mostly share a day: format each day once.
  const day = Math.floor(quote.t / 86_400);
  if (day !== lastDay.day) {
    lastDay.day = day;
    lastDay.text = new Date(day * 86_400_000).toISOString().slice(0, 10);
  }
  return lastDay.text;
}

const lastDay = { day: NaN, text: "" };

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

const MAX_SHOWN_VALUE = 80;

function reject(field: string, value: unknown, rule: string): Validation {
  return { ok: false, rejection: { field, value: show(value), rule } };
}

function show(value: unknown): string {
  let text: string;
  if (value === undefined) text = "missing";
  else if (typeof value === "string") text = JSON.stringify(value);
  else if (typeof value === "number") text = String(value); // NaN, Infinity too
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_SHOWN_VALUE
    ? `${text.slice(0, MAX_SHOWN_VALUE)}…`
    : text;
}
