/**
 * The simulated source: a seeded, deterministic random walk per symbol.
 *
 * Market time advances one second per round (one quote for every symbol), so
 * each symbol's quote times are distinct. At the default rate (one quote per
 * symbol per second) market time keeps pace with the wall clock; a faster
 * bounded run starts in the past so that it ends now. A paced quote's
 * `fetched_at` is when it is emitted (its "fetch"), or its market time if
 * that is later; unpaced, it is its market time. Fields stay consistent
 * the way a real feed's do: `o` is the UTC day's first price, `h` and `l`
 * the highest and lowest of its prices so far, `pc` the previous day's last
 * price (its close), `d` and `dp` are computed from `pc`.
 *
 * A run continues each symbol given in `resume` from that symbol's last
 * quote: the walk goes on from its price, and within the same UTC day from
 * its `o`, `h`, `l` and `pc`; every quote time is after the latest resumed
 * one, so a run that would start before it starts just after it instead.
 * Other symbols start at a typical price. A paced run never gives a quote
 * time ahead of the clock: once a fast run catches up with it, it goes on at
 * one round per second (and says so once), so a fast run right after
 * another may end its duration with fewer quotes than its rate allows.
 *
 * The seed drives the random draws: a resumed walk draws from the seed and
 * its last quote time, so the same seed and the same last quotes give the
 * same prices, and two runs never repeat one path.
 *
 * @module
 */
import { assertQuote, type Quote } from "../../contract/quote.ts";
import { logger } from "../../runtime/log.ts";
import { sleep } from "../../runtime/retry.ts";
import { emptyStats, type QuoteSource, type SourceStats } from "../source.ts";

/** Options for {@linkcode SimulatedSource}. */
export interface SimulatedSourceOptions {
  /** Symbols to quote, in round order. */
  symbols: string[];
  /**
   * Events per second; the source sleeps to keep this pace. The default, one
   * quote per symbol per second, keeps market time with the wall clock.
   *
   * @default {symbols.length}
   */
  rate?: number;
  /**
   * Seed of the random walk: the same seed gives the same prices.
   *
   * @default {42}
   */
  seed?: number;
  /**
   * Most events to emit; unbounded by default.
   *
   * @default {Infinity}
   */
  count?: number;
  /**
   * Market time of the first round, epoch milliseconds. By default a bounded
   * run starts early enough to end now, an unbounded one starts now.
   */
  start?: number;
  /**
   * The last quote of each symbol to continue from, by symbol; a symbol left
   * out starts at its typical price.
   *
   * @default {new Map()}
   */
  resume?: ReadonlyMap<string, WalkState>;
  /**
   * Whether to pace events at `rate` against the wall clock; off, events come
   * as fast as they are consumed.
   *
   * @default {true}
   */
  paced?: boolean;
  /**
   * Wall clock, injected by tests.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

const log = logger("simulated");

/** Where a symbol's walk continues from: the fields of its last quote. */
export type WalkState = Pick<Quote, "c" | "o" | "h" | "l" | "pc" | "t">;

/** Typical prices, so a demo looks familiar; other symbols get a seeded price. */
const START_PRICES: Record<string, number> = {
  AAPL: 190,
  MSFT: 420,
  TSLA: 250,
  GOOGL: 170,
  AMZN: 185,
};

/** Standard deviation of one second's log return (about 1.3% a 6.5-hour day). */
const STEP_VOLATILITY = 0.0001;

/** A simulated market. */
export class SimulatedSource implements QuoteSource {
  /** Always `simulated`. */
  readonly name = "simulated";
  /** Always `quotes`. */
  readonly kind = "quotes";
  /** Counters so far. */
  readonly stats: SourceStats = emptyStats();
  readonly #options: Required<Omit<SimulatedSourceOptions, "start">> & {
    start?: number;
  };

  /**
   * Creates the source.
   *
   * @param options Symbols, rate, seed and bounds.
   * @throws {RangeError} When there are no symbols or the rate is not positive.
   */
  constructor(options: SimulatedSourceOptions) {
    const {
      symbols,
      rate = symbols.length,
      seed = 42,
      count = Infinity,
      start,
      resume = new Map(),
      paced = true,
      now = Date.now,
    } = options;
    if (symbols.length === 0) {
      throw new RangeError(
        "Cannot simulate as 'symbols' must not be empty: current value is []",
      );
    }
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `Cannot simulate as 'rate' must be a positive number: current value is ${rate}`,
      );
    }
    this.#options = { symbols, rate, seed, count, start, resume, paced, now };
  }

  /** Yields quotes until `count` is reached or `signal` aborts. */
  async *events(signal: AbortSignal): AsyncIterable<Quote> {
    const { symbols, rate, seed, count, resume, paced, now } = this.#options;
    const began = now();
    // A bounded run faster than real time starts early enough to end now.
    const marketSpan = (Math.ceil(count / symbols.length) - 1) * 1000;
    const wallSpan = paced ? ((count - 1) * 1000) / rate : 0;
    const wanted = this.#options.start ??
      (Number.isFinite(marketSpan)
        ? Math.round(began - Math.max(0, marketSpan - wallSpan))
        : began);
    // Market time never goes back: every quote time follows the resumed ones.
    const resumed = symbols.map((symbol) => resume.get(symbol));
    const after = Math.max(
      ...resumed.map((state) => state === undefined ? -Infinity : state.t),
    );
    const start = Math.max(wanted, (after + 1) * 1000);
    const walks = symbols.map((symbol, i) =>
      new Walk(symbol, seed, resumed[i])
    );
    let caughtUp = false;
    for (let emitted = 0; emitted < count && !signal.aborted; emitted++) {
      const round = Math.floor(emitted / symbols.length);
      const index = emitted % symbols.length;
      const roundAt = start + round * 1000;
      const at = roundAt + index;
      if (paced) {
        // The rate's pace, and never a quote time ahead of the clock.
        const due = began + (emitted * 1000) / rate;
        const wait = Math.max(due, at) - now();
        if (wait > 0) {
          if (roundAt > due && !caughtUp) {
            caughtUp = true;
            const remaining = count - emitted;
            log.info(
              "caught up with the clock: one round per second from now",
              {
                quote_at: new Date(roundAt).toISOString(),
                rate,
                ...(Number.isFinite(remaining)
                  ? {
                    remaining,
                    remaining_s: Math.ceil(remaining / symbols.length),
                  }
                  : {}),
              },
            );
          }
          try {
            await sleep(wait, signal);
          } catch {
            return;
          }
        }
      }
      const quote = walks[index].next(
        at,
        paced ? Math.max(at, Math.round(now())) : at,
      );
      this.stats.emitted++;
      yield quote;
    }
  }
}

/** One symbol's random walk and day state. */
class Walk {
  readonly #symbol: string;
  readonly #random: () => number;
  #price: number;
  #prevClose: number;
  #day = "";
  #open = 0;
  #high = 0;
  #low = 0;
  #lastClose = 0;

  constructor(symbol: string, seed: number, resume?: WalkState) {
    this.#symbol = symbol;
    if (resume === undefined) {
      this.#random = mulberry32(hash(`${seed}:${symbol}`));
      this.#price = startPrice(symbol);
      this.#prevClose = cents(this.#price * Math.exp(0.01 * this.#gaussian()));
      return;
    }
    this.#random = mulberry32(hash(`${seed}:${symbol}:${resume.t}`));
    this.#price = resume.c;
    this.#day = utcDay(resume.t * 1000);
    this.#open = resume.o;
    this.#high = Math.max(resume.h, resume.c);
    this.#low = Math.min(resume.l, resume.c);
    this.#lastClose = resume.c;
    this.#prevClose = resume.pc;
  }

  /** The quote at market time `at`, fetched at `fetchedAt` (epoch milliseconds). */
  next(at: number, fetchedAt: number): Quote {
    this.#price *= Math.exp(STEP_VOLATILITY * this.#gaussian());
    const c = cents(this.#price);
    const day = utcDay(at);
    if (day !== this.#day) {
      if (this.#day !== "") this.#prevClose = this.#lastClose;
      this.#day = day;
      this.#open = this.#high = this.#low = c;
    }
    this.#high = Math.max(this.#high, c);
    this.#low = Math.min(this.#low, c);
    this.#lastClose = c;
    const d = cents(c - this.#prevClose);
    return assertQuote({
      symbol: this.#symbol,
      c,
      d,
      dp: Math.round((d / this.#prevClose) * 100 * 10_000) / 10_000,
      h: this.#high,
      l: this.#low,
      o: this.#open,
      pc: this.#prevClose,
      t: Math.floor(at / 1000),
      fetched_at: fetchedAt,
      source: "simulated",
    }, { now: fetchedAt });
  }

  /** A standard normal draw (Box-Muller). */
  #gaussian(): number {
    const u = 1 - this.#random();
    const v = this.#random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** The UTC day of an epoch-milliseconds time, `YYYY-MM-DD`. */
function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

function cents(value: number): number {
  return Math.round(value * 100) / 100;
}

/** A symbol's typical price, or a price between 20 and 500 drawn from its name. */
export function startPrice(symbol: string): number {
  return START_PRICES[symbol] ?? 20 + (hash(symbol) % 480);
}

/** 32-bit FNV-1a hash of a string. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A small, fast, seedable PRNG (mulberry32): the same seed gives the same
 * numbers in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
