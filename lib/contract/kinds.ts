/**
 * The kinds of event the pipeline carries, quotes and trades, each with its
 * contract: one topic, lake prefix, RAW table and validator per kind, and the
 * same landing, loading, ledger and reconcile machinery for both.
 *
 * @module
 */
import {
  parseQuote,
  type Quote,
  QUOTE_FIELDS,
  type Rejection,
  type ValidateOptions,
  validateQuote,
} from "./quote.ts";
import {
  parseTrade,
  type Trade,
  TRADE_FIELDS,
  validateTrade,
} from "./trade.ts";

/** A kind of event. */
export type EventKind = "quotes" | "trades";

/** Every kind, quotes first. */
export const EVENT_KINDS: readonly EventKind[] = ["quotes", "trades"];

/** An event of any kind. */
export type MarketEvent = Quote | Trade;

/** What a contract's validator says of an input. */
export type EventValidation =
  | { ok: true; event: MarketEvent }
  | { ok: false; rejection: Rejection };

/** What the pipeline needs to know of one kind of event. */
export interface EventContract {
  /** The kind. */
  readonly kind: EventKind;
  /** The event's fields, in the order `JSON.stringify` of a valid event writes them. */
  readonly fields: readonly string[];
  /** RAW's table of the kind, without its schema. */
  readonly rawTable: string;
  /** The table of lines the loader refused, without its schema. */
  readonly rejectedTable: string;
  /** Checks a parsed input against the contract. */
  validate(input: unknown, options?: ValidateOptions): EventValidation;
  /** Parses and checks one JSON text. */
  parse(text: string, options?: ValidateOptions): EventValidation;
}

/** The contract of each kind. */
export const CONTRACTS: Readonly<Record<EventKind, EventContract>> = {
  quotes: {
    kind: "quotes",
    fields: QUOTE_FIELDS,
    rawTable: "source_stock_quotes",
    rejectedTable: "rejected_stock_quotes",
    validate: (input, options) => asEvent(validateQuote(input, options)),
    parse: (text, options) => asEvent(parseQuote(text, options)),
  },
  trades: {
    kind: "trades",
    fields: TRADE_FIELDS,
    rawTable: "source_stock_trades",
    rejectedTable: "rejected_stock_trades",
    validate: (input, options) => asTrade(validateTrade(input, options)),
    parse: (text, options) => asTrade(parseTrade(text, options)),
  },
};

/**
 * Reads a kind's name as given on a command line (`--kind trades`).
 *
 * @throws {RangeError} When it names no kind.
 */
export function parseKind(text: string): EventKind {
  if (!(EVENT_KINDS as string[]).includes(text)) {
    throw new RangeError(
      `Cannot read the kind of event as it must be one of ${
        EVENT_KINDS.join(", ")
      }: current value is ${JSON.stringify(text)}`,
    );
  }
  return text as EventKind;
}

function asEvent(
  result: { ok: true; quote: Quote } | { ok: false; rejection: Rejection },
): EventValidation {
  return result.ok ? { ok: true, event: result.quote } : result;
}

function asTrade(
  result: { ok: true; trade: Trade } | { ok: false; rejection: Rejection },
): EventValidation {
  return result.ok ? { ok: true, event: result.trade } : result;
}
