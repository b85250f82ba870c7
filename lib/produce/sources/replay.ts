/**
 * The replay source: reads files of events in the contract's shape, in order,
 * and ends when the input ends.
 *
 * Replays one kind of event (quotes by default, or trades), each line checked
 * by that kind's contract (`CONTRACTS[kind]`). Accepts NDJSON (`.ndjson`,
 * `.jsonl`, `.json`) and CSV (`.csv`, with a header naming the contract's
 * fields), each optionally gzipped (`.gz`), so the lake's own objects replay
 * as they are. A directory replays every such file under it, in path order.
 * Lines that break the contract go to the dead-letter place through
 * `onReject`, with their file and line number.
 *
 * In a CSV of trades, the cell of `c` (the condition codes) holds the codes
 * separated by spaces, e.g. `1 12`; an empty cell is no codes (`[]`). Codes
 * are letters and digits only, so a space never occurs inside one.
 *
 * @module
 */
import { join } from "node:path";
import {
  CONTRACTS,
  type EventKind,
  type MarketEvent,
} from "../../contract/kinds.ts";
import {
  countSkip,
  emptyStats,
  type OnReject,
  type Source,
  type SourceReject,
  type SourceStats,
} from "../source.ts";

const FORMATS = /\.(ndjson|jsonl|json|csv)(\.gz)?$/;

/** Options for {@linkcode ReplaySource}. */
export interface ReplaySourceOptions {
  /** Files or directories to replay, in order. */
  paths: string[];
  /**
   * The kind of event the files hold.
   *
   * @default {"quotes"}
   */
  kind?: EventKind;
}

/** Replays files of events of one kind. */
export class ReplaySource implements Source {
  /**
   * `replay` for quotes, `replay-trades` for trades (its dead letters go
   * under that name); each event keeps the `source` it was recorded with.
   */
  readonly name: string;
  /** The kind of event replayed. */
  readonly kind: EventKind;
  /** Counters so far. */
  readonly stats: SourceStats = emptyStats();
  readonly #paths: string[];

  /**
   * Creates the source.
   *
   * @param options The files or directories.
   * @throws {RangeError} When no path is given.
   */
  constructor(options: ReplaySourceOptions) {
    if (options.paths.length === 0) {
      throw new RangeError(
        "Cannot replay as 'paths' must name at least one file: current value is []",
      );
    }
    this.#paths = options.paths;
    this.kind = options.kind ?? "quotes";
    this.name = this.kind === "quotes" ? "replay" : `replay-${this.kind}`;
  }

  /**
   * Yields each valid event of each file in order.
   *
   * @throws {Error} When a path does not exist or is not a supported format.
   */
  async *events(
    signal: AbortSignal,
    onReject?: OnReject,
  ): AsyncIterable<MarketEvent> {
    const contract = CONTRACTS[this.kind];
    const lists = new Set<string>(this.kind === "trades" ? ["c"] : []);
    const numeric = new Set<string>(
      contract.fields.filter((f) => !TEXT_FIELDS.has(f) && !lists.has(f)),
    );
    for (const path of await expand(this.#paths)) {
      let header: string[] | null = null;
      const csv = /\.csv(\.gz)?$/.test(path);
      let number = 0;
      for await (const lines of readLineChunks(path)) {
        for (const line of lines) {
          number++;
          if (signal.aborted) return;
          if (line.trim() === "") continue;
          if (csv && header === null) {
            header = line.split(",").map((name) => unquote(name.trim()));
            continue;
          }
          let event: unknown;
          try {
            event = csv
              ? fromCsv(header!, line, numeric, lists)
              : JSON.parse(line);
          } catch (error) {
            await this.#reject(onReject, `${path}:${number}`, line, {
              field: "event",
              value: line.slice(0, 80),
              rule: `must be ${csv ? "a well-formed CSV row" : "valid JSON"} (${
                (error as Error).message
              })`,
            });
            continue;
          }
          const result = contract.validate(event);
          if (!result.ok) {
            await this.#reject(
              onReject,
              `${path}:${number}`,
              line,
              result.rejection,
            );
            continue;
          }
          this.stats.emitted++;
          yield result.event;
        }
      }
    }
  }

  async #reject(
    onReject: OnReject | undefined,
    position: string,
    input: string,
    rejection: SourceReject["rejection"],
  ): Promise<void> {
    countSkip(this.stats, "invalid");
    await onReject?.({ position, input, rejection });
  }
}

/** Turns the paths into the list of files to read, directories expanded in path order. */
async function expand(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          `Cannot replay ${JSON.stringify(path)} as it does not exist`,
        );
      }
      throw error;
    }
    if (info.isDirectory) {
      files.push(...await filesUnder(path));
    } else if (FORMATS.test(path)) {
      files.push(path);
    } else {
      throw new Error(
        `Cannot replay ${
          JSON.stringify(path)
        } as it must end in .ndjson, .jsonl, .json or .csv, optionally followed by .gz`,
      );
    }
  }
  return files;
}

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await filesUnder(path));
    else if (entry.isFile && FORMATS.test(entry.name)) found.push(path);
  }
  return found.sort();
}

/**
 * Reads a (possibly gzipped) text file line by line, without loading it
 * whole: the lines of each chunk read together (one await per chunk, not per
 * line).
 */
async function* readLineChunks(path: string): AsyncIterable<string[]> {
  const file = await Deno.open(path, { read: true });
  let bytes: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    bytes = bytes.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<
        Uint8Array,
        Uint8Array
      >,
    );
  }
  let rest = "";
  for await (const text of bytes.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    yield parts.map((part) => part.endsWith("\r") ? part.slice(0, -1) : part);
  }
  if (rest !== "") yield [rest.endsWith("\r") ? rest.slice(0, -1) : rest];
}

/** The fields read as text from a CSV cell; the others are numbers, or lists (a trade's `c`). */
const TEXT_FIELDS = new Set<string>(["symbol", "source"]);

/** A plain decimal number, as a CSV cell of a numeric field must be. */
const DECIMAL = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * One CSV row as an event: numeric fields as numbers, list fields as their
 * space-separated items (an empty cell is an empty list), other empty cells
 * left out. A numeric field's cell that is not a number is kept as text, so
 * the contract's rejection shows the value received.
 */
function fromCsv(
  header: string[],
  line: string,
  numeric: ReadonlySet<string>,
  lists: ReadonlySet<string>,
): Record<string, unknown> {
  const cells = line.split(",");
  if (cells.length !== header.length) {
    throw new SyntaxError(
      `expected ${header.length} CSV cells, found ${cells.length}`,
    );
  }
  const event: Record<string, unknown> = {};
  header.forEach((name, i) => {
    const cell = unquote(cells[i].trim());
    if (lists.has(name)) {
      event[name] = cell.split(" ").filter((item) => item !== "");
      return;
    }
    if (cell === "") return;
    event[name] = numeric.has(name) && DECIMAL.test(cell) ? Number(cell) : cell;
  });
  return event;
}

function unquote(cell: string): string {
  return cell.length >= 2 && cell.startsWith('"') && cell.endsWith('"')
    ? cell.slice(1, -1)
    : cell;
}
