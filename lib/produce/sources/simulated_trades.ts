/**
 * The simulated trades source: a seeded market of trades, for the demo and
 * the benchmarks.
 *
 * - Arrivals are random: the time between two trades is exponential, at
 *   `rate` trades per second overall, and each trade's symbol is drawn
 *   uniformly, so each symbol trades at `rate / symbols` a second.
 * - Each symbol's price follows a random walk like the quote simulator's
 *   (a log-normal step, scaled to the time since its last trade), and each
 *   trade's price is on the tick grid of 0.01.
 * - Sizes are mostly round lots (multiples of 100), with a heavy tail (a
 *   Pareto draw of lots, up to 10,000 of them), and some odd lots (1 to 99).
 * - Condition codes are `[]`, `["1"]` or `["1", "12"]`.
 * - `t` and `fetched_at` are the clock's reading when the trade is emitted
 *   (epoch milliseconds), so several trades may share a millisecond.
 *
 * Deterministic: the seed drives every draw (arrival gaps, symbols, prices,
 * sizes, codes), and only `t` and `fetched_at` come from the clock, so the
 * same seed and the same clock readings give the same trades.
 *
 * @module
 */
import { describeRejection } from "../../contract/rules.ts";
import { type Trade, validateTrade } from "../../contract/trade.ts";
import { sleep } from "../../runtime/retry.ts";
import { emptyStats, type SourceStats, type TradeSource } from "../source.ts";
import { hash, mulberry32, startPrice } from "./simulated.ts";

/** Options for {@linkcode SimulatedTradesSource}. */
export interface SimulatedTradesOptions {
  /** Symbols that trade. */
  symbols: string[];
  /**
   * Trades per second, all symbols together.
   *
   * @default {symbols.length * 2}
   */
  rate?: number;
  /**
   * Seed of every random draw.
   *
   * @default {42}
   */
  seed?: number;
  /**
   * Most trades to emit; unbounded by default.
   *
   * @default {Infinity}
   */
  count?: number;
  /**
   * Whether to wait for each trade's arrival time; off, trades come as fast
   * as they are consumed (their gaps still drive the price walk).
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

/** Standard deviation of one second's log return, as the quote simulator's. */
const SECOND_VOLATILITY = 0.0001;
/** Share of trades that are odd lots (fewer than 100 shares). */
const ODD_LOT_SHARE = 0.15;
/** Tail index of the lots of a round-lot trade (Pareto): smaller is heavier. */
const LOT_TAIL = 1.3;
/** The largest trade, in lots of 100. */
const MAX_LOTS = 10_000;

/** A simulated stream of trades. */
export class SimulatedTradesSource implements TradeSource {
  /** Always `simulated-trades`. */
  readonly name = "simulated-trades";
  /** Always `trades`. */
  readonly kind = "trades";
  /** Counters so far. */
  readonly stats: SourceStats = emptyStats();
  readonly #options: Required<SimulatedTradesOptions>;

  /**
   * Creates the source.
   *
   * @param options Symbols, rate, seed, bound, pacing and clock.
   * @throws {RangeError} When there are no symbols or the rate is not positive.
   */
  constructor(options: SimulatedTradesOptions) {
    const {
      symbols,
      rate = symbols.length * 2,
      seed = 42,
      count = Infinity,
      paced = true,
      now = Date.now,
    } = options;
    if (symbols.length === 0) {
      throw new RangeError(
        "Cannot simulate trades as 'symbols' must not be empty: current value is []",
      );
    }
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `Cannot simulate trades as 'rate' must be a positive number: current value is ${rate}`,
      );
    }
    this.#options = { symbols, rate, seed, count, paced, now };
  }

  /** Yields trades until `count` is reached or `signal` aborts. */
  async *events(signal: AbortSignal): AsyncIterable<Trade> {
    const { symbols, rate, seed, count, paced, now } = this.#options;
    const arrivals = mulberry32(hash(`${seed}:trades`));
    const walks = symbols.map((symbol) => new TradeWalk(symbol, seed));
    const began = now();
    let elapsedS = 0;
    for (let emitted = 0; emitted < count && !signal.aborted; emitted++) {
      // Exponential gap to the next trade of the whole market.
      elapsedS += -Math.log(1 - arrivals()) / rate;
      const walk = walks[Math.floor(arrivals() * symbols.length)];
      if (paced) {
        const wait = began + elapsedS * 1000 - now();
        if (wait > 0) {
          try {
            await sleep(wait, signal);
          } catch {
            return;
          }
        }
      }
      const at = Math.floor(now());
      const trade = walk.next(elapsedS, at);
      this.stats.emitted++;
      yield trade;
    }
  }
}

/** One symbol's price walk and its draws of sizes and codes. */
class TradeWalk {
  readonly #symbol: string;
  readonly #random: () => number;
  #price: number;
  #lastS = 0;

  constructor(symbol: string, seed: number) {
    this.#symbol = symbol;
    this.#random = mulberry32(hash(`${seed}:trades:${symbol}`));
    this.#price = startPrice(symbol);
  }

  /** The trade at `elapsedS` seconds into the run, stamped `at` (epoch ms). */
  next(elapsedS: number, at: number): Trade {
    const dt = Math.max(elapsedS - this.#lastS, 0.001);
    this.#lastS = elapsedS;
    this.#price *= Math.exp(
      SECOND_VOLATILITY * Math.sqrt(dt) * this.#gaussian(),
    );
    const p = Math.max(0.01, Math.round(this.#price * 100) / 100);
    const result = validateTrade({
      symbol: this.#symbol,
      p,
      v: this.#size(),
      t: at,
      c: this.#codes(),
      fetched_at: at,
      source: "simulated-trades",
    }, { now: at });
    if (!result.ok) {
      throw new Error(
        `Cannot simulate a trade of ${this.#symbol} as ${
          describeRejection(result.rejection)
        }`,
      );
    }
    return result.trade;
  }

  /** Mostly round lots with a heavy tail, and some odd lots. */
  #size(): number {
    if (this.#random() < ODD_LOT_SHARE) {
      return 1 + Math.floor(this.#random() * 99);
    }
    const lots = Math.floor((1 - this.#random()) ** (-1 / LOT_TAIL));
    return 100 * Math.min(lots, MAX_LOTS);
  }

  #codes(): string[] {
    const draw = this.#random();
    if (draw < 0.5) return [];
    if (draw < 0.85) return ["1"];
    return ["1", "12"];
  }

  /** A standard normal draw (Box-Muller). */
  #gaussian(): number {
    const u = 1 - this.#random();
    const v = this.#random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
