/**
 * Command-line options of the entry points: the source options shared by
 * `producer.ts` and `demo.ts` (which source, its settings, the run's bound),
 * and the loader's selection of lake objects.
 *
 * @module
 */
import type { Config } from "../runtime/config.ts";
import type { LoadSelection } from "../load/loader.ts";
import { type EventKind, parseKind } from "../contract/kinds.ts";
import type { Source } from "../produce/source.ts";
import type { Stream } from "../stream/stream.ts";
import { parseCommandLine, selectedKinds } from "./command_line.ts";
import { findResumePoints } from "./resume.ts";
import { FinnhubSource } from "../produce/sources/finnhub.ts";
import { FinnhubTradesSource } from "../produce/sources/finnhub_trades.ts";
import { ReplaySource } from "../produce/sources/replay.ts";
import { SimulatedSource } from "../produce/sources/simulated.ts";
import { SimulatedTradesSource } from "../produce/sources/simulated_trades.ts";

export { type OptionSpec, parseCommandLine } from "./command_line.ts";

/** The parsed source options. */
export interface SourceArgs {
  /** Which source. */
  source: SourceName;
  /** Files or directories to replay. */
  files: string[];
  /** The kind of event replayed (`--kind`); the other sources have their own. */
  kind?: EventKind;
  /** Simulated events per second. */
  rate?: number;
  /** Simulated seed. */
  seed?: number;
  /** Most events to publish. */
  count?: number;
  /** How long to run, in milliseconds. */
  durationMs?: number;
  /** Other flags, for the caller. */
  flags: Record<string, boolean>;
}

/** The sources, quotes' first. */
export const SOURCES = [
  "simulated",
  "finnhub",
  "replay",
  "simulated-trades",
  "finnhub-trades",
] as const;

/** A source's name on the command line. */
export type SourceName = typeof SOURCES[number];

/** The kind of event each source yields; replay's comes from `--kind`. */
const SOURCE_KINDS: Record<SourceName, EventKind | undefined> = {
  simulated: "quotes",
  finnhub: "quotes",
  replay: undefined,
  "simulated-trades": "trades",
  "finnhub-trades": "trades",
};

/** Usage text of the source options. */
export const SOURCE_USAGE = `Source options:
  --source NAME       where events come from (default: simulated):
                        simulated         quotes: a seeded random walk per symbol
                        finnhub           quotes: Finnhub's REST /quote, polled (FINNHUB_API_KEY)
                        replay            quotes or trades (--kind) from files
                        simulated-trades  trades: seeded random arrivals, prices and sizes
                        finnhub-trades    trades: Finnhub's trades WebSocket (FINNHUB_API_KEY,
                                          FINNHUB_WS_URL); reconnects after FINNHUB_WS_IDLE_MS of silence
                      quotes go to KAFKA_TOPIC, trades to KAFKA_TRADES_TOPIC
  --kind quotes|trades  replay: the kind of event the files hold (default: quotes);
                      a CSV of trades writes 'c' as codes separated by spaces
  --file PATH         replay: an NDJSON/CSV file (.gz too) or a directory; repeatable
  --rate N            simulated: quotes per second (default: SIM_RATE, else one quote per
                      symbol per second); simulated-trades: trades per second, all symbols
                      together (default: two per symbol per second)
  --seed N            simulated, simulated-trades: seed (default: SIM_SEED, 42); every
                      simulated run continues each symbol from its last quote
  --count N           stop after N events
  --duration D        stop after D, e.g. 20s, 5m, 1h (replay ends with its input)`;

/**
 * Parses the source options; unknown options are an error.
 *
 * @param args Command-line arguments.
 * @param booleans Extra boolean flags the caller accepts, e.g. `continuous`.
 * @param command The task, as an error names it.
 * @returns The options.
 * @throws {RangeError} On an unknown option, an invalid value, or `--file`
 * without `--source replay`.
 */
export function parseSourceArgs(
  args: string[],
  booleans: string[] = [],
  command = "produce",
): SourceArgs {
  const parsed = parseCommandLine(command, args, {
    source: { type: "string", default: "simulated" },
    file: { type: "string", multiple: true, default: [] },
    kind: { type: "string" },
    rate: { type: "string" },
    seed: { type: "string" },
    count: { type: "string" },
    duration: { type: "string" },
    ...Object.fromEntries(
      booleans.map((name) => [name, { type: "boolean" as const }]),
    ),
  });
  const values = parsed as Record<string, unknown>;
  const source = values.source as string;
  if (!(SOURCES as readonly string[]).includes(source)) {
    throw new RangeError(
      `Cannot start as '--source' must be one of ${
        SOURCES.join(", ")
      }: current value is ${JSON.stringify(source)}`,
    );
  }
  const files = values.file as string[];
  if (source === "replay" && files.length === 0) {
    throw new RangeError(
      "Cannot replay as '--file' must name a file or directory: current value is none",
    );
  }
  if (source !== "replay" && files.length > 0) {
    throw new RangeError(
      `Cannot read '--file' as it needs '--source replay': current values are --source ${source} --file ${
        files.join(" --file ")
      }`,
    );
  }
  const kindText = values.kind as string | undefined;
  const kind = kindText === undefined ? undefined : parseKind(kindText);
  const own = SOURCE_KINDS[source as SourceName];
  if (kind !== undefined && own !== undefined && kind !== own) {
    throw new RangeError(
      `Cannot start as '--kind' must be ${own} for --source ${source}, which yields only ${own}: current value is ${
        JSON.stringify(kindText)
      }`,
    );
  }
  const flags: Record<string, boolean> = { help: values.help === true };
  for (const name of booleans) flags[name] = values[name] === true;
  return {
    source: source as SourceName,
    files,
    kind: kind ?? own,
    rate: optionalNumber("--rate", values.rate as string | undefined, false),
    seed: optionalNumber("--seed", values.seed as string | undefined, true),
    count: optionalNumber("--count", values.count as string | undefined, true),
    durationMs: values.duration === undefined
      ? undefined
      : parseDuration(values.duration as string),
    flags,
  };
}

/**
 * Parses a duration such as `500ms`, `20s`, `5m` or `1h`.
 *
 * @param text The duration.
 * @returns Milliseconds.
 * @throws {RangeError} When the text is not a positive duration.
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  const value = match ? Number(match[1]) : NaN;
  if (!match || !(value > 0)) {
    throw new RangeError(
      `Cannot run as '--duration' must be a positive number followed by ms, s, m or h: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  const unit = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  }[match[2] as "ms" | "s" | "m" | "h"];
  return Math.round(value * unit);
}

function optionalNumber(
  name: string,
  text: string | undefined,
  integer: boolean,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (
    !(value > 0) || !Number.isFinite(value) ||
    (integer && !Number.isSafeInteger(value))
  ) {
    throw new RangeError(
      `Cannot start as '${name}' must be a positive ${
        integer ? "integer" : "number"
      }: current value is ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/**
 * Events per second of a simulated run: `--rate`, else `SIM_RATE`, else one
 * quote per symbol per second, the pace at which market time keeps up with
 * the clock.
 *
 * @param args Parsed source options.
 * @param config Configuration (symbols, `SIM_RATE`).
 * @returns The rate.
 */
export function simulatedRate(
  args: Pick<SourceArgs, "rate">,
  config: Pick<Config, "simRate" | "symbols">,
): number {
  return args.rate ?? config.simRate ?? config.symbols.length;
}

/**
 * The kind of event the source of `args` yields, so the caller opens that
 * kind's stream (`openStream(config, kind)`) before building it.
 *
 * @param args Parsed source options (or any with `source` and `kind`).
 * @returns The kind: the source's own, or replay's `--kind` (default quotes).
 */
export function sourceKind(
  args: Pick<SourceArgs, "source" | "kind">,
): EventKind {
  return SOURCE_KINDS[args.source] ?? args.kind ?? "quotes";
}

/**
 * Builds the source the options ask for. A simulated source continues each
 * symbol from its last quote in the stream, or else in the warehouse
 * (lib/app/resume.ts). Each call builds a new source with its own state, so
 * one process may run a quotes source and a trades source side by side,
 * each with the stream of its kind.
 *
 * @param args Parsed source options.
 * @param config Configuration (symbols, defaults, Finnhub settings).
 * @param stream The stream of the source's kind ({@linkcode sourceKind}),
 * where its events go; only the simulated quotes source reads it.
 * @returns The source.
 * @throws {FatalError} When Finnhub (either source) is asked for without an API key.
 * @throws {Error} When the stream cannot be read.
 */
export async function buildSource(
  args: SourceArgs,
  config: Config,
  stream: Stream,
): Promise<Source> {
  switch (args.source) {
    case "simulated": {
      const rate = simulatedRate(args, config);
      // A duration bounds a simulated run by count, so a fast run can start in the past and end now.
      const fromDuration = args.durationMs === undefined
        ? Infinity
        : Math.floor((args.durationMs / 1000) * rate);
      const { points } = await findResumePoints(config, stream);
      return new SimulatedSource({
        symbols: config.symbols,
        rate,
        seed: args.seed ?? config.simSeed,
        count: Math.min(args.count ?? Infinity, fromDuration),
        resume: points,
      });
    }
    case "finnhub":
      return new FinnhubSource({
        apiKey: config.finnhubApiKey ?? "",
        symbols: config.symbols,
        baseUrl: config.finnhubBaseUrl,
        callsPerMinute: config.finnhubCallsPerMinute,
        timeoutMs: config.finnhubTimeoutMs,
      });
    case "replay":
      return new ReplaySource({ paths: args.files, kind: sourceKind(args) });
    case "simulated-trades":
      return new SimulatedTradesSource({
        symbols: config.symbols,
        rate: args.rate,
        seed: args.seed ?? config.simSeed,
        count: args.count,
      });
    case "finnhub-trades":
      return new FinnhubTradesSource({
        apiKey: config.finnhubApiKey ?? "",
        symbols: config.symbols,
        url: config.finnhubWsUrl,
        idleMs: config.finnhubWsIdleMs,
      });
  }
}

/**
 * The signal that ends a run: shutdown, or the duration running out.
 *
 * @param shutdown Aborts on SIGINT/SIGTERM.
 * @param durationMs The run's bound, if any.
 * @returns A signal aborting on either.
 */
export function runSignal(
  shutdown: AbortSignal,
  durationMs?: number,
): AbortSignal {
  return durationMs === undefined
    ? shutdown
    : AbortSignal.any([shutdown, AbortSignal.timeout(durationMs)]);
}

/** Usage text of `loader.ts`. */
export const LOAD_USAGE = `Usage: deno task load [options]
Loads the lake objects the warehouse has not loaded yet (one micro-batch run).
  --kind K          only this kind's objects (quotes or trades); every kind by
                    default, or the one whose topic --prefix lies under
Backfill options:
  --prefix P        only objects under P, e.g. stock-quotes/dt=2026-11-20/partition=0/
  --from YYYY-MM-DD only objects landed on or after this date (UTC; objects of
                    the layout before dt=, by their quotes' date)
  --to YYYY-MM-DD   only objects landed on or before this date (UTC; likewise)
  --reload          read loaded objects again; rows already loaded are skipped`;

/**
 * Parses the loader's options; unknown options are an error. Empty values
 * count as absent, so a scheduler can pass an unset parameter as "".
 *
 * @param args Command-line arguments.
 * @returns The selection, and whether help was asked for.
 * @throws {RangeError} On an unknown option, in one line.
 */
export function parseLoadArgs(
  args: string[],
): { selection: LoadSelection; kinds: EventKind[]; help: boolean } {
  const values = parseCommandLine("load", args, {
    kind: { type: "string" },
    prefix: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    reload: { type: "boolean" },
  });
  const given = (value: string | undefined) =>
    value === undefined || value.trim() === "" ? undefined : value.trim();
  return {
    selection: {
      prefix: given(values.prefix as string | undefined),
      from: given(values.from as string | undefined),
      to: given(values.to as string | undefined),
      reload: values.reload === true,
    },
    kinds: selectedKinds(values.kind),
    help: values.help === true,
  };
}
