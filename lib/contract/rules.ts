/**
 * The rules events of every kind share (quotes, trades): the patterns of
 * symbols and sources, the bounds of prices and clocks, and how a broken
 * rule is reported, so that the validators of lib/contract/ give the same
 * reasons for the same faults.
 *
 * @module
 */

/** Why an event was rejected: the field, the offending value and the rule. */
export interface Rejection {
  /** The field that failed, or `event` when the whole event is unusable. */
  field: string;
  /** The offending value, shortened for logs and dead letters. */
  value: string;
  /** The rule the value broke, e.g. `must be a finite number > 0`. */
  rule: string;
}

/** Options of the validators. */
export interface ValidateOptions {
  /**
   * The validator's clock in epoch milliseconds: `fetched_at` may not lead it
   * by more than {@linkcode MAX_CLOCK_SKEW_SECONDS}.
   *
   * @default {Date.now()}
   */
  now?: number;
}

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

/** How far an event's time may lead `fetched_at`, and `fetched_at` the validator's clock. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

/** Whether `value` is a finite number (not NaN, not ±Infinity). */
export function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/**
 * The rejection of `value` in `field` for breaking `rule`, the value shown
 * as JSON and shortened.
 */
export function rejection(
  field: string,
  value: unknown,
  rule: string,
): Rejection {
  return { field, value: show(value), rule };
}

/** Why `value` is not a symbol, or undefined when it is one. */
export function checkSymbol(value: unknown): Rejection | undefined {
  if (typeof value !== "string" || !SYMBOL_PATTERN.test(value)) {
    return rejection(
      "symbol",
      value,
      `must match ${SYMBOL_PATTERN.source} (upper-case letters, digits, '.', '-', ':'; 1 to 32 characters)`,
    );
  }
}

/** Why `value` is not a price in `field`, or undefined when it is one. */
export function checkPrice(
  field: string,
  value: unknown,
): Rejection | undefined {
  if (!isFiniteNumber(value) || value <= 0) {
    return rejection(field, value, "must be a finite number > 0");
  }
  if (value > MAX_PRICE) {
    return rejection(field, value, `must be at most ${MAX_PRICE}`);
  }
}

/**
 * Why `value` is not a `fetched_at` (epoch milliseconds, at most
 * {@linkcode MAX_CLOCK_SKEW_SECONDS} ahead of `now`), or undefined.
 */
export function checkFetchedAt(
  value: unknown,
  now: number,
): Rejection | undefined {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    return rejection(
      "fetched_at",
      value,
      "must be a positive integer (epoch milliseconds)",
    );
  }
  if ((value as number) > now + MAX_CLOCK_SKEW_SECONDS * 1000) {
    return rejection(
      "fetched_at",
      value,
      `must not be more than ${MAX_CLOCK_SKEW_SECONDS}s in the future`,
    );
  }
}

/** Why `value` is not a source, or undefined when it is one. */
export function checkSource(value: unknown): Rejection | undefined {
  if (typeof value !== "string" || !SOURCE_PATTERN.test(value)) {
    return rejection("source", value, `must match ${SOURCE_PATTERN.source}`);
  }
}

/**
 * Parses one event's JSON text, refusing text over
 * {@linkcode MAX_EVENT_BYTES} and malformed JSON with a rejection like any
 * other rule.
 *
 * @param text The event's JSON text.
 * @returns The parsed value, or why it was refused.
 */
export function parseEvent(
  text: string,
): { ok: true; value: unknown } | { ok: false; rejection: Rejection } {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short text needs no count.
  const bytes = text.length * 3 <= MAX_EVENT_BYTES
    ? text.length
    : new TextEncoder().encode(text).length;
  if (bytes > MAX_EVENT_BYTES) {
    return {
      ok: false,
      rejection: rejection(
        "event",
        `${bytes} bytes`,
        `must be at most ${MAX_EVENT_BYTES} bytes`,
      ),
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return {
      ok: false,
      rejection: rejection(
        "event",
        text,
        `must be valid JSON (${(error as Error).message})`,
      ),
    };
  }
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

/**
 * The rule a rejection names without the details of the one event in it:
 * what follows the rule's first ` (` up to its last `)` is left out, as in
 * `must not exceed h (191.2)` or `must be valid JSON (Unexpected token …)`.
 * Rejections of the same rule then read the same, so they can be counted
 * together.
 *
 * @param rejection The rejection.
 * @returns The rule, e.g. `must not exceed h`.
 *
 * @example A rule with the event's own value in it
 * ```ts
 * import { generalRule } from "./rules.ts";
 * generalRule({ field: "l", value: "192", rule: "must not exceed h (191.2)" });
 * // => "must not exceed h"
 * ```
 */
export function generalRule(rejection: Rejection): string {
  return rejection.rule.replace(/ \(.*\)/s, "");
}

const MAX_SHOWN_VALUE = 80;

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
