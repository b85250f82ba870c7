/**
 * The landed-line contract (lib/contract/landed_line.ts) in DuckDB SQL, so
 * that a load checks the lines of clean objects in one vectorized pass
 * instead of parsing each in TypeScript.
 *
 * The SQL accepts a line only when it is spelled exactly as the landing
 * writer writes it (`formatLandedLine`): DuckDB reads the JSON texts of the
 * contract's fields in one parse, as the fields of a struct (a list's
 * elements cost far more to read), and the line rebuilt from them, the quote's
 * fields in contract order and then `_stream`, without a space, must equal
 * the line. So the line holds these keys only, once each, and no leniency of
 * DuckDB's parser (a trailing comma, say) passes. Each text must then be a
 * number in JSON's grammar, a non-negative integer, or a string without
 * escapes (or a list of such strings), as its field requires, and its value
 * must meet the rules of the kind's validator (`validateQuote`,
 * `validateTrade`). A line the SQL does not accept is not refused by it: its
 * object goes to the TypeScript check (./line_check.ts), which accepts it
 * or names the rule broken. So the SQL may only be stricter than the
 * TypeScript validator, never looser; a property test
 * (tests/unit/line_rules_test.ts) holds it to that, and to accepting every
 * line the writer writes.
 *
 * @module
 */
import type { EventKind } from "../../contract/kinds.ts";
import { STREAM_FIELDS } from "../../contract/landed_line.ts";
import {
  MAX_CLOCK_SKEW_SECONDS,
  MAX_PRICE,
  QUOTE_FIELDS,
  SOURCE_PATTERN,
  SYMBOL_PATTERN,
} from "../../contract/quote.ts";
import {
  CONDITION_PATTERN,
  MAX_CONDITIONS,
  MAX_VOLUME,
  MIN_TRADE_TIME,
  TRADE_FIELDS,
} from "../../contract/trade.ts";

/** The JSON paths of `_stream` read from a line. */
const STREAM_PATHS = STREAM_FIELDS.map((field) => `_stream.${field}`);

/** A JSON path read from a line: an event's field, or `_stream.` and a coordinate. */
type Field = string;

/** The JSON text of one field's value in `j`, the struct of texts read. */
function text(field: Field): string {
  return `j.${field.split(".").map((name) => `"${name}"`).join(".")}::varchar`;
}

/** The line as the writer writes it, rebuilt from the texts read of `fields`. */
function rebuilt(fields: readonly Field[]): string {
  const parts: string[] = [];
  let inStream = false;
  for (const field of fields) {
    const [outer, inner] = field.split(".");
    let prefix = parts.length === 0 ? "{" : ",";
    if (inner !== undefined && !inStream) {
      inStream = true;
      prefix = `,"${outer}":{`;
    }
    parts.push(`'${prefix}"${inner ?? outer}":'`, text(field));
  }
  return `concat(${parts.join(", ")}, '}}')`;
}

/**
 * A number field's value: its text cast to a double, null when it is not a
 * number (a string, a literal, a list). DuckDB also casts `NaN` and
 * `Infinity`, which the rules' bounds and `isfinite` then refuse.
 */
function number(field: Field): string {
  return `try_cast(${text(field)} as double)`;
}

/**
 * A non-negative integer field's value, null unless its text is the integer
 * written plainly (DuckDB would also cast `1.5`, `1e3` or `-0`).
 */
function count(field: Field): string {
  const cast = `try_cast(${text(field)} as ubigint)`;
  return `(case when ${cast}::varchar = ${text(field)} then ${cast} end)`;
}

/** A string of the contract's pattern, whose characters need no escape in JSON. */
function quoted(field: Field, re: RegExp): string {
  const source = re.source.replace(/^\^/, "").replace(/\$$/, "");
  return `regexp_full_match(${text(field)}, '"(${source})"')`;
}

/**
 * A non-empty string without escapes (DuckDB writes a string's text back
 * with an escape for each quote, backslash and control character).
 */
function plain(field: Field): string {
  return `(starts_with(${text(field)}, '"') and length(${
    text(field)
  }) > 2 and not contains(${text(field)}, '\\'))`;
}

const SAFE_INTEGER = "9007199254740991";

/** The rules of a quote's fields (`validateQuote`), as SQL over `j` ($1: the clock). */
const QUOTE_RULES = [
  quoted("symbol", SYMBOL_PATTERN),
  ...(["c", "h", "l", "o", "pc"] as const).map(price),
  `isfinite(${number("d")})`,
  `isfinite(${number("dp")})`,
  `${number("l")} <= ${number("h")}`,
  ...fetchedAt(),
  `${count("t")} between 1 and ${SAFE_INTEGER}`,
  `${count("t")}::double <= ${
    count("fetched_at")
  }::double / 1000 + ${MAX_CLOCK_SKEW_SECONDS}`,
  quoted("source", SOURCE_PATTERN),
];

/** The rules of a trade's fields (`validateTrade`), as SQL over `j` ($1: the clock). */
const TRADE_RULES = [
  quoted("symbol", SYMBOL_PATTERN),
  price("p"),
  `${number("v")} >= 0 and ${number("v")} <= ${MAX_VOLUME}`,
  ...fetchedAt(),
  `${count("t")} between ${MIN_TRADE_TIME} and ${SAFE_INTEGER}`,
  `${count("t")} <= ${count("fetched_at")} + ${MAX_CLOCK_SKEW_SECONDS * 1000}`,
  // A list of plain codes, written without spaces (the rebuilt line holds it).
  `regexp_full_match(${text("c")}, '\\[(${code()}(,${code()}){0,${
    MAX_CONDITIONS - 1
  }})?\\]')`,
  quoted("source", SOURCE_PATTERN),
];

/** A price: a number above 0, at most the contract's bound. */
function price(field: Field): string {
  return `${number(field)} > 0 and ${number(field)} <= ${MAX_PRICE}`;
}

/** `fetched_at`: epoch milliseconds, at most the skew ahead of the clock `$1`. */
function fetchedAt(): string[] {
  return [
    `${count("fetched_at")} between 1 and ${SAFE_INTEGER}`,
    `${count("fetched_at")} <= $1::ubigint + ${MAX_CLOCK_SKEW_SECONDS * 1000}`,
  ];
}

/** One condition code of a trade, quoted, as a regular expression. */
function code(): string {
  return `"${CONDITION_PATTERN.source.replace(/^\^/, "").replace(/\$$/, "")}"`;
}

/** The rules of `_stream`'s coordinates. */
const STREAM_RULES = [
  plain("_stream.id"),
  plain("_stream.topic"),
  `${count("_stream.partition")} <= 2147483647`,
  `${count("_stream.offset")} <= ${SAFE_INTEGER}`,
  `${count("_stream.timestamp")} <= ${SAFE_INTEGER}`,
];

/** The SQL check of one kind's landed lines. */
export interface LineRules {
  /**
   * A line's JSON, null when DuckDB cannot parse it. The text is kept as it
   * is, so a line that passes goes to RAW's `v` without a second parse.
   */
  json: string;
  /**
   * The texts of a line, read in one parse: a struct of the JSON texts of the
   * fields, null when the line is not JSON at all.
   */
  values: string;
  /**
   * Whether a line passes: a boolean SQL expression over the column `line`
   * and the struct `j` of its texts ({@linkcode LineRules.values}), with `$1`
   * the validator's clock in epoch milliseconds. Null reads as not passing.
   */
  passes: string;
  /** The coordinates of a line that passed, as SQL expressions over `j`. */
  coordinates: typeof LINE_COORDINATES;
}

/**
 * The SQL check of the landed lines of one kind of event.
 *
 * @param kind The kind.
 * @returns Its expressions.
 */
export function lineRules(kind: EventKind): LineRules {
  const fields = [
    ...(kind === "quotes" ? QUOTE_FIELDS : TRADE_FIELDS),
    ...STREAM_PATHS,
  ];
  const rules = kind === "quotes" ? QUOTE_RULES : TRADE_RULES;
  return {
    json: "try_cast(line as json)",
    values: `try(json_transform(line, '${JSON.stringify(structOf(fields))}'))`,
    passes: [
      // JavaScript writes a positive exponent as `e+`, DuckDB as `e`.
      `replace(line, 'e+', 'e') = ${rebuilt(fields)}`,
      ...rules,
      ...STREAM_RULES,
    ].map((rule) => `(${rule})`).join("\n  and "),
    coordinates: LINE_COORDINATES,
  };
}

/** The struct type that reads each field as its JSON text. */
function structOf(fields: readonly string[]): Record<string, unknown> {
  const struct: Record<string, unknown> = {};
  for (const field of fields) {
    const [outer, inner] = field.split(".");
    if (inner === undefined) {
      struct[outer] = "JSON";
    } else {
      const nested = (struct[outer] ?? {}) as Record<string, string>;
      nested[inner] = "JSON";
      struct[outer] = nested;
    }
  }
  return struct;
}

/** A string field's value, its text without the quotes (it has no escapes). */
function unquoted(field: Field): string {
  return `(${text(field)})[2:-2]`;
}

/** The coordinates of a line that passed, as SQL expressions over `j`. */
const LINE_COORDINATES = {
  streamId: unquoted("_stream.id"),
  topic: unquoted("_stream.topic"),
  partition: `try_cast(${count("_stream.partition")} as integer)`,
  offset: `try_cast(${count("_stream.offset")} as bigint)`,
  timestamp: `try_cast(${count("_stream.timestamp")} as bigint)`,
};
