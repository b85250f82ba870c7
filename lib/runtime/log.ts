/**
 * Structured, quiet-by-default logging.
 *
 * Each line is logfmt (`ts=… level=info msg="landed object" key=…`) on
 * stderr, or JSON with `LOG_FORMAT=json`. `LOG_LEVEL` (`debug`, `info`,
 * `warn`, `error`; default `info`) sets the threshold. Values registered with
 * {@linkcode registerSecret}, and any field whose name looks like a secret, are
 * replaced by `***` before a line is written, so a key never reaches a log.
 *
 * @module
 */

/** Log levels, from the most to the least verbose. */
export type Level = "debug" | "info" | "warn" | "error";

/** Extra fields of a log line. */
export type Fields = Record<string, unknown>;

const LEVELS: Record<Level, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
};
const SECRET_FIELD =
  /(api_?key|access_?key|private_?key|secret|password|passphrase|token|credential)/i;
const REDACTED = "***";
const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();

/**
 * Registers a secret value: it is replaced by `***` wherever it appears in a
 * log line. Values shorter than 4 characters are ignored, as masking them
 * would garble ordinary text.
 *
 * @param value The secret, e.g. an API key read from the environment.
 */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

/**
 * Replaces every registered secret in `text` by `***`.
 *
 * @param text Any text bound for a log, an error message or a report.
 * @returns The text without secrets.
 */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.replaceAll(secret, REDACTED);
  return out;
}

/** Where log lines go; tests swap it to capture lines. */
export interface LogSink {
  /** Writes one finished line, without its newline. */
  write(line: string): void;
}

const stderrSink: LogSink = {
  write(line) {
    Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
  },
};

let sink: LogSink = stderrSink;

/**
 * Sends log lines to `next` instead of stderr, and returns a function that
 * restores the previous sink.
 *
 * @param next The new sink.
 * @returns A function restoring the previous sink.
 */
export function setLogSink(next: LogSink): () => void {
  const previous = sink;
  sink = next;
  return () => {
    sink = previous;
  };
}

/** A logger bound to a component name, e.g. `consumer`. */
export interface Logger {
  /** Logs at debug level. */
  debug(msg: string, fields?: Fields): void;
  /** Logs at info level. */
  info(msg: string, fields?: Fields): void;
  /** Logs at warn level. */
  warn(msg: string, fields?: Fields): void;
  /** Logs at error level. */
  error(msg: string, fields?: Fields): void;
}

/**
 * Creates a logger for one component.
 *
 * @param component The component's name, written as `component=…`.
 * @returns The logger.
 *
 * @example Logging a landed object
 * ```ts
 * import { logger } from "./log.ts";
 * const log = logger("consumer");
 * log.info("landed object", { key: "stock-quotes/…", events: 10 });
 * ```
 */
export function logger(component: string): Logger {
  const emit = (level: Level) => (msg: string, fields: Fields = {}) => {
    if (LEVELS[level] < LEVELS[threshold()]) return;
    const record: Fields = {
      ts: new Date().toISOString(),
      level,
      component,
      msg,
    };
    for (const [name, value] of Object.entries(fields)) {
      record[name] = SECRET_FIELD.test(name) ? REDACTED : plain(value);
    }
    sink.write(redact(format(record)));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
  };
}

function threshold(): Level {
  const level = (Deno.env.get("LOG_LEVEL") ?? "info").toLowerCase();
  return level in LEVELS ? level as Level : "info";
}

function plain(value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  return value;
}

function format(record: Fields): string {
  if (Deno.env.get("LOG_FORMAT") === "json") return JSON.stringify(record);
  return Object.entries(record)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${logfmtValue(value)}`)
    .join(" ");
}

function logfmtValue(value: unknown): string {
  const text = typeof value === "string"
    ? value
    : JSON.stringify(value) ?? String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}
