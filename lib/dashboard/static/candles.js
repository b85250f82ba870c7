// The candlestick chart of the selected symbol and timeframe, with its
// volume below in a pane of its own, drawn by TradingView's Lightweight
// Charts (its attribution logo stays on, as its licence asks). The chart
// shows times in the exchange's zone: it draws UTC, so each intraday bucket
// is moved by the zone's offset at that instant; a daily bucket is its
// trading date.
import {
  CandlestickSeries,
  createChart,
  HistogramSeries,
} from "lightweight-charts";
import { zoneOffsetSeconds } from "./format.js";

const UP = "#0f7b55";
const DOWN = "#c0392b";
const UP_VOLUME = "rgba(15, 123, 85, 0.55)";
const DOWN_VOLUME = "rgba(192, 57, 43, 0.55)";

/** Creates the chart in its container element. */
export function candleChart(container) {
  const chart = createChart(container, {
    autoSize: true,
    layout: {
      background: { color: "#ffffff" },
      textColor: "#59636e",
      attributionLogo: true,
    },
    grid: {
      vertLines: { color: "#eef1f4" },
      horzLines: { color: "#eef1f4" },
    },
    timeScale: { timeVisible: true, secondsVisible: false, maxBarSpacing: 24 },
  });
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: UP,
    downColor: DOWN,
    borderVisible: false,
    wickUpColor: UP,
    wickDownColor: DOWN,
  });
  const volume = chart.addSeries(
    HistogramSeries,
    { priceFormat: { type: "volume" }, priceLineVisible: false },
    1,
  );
  // The volume pane a quarter of the chart's height.
  const [pricePane, volumePane] = chart.panes();
  pricePane.setStretchFactor(3);
  volumePane.setStretchFactor(1);
  let shown = "";

  /** Shows a series from `/api/candles`. */
  function render(series) {
    const key = `${series.symbol}/${series.timeframe}`;
    if (key !== shown) {
      // Daily buckets are dates, intraday ones times: never both at once.
      candles.setData([]);
      volume.setData([]);
    }
    const points = zoned(series);
    candles.setData(
      points.map(({ time, candle }) => ({
        time,
        open: candle.open,
        high: candle.high,
        low: candle.low,
        close: candle.close,
      })),
    );
    volume.setData(
      points
        .filter(({ candle }) => candle.volume !== null)
        .map(({ time, candle }) => ({
          time,
          value: candle.volume,
          color: candle.close >= candle.open ? UP_VOLUME : DOWN_VOLUME,
        })),
    );
    if (key !== shown) {
      // Fit the chart to the data, but a handful of buckets stay candles,
      // not blocks across the whole width.
      chart.timeScale().fitContent();
      shown = key;
    }
  }

  return { render };
}

/**
 * Each candle with its time on the chart: an intraday bucket's start moved
 * by the zone's offset, a daily bucket's trading date. When the clocks go
 * back, two buckets can fall on one wall-clock time: the later one is kept,
 * as the chart needs times that rise.
 */
function zoned(series) {
  if (series.timeframe === "1d") {
    return series.candles.map((candle) => ({
      time: candle.tradingDate,
      candle,
    }));
  }
  const points = [];
  for (const candle of series.candles) {
    const time = candle.timeMs / 1000 +
      zoneOffsetSeconds(candle.timeMs, series.timeZone);
    while (points.length > 0 && points.at(-1).time >= time) points.pop();
    points.push({ time, candle });
  }
  return points;
}

/** What the chart's figures come from, in a sentence. */
export function chartNote(series) {
  const bases = new Set(series.candles.map((candle) => candle.basis));
  const zone = `times in ${series.timeZone}`;
  if (bases.size === 0) return `No ${series.timeframe} candles yet.`;
  if (!bases.has("quotes")) return `Candles and volume from trades; ${zone}.`;
  if (!bases.has("trades")) {
    return `Candles from sampled quotes, no volume; ${zone}.`;
  }
  return `Candles from trades, and from sampled quotes (no volume) where there are none; ${zone}.`;
}
