/**
 * The benchmarks' watchlist: 25 symbols of large US stocks and one crypto
 * pair, the size of a real dashboard's list.
 *
 * @module
 */

/** Symbols, in round order. */
export const WATCHLIST = [
  "AAPL",
  "MSFT",
  "GOOGL",
  "AMZN",
  "NVDA",
  "META",
  "TSLA",
  "BRK.B",
  "JPM",
  "V",
  "UNH",
  "XOM",
  "JNJ",
  "WMT",
  "MA",
  "PG",
  "HD",
  "CVX",
  "KO",
  "PEP",
  "COST",
  "BAC",
  "ORCL",
  "NFLX",
  "BINANCE:BTCUSDT",
] as const;
