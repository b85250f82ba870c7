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
import {
  checkFetchedAt,
  checkPrice,
  checkSource,
  checkSymbol,
  describeRejection,
  isFiniteNumber,
  MAX_CLOCK_SKEW_SECONDS,
  parseEvent,
  type Rejection,
  rejection,
  type ValidateOptions,
} from "./rules.ts";

export {
  describeRejection,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_EVENT_BYTES,
  MAX_PRICE,
  type Rejection,
  SOURCE_PATTERN,
  SYMBOL_PATTERN,
  type ValidateOptions,
} from "./rules.ts";

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

/** The result of {@linkcode validateQuote}. */
export type Validation =
  | { ok: true; quote: Quote }
  | { ok: false; rejection: Rejection };

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
  const badSymbol = checkSymbol(symbol);
  if (badSymbol) return { ok: false, rejection: badSymbol };
  for (const field of PRICE_FIELDS) {
    const badPrice = checkPrice(field, event[field]);
    if (badPrice) return { ok: false, rejection: badPrice };
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
  const late = checkFetchedAt(fetchedAt, now);
  if (late) return { ok: false, rejection: late };
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
  const unknown = checkSource(source);
  if (unknown) return { ok: false, rejection: unknown };

  return {
    ok: true,
    quote: {
      symbol: symbol as string,
      c: event.c as number,
      d: event.d as number,
      dp: event.dp as number,
      h,
      l,
      o: event.o as number,
      pc: event.pc as number,
      t: t as number,
      fetched_at: fetchedAt as number,
      source: source as string,
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
  const parsed = parseEvent(text);
  if (!parsed.ok) return parsed;
  return validateQuote(parsed.value, options);
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

function reject(field: string, value: unknown, rule: string): Validation {
  return { ok: false, rejection: rejection(field, value, rule) };
}
