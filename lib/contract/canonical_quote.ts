/**
 * Reading a quote event that is in its canonical form without `JSON.parse`:
 * the text `JSON.stringify` gives for a validated {@linkcode Quote}, which
 * is what the producer publishes. A canonical event lands as its own text
 * plus its coordinates, so the landing's workers skip parsing it into an
 * object and writing it out again.
 *
 * Canonical here means: no whitespace; the contract's fields, each once, in
 * {@linkcode QUOTE_FIELDS} order; `symbol` and `source` as strings without
 * escapes; every other field a number written as `JSON.stringify` writes it.
 * Only numbers whose text is surely that are taken: plain decimals (no
 * exponent, no leading or trailing zeros, not `-0`) of at most 15
 * significant digits and at least 10⁻⁶, since each such text names a
 * different double and `JSON.stringify` writes that double back the same
 * way. Anything else is left to {@linkcode parseQuote}, which reads every
 * valid JSON text.
 *
 * @module
 */
import {
  MAX_EVENT_BYTES,
  parseQuote,
  QUOTE_FIELDS,
  type ValidateOptions,
  validateQuote,
  type Validation,
} from "./quote.ts";

/** Significant digits a number may have here: each such decimal names its own double. */
const MAX_DIGITS = 15;
/** Zeros a number below 1 may have after its point: `JSON.stringify` writes 1e-7 with an exponent. */
const MAX_LEADING_ZEROS = 5;

const QUOTE = 34; // "
const COMMA = 44; // ,
const MINUS = 45; // -
const POINT = 46; // .
const ZERO = 48;
const NINE = 57;
const BACKSLASH = 92;
const CLOSE = 125; // }

/** 10⁰ to 10²², each exact as a double. */
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, n) => Number(`1e${n}`));

/** Each field's name as it starts its member: `{"symbol":` then `,"c":` and so on. */
const HEADS = QUOTE_FIELDS.map((field, i) =>
  `${i === 0 ? "{" : ","}"${field}":`
);
/** The fields between `symbol` and `source`, all numbers. */
const NUMBER_FIELDS = QUOTE_FIELDS.length - 2;

/** What {@linkcode readCanonicalQuote} found. */
export type CanonicalRead =
  | {
    /** The event is canonical and valid: its text is `JSON.stringify` of the quote. */
    canonical: true;
    validation: Validation & { ok: true };
  }
  | {
    /** Not canonical, or not valid: the validation is {@linkcode parseQuote}'s. */
    canonical: false;
    validation: Validation;
  };

/**
 * Parses and validates one encoded event as {@linkcode parseQuote} does,
 * and tells whether its text is canonical (see the module's doc): the
 * validation is the same either way, and when `canonical` is true the text
 * equals `JSON.stringify(validation.quote)`.
 *
 * @param text The event's JSON text.
 * @param options The validator's clock.
 * @returns The validation, and whether the text is canonical.
 */
export function readCanonicalQuote(
  text: string,
  options: ValidateOptions = {},
): CanonicalRead {
  const fields = canonicalFields(text);
  if (fields !== null) {
    const validation = validateQuote(fields, options);
    if (validation.ok) return { canonical: true, validation };
  }
  return { canonical: false, validation: parseQuote(text, options) };
}

/** The fields of a canonical event, or `null` when the text is not surely canonical. */
function canonicalFields(text: string): Record<string, unknown> | null {
  // Canonical text is ASCII, so its length is its size in bytes.
  if (text.length > MAX_EVENT_BYTES || !text.startsWith(HEADS[0])) return null;
  const symbolEnd = stringEnd(text, HEADS[0].length);
  if (symbolEnd === -1) return null;
  const numbers = new Array<number>(NUMBER_FIELDS);
  const cursor = { at: symbolEnd };
  for (let f = 0; f < NUMBER_FIELDS; f++) {
    const head = HEADS[f + 1];
    if (!text.startsWith(head, cursor.at)) return null;
    cursor.at += head.length;
    const value = readNumber(text, cursor);
    if (value === null) return null;
    numbers[f] = value;
  }
  const last = HEADS[HEADS.length - 1];
  if (!text.startsWith(last, cursor.at)) return null;
  const sourceStart = cursor.at + last.length;
  const sourceEnd = stringEnd(text, sourceStart);
  if (sourceEnd !== text.length - 1 || text.charCodeAt(sourceEnd) !== CLOSE) {
    return null;
  }
  const [c, d, dp, h, l, o, pc, t, fetched_at] = numbers;
  return {
    symbol: text.slice(HEADS[0].length + 1, symbolEnd - 1),
    c,
    d,
    dp,
    h,
    l,
    o,
    pc,
    t,
    fetched_at,
    source: text.slice(sourceStart + 1, sourceEnd - 1),
  };
}

/** Where a string starting at `at` ends (after its closing quote), or -1 when it is absent or has escapes or control characters. */
function stringEnd(text: string, at: number): number {
  if (text.charCodeAt(at) !== QUOTE) return -1;
  for (let i = at + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) return i + 1;
    if (code === BACKSLASH || code < 32) return -1;
  }
  return -1;
}

/**
 * Reads the number at `cursor.at` and moves past it, or gives `null` when
 * it is not a plain decimal `JSON.stringify` surely writes the same way.
 * Its digits, at most 15, make an integer below 2⁵³ and 10ⁿ is exact up to
 * n = 22, so one division gives the double nearest the decimal, as
 * `Number()` does.
 */
function readNumber(text: string, cursor: { at: number }): number | null {
  let i = cursor.at;
  const negative = text.charCodeAt(i) === MINUS;
  if (negative) i++;
  const intStart = i;
  let digits = 0;
  let code = text.charCodeAt(i);
  while (code >= ZERO && code <= NINE) {
    digits = digits * 10 + (code - ZERO);
    code = text.charCodeAt(++i);
  }
  const intDigits = i - intStart;
  if (intDigits === 0) return null;
  const zeroInt = text.charCodeAt(intStart) === ZERO;
  if (zeroInt && intDigits > 1) return null; // a leading zero
  let fracDigits = 0;
  if (code === POINT) {
    code = text.charCodeAt(++i);
    const fracStart = i;
    while (code >= ZERO && code <= NINE) {
      digits = digits * 10 + (code - ZERO);
      code = text.charCodeAt(++i);
    }
    fracDigits = i - fracStart;
    // none, or a trailing zero
    if (fracDigits === 0 || text.charCodeAt(i - 1) === ZERO) return null;
  }
  if (code !== COMMA && code !== CLOSE) return null; // an exponent, or anything else
  let significant = intDigits + fracDigits;
  if (zeroInt) {
    if (fracDigits === 0) {
      if (negative) return null; // -0
    } else {
      let leadingZeros = 0;
      while (text.charCodeAt(intStart + 2 + leadingZeros) === ZERO) {
        leadingZeros++;
      }
      if (leadingZeros > MAX_LEADING_ZEROS) return null;
      significant = fracDigits - leadingZeros;
    }
  }
  if (significant > MAX_DIGITS) return null;
  cursor.at = i;
  const value = digits / POWERS_OF_TEN[fracDigits];
  return negative ? -value : value;
}
