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

/**
 * A market of `size` symbols: the watchlist, then made-up three-letter
 * tickers (`AAA`, `AAB`, …) that none of its symbols is.
 *
 * @param size How many symbols.
 * @returns The symbols.
 */
export function market(size: number): string[] {
  const symbols: string[] = WATCHLIST.slice(0, size);
  const taken = new Set<string>(WATCHLIST);
  const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (let n = 0; symbols.length < size; n++) {
    const ticker = [676, 26, 1].map((d) => letters[Math.floor(n / d) % 26])
      .join("");
    if (!taken.has(ticker)) symbols.push(ticker);
  }
  return symbols;
}
