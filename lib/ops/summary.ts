/**
 * The gold layer in a few lines: latest price, change and candle counts per
 * symbol, read from the DuckDB warehouse after `dbt build`.
 *
 * @module
 */
import { DuckDBInstance } from "@duckdb/node-api";

/** One symbol's line of the summary. */
export interface SymbolSummary {
  /** Symbol. */
  symbol: string;
  /** Latest price. */
  price: number;
  /** Change since the previous close, percent. */
  changePct: number;
  /** Time of the latest quote, ISO 8601 UTC. */
  quoteTs: string;
  /** Quotes in silver. */
  quotes: number;
  /** Candles by timeframe. */
  candles: Record<string, number>;
  /** Volume of every trade of the trading date; null without trades. */
  volume: number | null;
  /** VWAP of every trade of the trading date; null without trades. */
  vwap: number | null;
}

const SUMMARY = `
select
  k.symbol,
  k.price,
  k.change_pct,
  strftime(k.quote_ts, '%Y-%m-%dT%H:%M:%SZ') as quote_ts,
  (select count(*) from silver.silver_clean_stock_quotes s where s.symbol = k.symbol)::integer as quotes,
  (select count(*) from gold.gold_candles c where c.symbol = k.symbol and c.timeframe = '1m')::integer as c1m,
  (select count(*) from gold.gold_candles c where c.symbol = k.symbol and c.timeframe = '5m')::integer as c5m,
  (select count(*) from gold.gold_candles c where c.symbol = k.symbol and c.timeframe = '1h')::integer as c1h,
  (select count(*) from gold.gold_candles c where c.symbol = k.symbol and c.timeframe = '1d')::integer as c1d,
  k.all_hours_volume::double as volume,
  k.all_hours_vwap
from gold.gold_latest_kpi as k
order by k.symbol
`;

/**
 * Reads the summary, opening the DuckDB file read-only.
 *
 * @param path The DuckDB file.
 * @returns One line per symbol in `gold_latest_kpi`.
 */
export async function readGoldSummary(path: string): Promise<SymbolSummary[]> {
  const instance = await DuckDBInstance.create(path, {
    access_mode: "READ_ONLY",
  });
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(SUMMARY);
    return reader.getRows().map((row) => ({
      symbol: row[0] as string,
      price: Number(row[1]),
      changePct: Number(row[2]),
      quoteTs: row[3] as string,
      quotes: row[4] as number,
      candles: {
        "1m": row[5] as number,
        "5m": row[6] as number,
        "1h": row[7] as number,
        "1d": row[8] as number,
      },
      volume: row[9] === null ? null : Number(row[9]),
      vwap: row[10] === null ? null : Number(row[10]),
    }));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * Formats the summary as an aligned table.
 *
 * @param rows The summary.
 * @returns The table's text.
 */
export function formatSummary(rows: SymbolSummary[]): string {
  const header = [
    "symbol",
    "price",
    "change %",
    "latest quote (UTC)",
    "quotes",
    "candles 1m/5m/1h/1d",
    "volume",
    "VWAP",
  ];
  const lines = rows.map((r) => [
    r.symbol,
    r.price.toFixed(2),
    `${r.changePct >= 0 ? "+" : ""}${r.changePct.toFixed(2)}`,
    r.quoteTs,
    String(r.quotes),
    ["1m", "5m", "1h", "1d"].map((t) => r.candles[t]).join("/"),
    // blank where the symbol has no trades on its trading date
    r.volume === null ? "" : String(Math.round(r.volume * 1e8) / 1e8),
    r.vwap === null ? "" : r.vwap.toFixed(2),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => l[i].length))
  );
  const format = (cells: string[]) =>
    cells.map((
      c,
      i,
    ) => (i === 0 || i === 3 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ");
  return [
    "Gold layer: latest KPIs per symbol",
    format(header),
    ...lines.map(format),
    ...(rows.some((r) => r.volume !== null)
      ? [
        "volume, VWAP: every trade of the trading date, pre- and post-market included",
        "(gold_latest_kpi's day_volume and day_vwap: the regular session only).",
      ]
      : []),
  ].join("\n");
}
