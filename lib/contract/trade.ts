/**
 * The trade contract: one JSON event per trade, beside the quote contract
 * (./quote.ts) and checked by the same rules (./rules.ts).
 *
 * An event carries a trade of Finnhub's trades WebSocket with its fields
 * renamed where they name the symbol: `symbol` (Finnhub's `s`), `p` (price),
 * `v` (volume, 0 for a price update without a trade, fractional for crypto),
 * `t` (epoch milliseconds) and `c` (the trade's condition codes, as
 * received), plus `fetched_at` (epoch milliseconds, when it was received) and
 * `source`. {@linkcode validateTrade} is the one validator, and an invalid
 * event gets a {@linkcode Rejection} naming the field, the value and the
 * rule it broke, as a quote's does.
 *
 * @module
 */
import {
  checkFetchedAt,
  checkPrice,
  checkSource,
  checkSymbol,
  isFiniteNumber,
  MAX_CLOCK_SKEW_SECONDS,
  parseEvent,
  type Rejection,
  rejection,
  type ValidateOptions,
} from "./rules.ts";

/** One trade event, as published to the stream and landed in the lake. */
export interface Trade {
  /** Ticker, e.g. `AAPL` or `BINANCE:BTCUSDT` (Finnhub's `s`). */
  symbol: string;
  /** Price of the trade. */
  p: number;
  /** Volume: shares, or units of a crypto asset; 0 for a price update without a trade. */
  v: number;
  /** Trade time in epoch milliseconds. */
  t: number;
  /** Trade-condition codes, as the venue sent them; empty when none came. */
  c: string[];
  /** When the trade was received, in epoch milliseconds. */
  fetched_at: number;
  /** Where the trade came from: `finnhub-trades`, `simulated-trades`, ... */
  source: string;
}

/** The result of {@linkcode validateTrade}. */
export type TradeValidation =
  | { ok: true; trade: Trade }
  | { ok: false; rejection: Rejection };

/** The fields of a {@linkcode Trade}, in the order they are written. */
export const TRADE_FIELDS = [
  "symbol",
  "p",
  "v",
  "t",
  "c",
  "fetched_at",
  "source",
] as const;

/**
 * The earliest trade time accepted, in epoch milliseconds (1973-03-03):
 * a time in epoch seconds, as quotes carry, is far below it.
 */
export const MIN_TRADE_TIME = 100_000_000_000;

/** The largest volume of one trade accepted; anything above is a feed error. */
export const MAX_VOLUME = 1e12;

/** Condition codes of one trade at most. */
export const MAX_CONDITIONS = 16;

/** A condition code: 1 to 8 letters or digits (Finnhub sends codes such as `"1"`, `"12"` or `"T"`). */
export const CONDITION_PATTERN = /^[A-Za-z0-9]{1,8}$/;

/**
 * Checks that `input` is a valid trade event and returns it normalised:
 * only the contract's fields, in contract order. Unknown fields are ignored.
 *
 * @param input A parsed JSON value.
 * @param options The validator's clock.
 * @returns The trade, or the first rule it broke.
 *
 * @example Rejecting a negative volume
 * ```ts
 * import { validateTrade } from "./trade.ts";
 * const result = validateTrade({ symbol: "AAPL", p: 190.1, v: -5 });
 * if (!result.ok) console.log(result.rejection.rule);
 * ```
 */
export function validateTrade(
  input: unknown,
  options: ValidateOptions = {},
): TradeValidation {
  const { now = Date.now() } = options;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return reject("event", input, "must be a JSON object");
  }
  const event = input as Record<string, unknown>;
  const { symbol, p, v, t, c, fetched_at: fetchedAt, source } = event;
  const broken = checkSymbol(symbol) ?? checkPrice("p", p);
  if (broken) return { ok: false, rejection: broken };
  if (!isFiniteNumber(v) || v < 0) {
    return reject("v", v, "must be a finite number >= 0");
  }
  if (v > MAX_VOLUME) return reject("v", v, `must be at most ${MAX_VOLUME}`);
  const late = checkFetchedAt(fetchedAt, now);
  if (late) return { ok: false, rejection: late };
  if (!Number.isSafeInteger(t) || (t as number) <= 0) {
    return reject("t", t, "must be a positive integer (epoch milliseconds)");
  }
  if ((t as number) < MIN_TRADE_TIME) {
    return reject(
      "t",
      t,
      `must be epoch milliseconds, at least ${MIN_TRADE_TIME} (1973-03-03); epoch seconds are too small`,
    );
  }
  if ((t as number) > (fetchedAt as number) + MAX_CLOCK_SKEW_SECONDS * 1000) {
    return reject(
      "t",
      t,
      `must not be more than ${MAX_CLOCK_SKEW_SECONDS}s after fetched_at`,
    );
  }
  if (
    !Array.isArray(c) || c.length > MAX_CONDITIONS ||
    !c.every((code) => typeof code === "string" && CONDITION_PATTERN.test(code))
  ) {
    return reject(
      "c",
      c,
      `must be a list of at most ${MAX_CONDITIONS} codes matching ${CONDITION_PATTERN.source}`,
    );
  }
  const unknown = checkSource(source);
  if (unknown) return { ok: false, rejection: unknown };
  return {
    ok: true,
    trade: {
      symbol: symbol as string,
      p: p as number,
      v,
      t: t as number,
      c: [...c],
      fetched_at: fetchedAt as number,
      source: source as string,
    },
  };
}

/**
 * Parses one encoded trade event (a stream message value or a lake line)
 * and validates it, so that oversized input and malformed JSON get a
 * rejection like any other rule.
 *
 * @param text The event's JSON text.
 * @param options The validator's clock.
 * @returns The trade, or why it was rejected.
 */
export function parseTrade(
  text: string,
  options: ValidateOptions = {},
): TradeValidation {
  const parsed = parseEvent(text);
  if (!parsed.ok) return parsed;
  return validateTrade(parsed.value, options);
}

function reject(
  field: string,
  value: unknown,
  rule: string,
): TradeValidation {
  return { ok: false, rejection: rejection(field, value, rule) };
}
