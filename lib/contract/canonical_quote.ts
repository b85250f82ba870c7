/**
 * Reading a quote event that is in its canonical form straight from its
 * UTF-8 bytes, without decoding them or `JSON.parse`: the text
 * `JSON.stringify` gives for a validated `Quote` (./quote.ts), which is what
 * the producer publishes. A canonical event lands as its own bytes plus its
 * coordinates, so the landing's workers skip decoding it, parsing it into an
 * object and writing it out again.
 *
 * Canonical here means: no whitespace; the contract's fields, each once, in
 * {@linkcode QUOTE_FIELDS} order; `symbol` and `source` as strings without
 * escapes; every other field a number written as `JSON.stringify` writes it.
 * Only numbers whose text is surely that are taken: plain decimals (no
 * exponent, no leading or trailing zeros, not `-0`) of at most 15
 * significant digits and at least 10⁻⁶, since each such text names a
 * different double and `JSON.stringify` writes that double back the same
 * way. Anything else (non-ASCII bytes included) is decoded and left to
 * {@linkcode parseQuote}, which reads every valid JSON text.
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

/** Each field's name as it starts its member: `{"symbol":` then `,"c":` and so on, as bytes. */
const HEADS = QUOTE_FIELDS.map((field, i) =>
  new TextEncoder().encode(`${i === 0 ? "{" : ","}"${field}":`)
);
/** The fields between `symbol` and `source`, all numbers. */
const NUMBER_FIELDS = QUOTE_FIELDS.length - 2;

/** Decodes an event that is not canonical, for {@linkcode parseQuote}. */
const decoder = new TextDecoder();

/** What {@linkcode readCanonicalQuote} found. */
export type CanonicalRead =
  | {
    /** The event is canonical and valid: its bytes are `JSON.stringify` of the quote. */
    canonical: true;
    validation: Validation & { ok: true };
  }
  | {
    /** Not canonical, or not valid: the validation is {@linkcode parseQuote}'s of the decoded text. */
    canonical: false;
    validation: Validation;
  };

/**
 * Parses and validates one encoded event as {@linkcode parseQuote} does
 * with its text decoded from UTF-8, and tells whether it is canonical (see
 * the module's doc): the validation is the same either way, and when
 * `canonical` is true the bytes are the UTF-8 of
 * `JSON.stringify(validation.quote)`.
 *
 * @param bytes The event's bytes.
 * @param options The validator's clock.
 * @returns The validation, and whether the event is canonical.
 */
export function readCanonicalQuote(
  bytes: Uint8Array,
  options: ValidateOptions = {},
): CanonicalRead {
  const fields = canonicalFields(bytes);
  if (fields !== null) {
    const validation = validateQuote(fields, options);
    if (validation.ok) return { canonical: true, validation };
  }
  return {
    canonical: false,
    validation: parseQuote(decoder.decode(bytes), options),
  };
}

/** The fields of a canonical event, or `null` when it is not surely canonical. */
function canonicalFields(bytes: Uint8Array): Record<string, unknown> | null {
  // Canonical text is ASCII: each character one byte.
  if (bytes.length > MAX_EVENT_BYTES || !startsWith(bytes, HEADS[0], 0)) {
    return null;
  }
  const symbolStart = HEADS[0].length;
  const symbolEnd = stringEnd(bytes, symbolStart);
  if (symbolEnd === -1) return null;
  const numbers = new Array<number>(NUMBER_FIELDS);
  const cursor = { at: symbolEnd };
  for (let f = 0; f < NUMBER_FIELDS; f++) {
    const head = HEADS[f + 1];
    if (!startsWith(bytes, head, cursor.at)) return null;
    cursor.at += head.length;
    const value = readNumber(bytes, cursor);
    if (value === null) return null;
    numbers[f] = value;
  }
  const last = HEADS[HEADS.length - 1];
  if (!startsWith(bytes, last, cursor.at)) return null;
  const sourceStart = cursor.at + last.length;
  const sourceEnd = stringEnd(bytes, sourceStart);
  if (sourceEnd !== bytes.length - 1 || bytes[sourceEnd] !== CLOSE) {
    return null;
  }
  const [c, d, dp, h, l, o, pc, t, fetched_at] = numbers;
  return {
    symbol: ascii(bytes, symbolStart + 1, symbolEnd - 1),
    c,
    d,
    dp,
    h,
    l,
    o,
    pc,
    t,
    fetched_at,
    source: ascii(bytes, sourceStart + 1, sourceEnd - 1),
  };
}

function startsWith(bytes: Uint8Array, head: Uint8Array, at: number): boolean {
  if (at + head.length > bytes.length) return false;
  for (let i = 0; i < head.length; i++) {
    if (bytes[at + i] !== head[i]) return false;
  }
  return true;
}

/** Where a string starting at `at` ends (after its closing quote), or -1 when it is absent or has escapes, control characters or non-ASCII bytes. */
function stringEnd(bytes: Uint8Array, at: number): number {
  if (bytes[at] !== QUOTE) return -1;
  for (let i = at + 1; i < bytes.length; i++) {
    const code = bytes[i];
    if (code === QUOTE) return i + 1;
    if (code === BACKSLASH || code < 32 || code > 126) return -1;
  }
  return -1;
}

/** The ASCII text of `bytes` from `start` to `end`. */
function ascii(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/**
 * Reads the number at `cursor.at` and moves past it, or gives `null` when
 * it is not a plain decimal `JSON.stringify` surely writes the same way.
 * Its digits, at most 15, make an integer below 2⁵³ and 10ⁿ is exact up to
 * n = 22, so one division gives the double nearest the decimal, as
 * `Number()` does.
 */
function readNumber(bytes: Uint8Array, cursor: { at: number }): number | null {
  let i = cursor.at;
  const negative = bytes[i] === MINUS;
  if (negative) i++;
  const intStart = i;
  let digits = 0;
  let code = bytes[i];
  while (code >= ZERO && code <= NINE) {
    digits = digits * 10 + (code - ZERO);
    code = bytes[++i];
  }
  const intDigits = i - intStart;
  if (intDigits === 0) return null;
  const zeroInt = bytes[intStart] === ZERO;
  if (zeroInt && intDigits > 1) return null; // a leading zero
  let fracDigits = 0;
  if (code === POINT) {
    code = bytes[++i];
    const fracStart = i;
    while (code >= ZERO && code <= NINE) {
      digits = digits * 10 + (code - ZERO);
      code = bytes[++i];
    }
    fracDigits = i - fracStart;
    // none, or a trailing zero
    if (fracDigits === 0 || bytes[i - 1] === ZERO) return null;
  }
  if (code !== COMMA && code !== CLOSE) return null; // an exponent, or anything else
  let significant = intDigits + fracDigits;
  if (zeroInt) {
    if (fracDigits === 0) {
      if (negative) return null; // -0
    } else {
      let leadingZeros = 0;
      while (bytes[intStart + 2 + leadingZeros] === ZERO) leadingZeros++;
      if (leadingZeros > MAX_LEADING_ZEROS) return null;
      significant = fracDigits - leadingZeros;
    }
  }
  if (significant > MAX_DIGITS) return null;
  cursor.at = i;
  const value = digits / POWERS_OF_TEN[fracDigits];
  return negative ? -value : value;
}
