/**
 * The landed-line contract (lib/contract/landed_line.ts) in DuckDB SQL, so
 * that a load checks the lines of clean objects in one vectorized pass
 * instead of parsing each in TypeScript.
 *
 * The SQL accepts a line only when it is exactly what the landing writer
 * writes (lib/land/partition_writer.ts): the quote's fields in contract
 * order, then `_stream`, no space, each value printed back as the line has
 * it. A line rebuilt from DuckDB's reading of its values must equal the line
 * itself, so DuckDB's leniencies (trailing commas, `NaN`) and any other
 * spelling never pass here; the values then meet the rules of
 * `validateQuote`. What the SQL does not accept is not refused by it: the
 * object goes to the TypeScript check (./line_check.ts), which accepts or
 * refuses with the rule broken. So the SQL may only be stricter than the
 * TypeScript validator, never looser, and a property test
 * (tests/unit/line_rules_test.ts) holds them to that, and to accepting every
 * line the writer writes.
 *
 * @module
 */
import {
  MAX_CLOCK_SKEW_SECONDS,
  MAX_PRICE,
  SOURCE_PATTERN,
  SYMBOL_PATTERN,
} from "../../contract/quote.ts";

/** The JSON paths read from a line, in the order the writer writes them. */
const FIELDS = [
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
  "_stream.id",
  "_stream.topic",
  "_stream.partition",
  "_stream.offset",
  "_stream.timestamp",
] as const;

type Field = typeof FIELDS[number];

/** The JSON text of one field's value in `j`, the list of values read. */
function value(field: Field): string {
  return `j[${FIELDS.indexOf(field) + 1}]`;
}

/** The line as the writer writes it, rebuilt from the values read. */
function rebuilt(): string {
  const parts: string[] = [];
  let stream = false;
  for (const field of FIELDS) {
    const [outer, inner] = field.split(".");
    const name = inner ?? outer;
    let prefix = parts.length === 0 ? "{" : ",";
    if (inner !== undefined && !stream) {
      stream = true;
      prefix = `,"${outer}":{`;
    }
    parts.push(`'${prefix}"${name}":' || ${value(field)}`);
  }
  return `${parts.join(" || ")} || '}}'`;
}

/**
 * One field's value as a SQL type, or null: DuckDB evaluates every operand
 * of an `and`, so no cast may fail on a line that breaks another rule.
 */
function cast(field: Field, type: string): string {
  return `try_cast(${value(field)} as ${type})`;
}

/** A regular expression of the contract, for RE2's whole-string match. */
function pattern(re: RegExp): string {
  return re.source.replace(/^\^/, "").replace(/\$$/, "").replaceAll("'", "''");
}

const SAFE_INTEGER = "9007199254740991";

/** A non-negative integer as JSON writes one, at most 2^53 - 1. */
function count(field: Field): string {
  return `json_type(${value(field)}) = 'UBIGINT' and ${
    cast(field, "ubigint")
  } <= ${SAFE_INTEGER}`;
}

/** A finite number. */
function finite(field: Field): string {
  return `json_type(${
    value(field)
  }) in ('UBIGINT', 'BIGINT', 'DOUBLE') and isfinite(${cast(field, "double")})`;
}

/** A non-empty string. */
function text(field: Field): string {
  return `json_type(${value(field)}) = 'VARCHAR' and (${
    value(field)
  } ->> '$') <> ''`;
}

/**
 * Whether a line passes: a boolean SQL expression over the column `line` and
 * the list `j` of its values ({@linkcode LINE_VALUES}), with `$1` the
 * validator's clock in epoch milliseconds. Null when a value is missing,
 * read as not passing.
 */
export const LINE_PASSES = [
  `line = ${rebuilt()}`,
  `json_type(${value("symbol")}) = 'VARCHAR' and regexp_full_match(${
    value("symbol")
  } ->> '$', '${pattern(SYMBOL_PATTERN)}')`,
  ...(["c", "h", "l", "o", "pc"] as const).map((field) =>
    `json_type(${value(field)}) in ('UBIGINT', 'DOUBLE') and ${
      cast(field, "double")
    } > 0 and ${cast(field, "double")} <= ${MAX_PRICE}`
  ),
  finite("d"),
  finite("dp"),
  `${cast("l", "double")} <= ${cast("h", "double")}`,
  `${count("fetched_at")} and ${cast("fetched_at", "ubigint")} > 0`,
  `${cast("fetched_at", "ubigint")} <= $1::ubigint + ${
    MAX_CLOCK_SKEW_SECONDS * 1000
  }`,
  `${count("t")} and ${cast("t", "ubigint")} > 0`,
  `${cast("t", "double")} <= ${
    cast("fetched_at", "double")
  } / 1000 + ${MAX_CLOCK_SKEW_SECONDS}`,
  `json_type(${value("source")}) = 'VARCHAR' and regexp_full_match(${
    value("source")
  } ->> '$', '${pattern(SOURCE_PATTERN)}')`,
  text("_stream.id"),
  text("_stream.topic"),
  count("_stream.partition"),
  count("_stream.offset"),
  count("_stream.timestamp"),
].map((rule) => `(${rule})`).join("\n  and ");

/**
 * The values of a line, read once: a list of JSON texts in the writer's
 * field order, null when the line is not JSON at all.
 */
export const LINE_VALUES = `try(json_extract(line, [${
  FIELDS.map((field) => `'$.${field}'`).join(", ")
}]))`;

/** The coordinates of a line that passed, as SQL expressions over `j`. */
export const LINE_COORDINATES = {
  streamId: `${value("_stream.id")} ->> '$'`,
  topic: `${value("_stream.topic")} ->> '$'`,
  partition: `${cast("_stream.partition", "integer")}`,
  offset: `${cast("_stream.offset", "bigint")}`,
  timestamp: `${cast("_stream.timestamp", "bigint")}`,
};
