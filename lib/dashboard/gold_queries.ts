/**
 * What the dashboard reads of gold, through a {@linkcode GoldSource}: the
 * overview (a KPI row per symbol from `gold_latest_kpi`, the treemap feed
 * `gold_treechart`, each symbol's latest volatility from `gold_volatility`)
 * and one symbol's candles of one timeframe from `gold_market_candles`.
 *
 * Each read's cost follows the number of symbols or a fixed number of
 * buckets, never the history: the overview reads one row per symbol, and a
 * chart the last {@linkcode CANDLE_LIMIT} buckets of one symbol and
 * timeframe, bounded by time from the symbol's latest quote or trade.
 * Numbers come back as doubles and times as epoch milliseconds (UTC), so
 * the JSON is the same from either warehouse.
 *
 * @module
 */
import type { GoldSource } from "./gold_source.ts";

/** The timeframes of `gold_market_candles`. */
export const TIMEFRAMES = ["1m", "5m", "1h", "1d"] as const;

/** A timeframe of `gold_market_candles`. */
export type Timeframe = typeof TIMEFRAMES[number];

/** Buckets of one chart at most. */
export const CANDLE_LIMIT = 300;

const TIMEFRAME_MS: Record<Timeframe, number> = {
  "1m": 60_000,
  "5m": 300_000,
  "1h": 3_600_000,
  "1d": 86_400_000,
};

/** One symbol's row of `gold_latest_kpi`, with its exchange's time zone. */
export interface SymbolKpi {
  /** Symbol. */
  symbol: string;
  /** Exchange code (seed `exchange_symbols`). */
  exchange: string;
  /** IANA time zone of the exchange, in which the page shows times. */
  timeZone: string;
  /** Latest price. */
  price: number;
  /** Previous trading date's close. */
  prevClose: number;
  /** Change since the previous close. */
  changeAbs: number;
  /** Change since the previous close, percent. */
  changePct: number;
  /** The exchange's official open of the trading date. */
  dayOpen: number;
  /** Change since the open. */
  changeSinceOpenAbs: number;
  /** Change since the open, percent. */
  changeSinceOpenPct: number;
  /** Day high. */
  dayHigh: number;
  /** Day low. */
  dayLow: number;
  /** Time of the latest quote, epoch milliseconds. */
  quoteMs: number;
  /** The exchange's trading date of the latest quote, `YYYY-MM-DD`. */
  tradingDate: string;
  /** Price of the newest trade; null without trades. */
  lastTradePrice: number | null;
  /** Time of the newest trade, epoch milliseconds; null without trades. */
  lastTradeMs: number | null;
  /** Volume of the regular session; null without trades in it. */
  dayVolume: number | null;
  /** VWAP of the regular session; null without trades in it. */
  dayVwap: number | null;
  /** Volume of the trading date, pre- and post-market included; null without trades. */
  allHoursVolume: number | null;
  /** VWAP of the trading date, pre- and post-market included; null without trades. */
  allHoursVwap: number | null;
}

/** One symbol's tile of the treemap, from `gold_treechart`. */
export interface TreemapTile {
  /** Symbol. */
  symbol: string;
  /** Change since the previous close, percent. */
  changePct: number;
}

/** One symbol's latest day of `gold_volatility`. */
export interface SymbolVolatility {
  /** Symbol. */
  symbol: string;
  /** The trading date of the figure, `YYYY-MM-DD`. */
  date: string;
  /** Annualized realized volatility of 5-minute returns (0.25 = 25 %). */
  annualized: number;
  /** Its average over the rolling window of days. */
  rollingAverage: number | null;
  /** Days in that window with a figure. */
  rollingDays: number | null;
  /** 5-minute returns behind the day's figure. */
  returns: number;
}

/** Everything the page shows of gold but the chart. */
export interface GoldOverview {
  /** When this gold was built (the copy's `published_at`, or Snowflake's newest write), epoch milliseconds. */
  builtMs: number | null;
  /** A KPI row per symbol, by symbol. */
  symbols: SymbolKpi[];
  /** The treemap's tiles. */
  treemap: TreemapTile[];
  /** Each symbol's latest volatility. */
  volatility: SymbolVolatility[];
}

/** One bucket of `gold_market_candles`. */
export interface Candle {
  /** Start of the bucket, epoch milliseconds (for 1d: the trading date at midnight UTC, a label). */
  timeMs: number;
  /** The exchange's trading date of the bucket, `YYYY-MM-DD`. */
  tradingDate: string;
  /** Open. */
  open: number;
  /** High. */
  high: number;
  /** Low. */
  low: number;
  /** Close. */
  close: number;
  /** Volume; null where the candle comes from sampled quotes. */
  volume: number | null;
  /** `trades`, or `quotes` (sampled quotes: no volume). */
  basis: "trades" | "quotes";
}

/** One symbol's chart of one timeframe. */
export interface CandleSeries {
  /** Symbol. */
  symbol: string;
  /** Timeframe. */
  timeframe: Timeframe;
  /** IANA time zone of the symbol's exchange. */
  timeZone: string;
  /** The last buckets, oldest first. */
  candles: Candle[];
}

/**
 * Reads the overview: KPIs, treemap and volatility, from one view of gold.
 *
 * @param source Where gold is.
 * @returns The overview, or `undefined` while there is no gold or it holds no symbol.
 * @throws {Error} When a query fails.
 */
export async function readOverview(
  source: GoldSource,
): Promise<GoldOverview | undefined> {
  const { epochMs } = source.dialect;
  const overview = await source.read(async (query) => {
    const symbols = (await query(`
select symbol, exchange, time_zone,
  cast(price as double) as price,
  cast(prev_close as double) as prev_close,
  cast(change_abs as double) as change_abs,
  cast(change_pct as double) as change_pct,
  cast(day_open as double) as day_open,
  cast(change_since_open_abs as double) as change_since_open_abs,
  cast(change_since_open_pct as double) as change_since_open_pct,
  cast(day_high as double) as day_high,
  cast(day_low as double) as day_low,
  ${epochMs("quote_ts")} as quote_ms,
  cast(trading_date as varchar) as trading_date,
  cast(last_trade_price as double) as last_trade_price,
  ${epochMs("last_trade_ts")} as last_trade_ms,
  cast(day_volume as double) as day_volume,
  cast(day_vwap as double) as day_vwap,
  cast(all_hours_volume as double) as all_hours_volume,
  cast(all_hours_vwap as double) as all_hours_vwap
from gold.gold_latest_kpi
order by symbol`)).map(toKpi);
    if (symbols.length === 0) return undefined;
    const treemap = (await query(`
select symbol, cast(change_pct as double) as change_pct
from gold.gold_treechart
order by symbol`)).map((row) => ({
      symbol: String(row.symbol),
      changePct: Number(row.change_pct),
    }));
    // Each symbol's latest day with a figure, as the treemap feed names it.
    const volatility = (await query(`
select v.symbol, cast(v.quote_date as varchar) as quote_date,
  cast(v.annualized_volatility as double) as annualized_volatility,
  cast(v.rolling_avg_volatility as double) as rolling_avg_volatility,
  cast(v.rolling_day_count as double) as rolling_day_count,
  cast(v.return_count as double) as return_count
from gold.gold_volatility as v
inner join gold.gold_treechart as t
  on t.symbol = v.symbol and t.volatility_date = v.quote_date
where v.quote_date >= (select min(volatility_date) from gold.gold_treechart)
order by v.symbol`)).map(toVolatility);
    return {
      builtMs: numberOrNull((await query(source.dialect.builtAt))[0]?.built_ms),
      symbols,
      treemap,
      volatility,
    };
  });
  return overview ?? undefined;
}

/**
 * Reads one symbol's last {@linkcode CANDLE_LIMIT} buckets of one timeframe.
 *
 * @param source Where gold is.
 * @param symbol The symbol.
 * @param timeframe The timeframe.
 * @returns The series, or `undefined` when gold has no such symbol (or no gold yet).
 * @throws {Error} When a query fails.
 */
export async function readCandles(
  source: GoldSource,
  symbol: string,
  timeframe: Timeframe,
): Promise<CandleSeries | undefined> {
  const { epochMs } = source.dialect;
  const series = await source.read(async (query) => {
    const [latest] = await query(
      `
select time_zone,
  greatest(${epochMs("quote_ts")}, coalesce(${
        epochMs("last_trade_ts")
      }, 0)) as latest_ms
from gold.gold_latest_kpi
where symbol = ?`,
      [symbol],
    );
    if (latest === undefined) return undefined;
    // The window's start: CANDLE_LIMIT buckets before the newest time (a
    // day more for 1d, whose buckets are dates, not instants).
    const since = new Date(
      Number(latest.latest_ms) - (CANDLE_LIMIT + 1) * TIMEFRAME_MS[timeframe],
    ).toISOString().replace("T", " ").replace("Z", "");
    const rows = await query(
      `
select ${epochMs("bucket_start")} as time_ms,
  cast(trading_date as varchar) as trading_date,
  cast(open as double) as open,
  cast(high as double) as high,
  cast(low as double) as low,
  cast(close as double) as close,
  cast(volume as double) as volume,
  basis
from gold.gold_market_candles
where symbol = ? and timeframe = ? and bucket_start >= cast(? as timestamp)
order by bucket_start desc
limit ${CANDLE_LIMIT}`,
      [symbol, timeframe, since],
    );
    return {
      symbol,
      timeframe,
      timeZone: String(latest.time_zone),
      candles: rows.reverse().map(toCandle),
    };
  });
  return series ?? undefined;
}

/**
 * Whether a text is one of {@linkcode TIMEFRAMES}.
 *
 * @param text The text, e.g. a query parameter.
 * @returns True for `1m`, `5m`, `1h` and `1d`.
 */
export function isTimeframe(text: string): text is Timeframe {
  return (TIMEFRAMES as readonly string[]).includes(text);
}

function toKpi(row: Record<string, unknown>): SymbolKpi {
  return {
    symbol: String(row.symbol),
    exchange: String(row.exchange),
    timeZone: String(row.time_zone),
    price: Number(row.price),
    prevClose: Number(row.prev_close),
    changeAbs: Number(row.change_abs),
    changePct: Number(row.change_pct),
    dayOpen: Number(row.day_open),
    changeSinceOpenAbs: Number(row.change_since_open_abs),
    changeSinceOpenPct: Number(row.change_since_open_pct),
    dayHigh: Number(row.day_high),
    dayLow: Number(row.day_low),
    quoteMs: Number(row.quote_ms),
    tradingDate: String(row.trading_date),
    lastTradePrice: numberOrNull(row.last_trade_price),
    lastTradeMs: numberOrNull(row.last_trade_ms),
    dayVolume: numberOrNull(row.day_volume),
    dayVwap: numberOrNull(row.day_vwap),
    allHoursVolume: numberOrNull(row.all_hours_volume),
    allHoursVwap: numberOrNull(row.all_hours_vwap),
  };
}

function toVolatility(row: Record<string, unknown>): SymbolVolatility {
  return {
    symbol: String(row.symbol),
    date: String(row.quote_date),
    annualized: Number(row.annualized_volatility),
    rollingAverage: numberOrNull(row.rolling_avg_volatility),
    rollingDays: numberOrNull(row.rolling_day_count),
    returns: Number(row.return_count),
  };
}

function toCandle(row: Record<string, unknown>): Candle {
  const basis = row.basis === "trades" ? "trades" : "quotes";
  return {
    timeMs: Number(row.time_ms),
    tradingDate: String(row.trading_date),
    open: Number(row.open),
    high: Number(row.high),
    low: Number(row.low),
    close: Number(row.close),
    // Sampled quotes have no volume.
    volume: basis === "trades" ? numberOrNull(row.volume) : null,
    basis,
  };
}

function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
