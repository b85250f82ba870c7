// The dashboard page: reads `/api/overview`, `/api/candles` and
// `/api/pipeline`, draws them, and listens to `/events` (server-sent
// events) to fetch again what changed, without a reload. The selected
// symbol and timeframe live in the address's fragment (#AAPL/5m).
import { kpiTable } from "./kpi_table.js";
import { candleChart, chartNote } from "./candles.js";
import { treemapView } from "./treemap.js";
import { renderVolatility } from "./volatility.js";
import { renderPipeline, tickPipeline } from "./pipeline.js";
import { age } from "./format.js";

const TIMEFRAMES = ["1m", "5m", "1h", "1d"];

const state = {
  symbol: undefined,
  timeframe: "5m",
  goldVersion: undefined,
  builtMs: undefined,
  symbols: [],
  pipeline: undefined,
  // The server's clock minus this page's: ages are measured on the server's.
  offsetMs: 0,
};

const element = (id) => document.getElementById(id);
const now = () => Date.now() + state.offsetMs;

const [fragmentSymbol, fragmentTimeframe] = decodeURIComponent(
  location.hash.slice(1),
).split("/");
if (fragmentSymbol) state.symbol = fragmentSymbol;
if (TIMEFRAMES.includes(fragmentTimeframe)) state.timeframe = fragmentTimeframe;

const table = kpiTable(element("kpi-table"), { onSelect: select });
const treemap = treemapView(element("treemap"), { onSelect: select });
let chart;

for (const button of document.querySelectorAll("[data-timeframe]")) {
  button.addEventListener("click", () => {
    state.timeframe = button.dataset.timeframe;
    remember();
    showTimeframe();
    refresh.candles();
  });
}
showTimeframe();

/** Runs `work` once at a time; a call while it runs makes it run once more after. */
function coalesced(work) {
  let running;
  let again = false;
  return async function run() {
    if (running) {
      again = true;
      return await running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await work();
        } catch (error) {
          setStatus(`Cannot update: ${error.message}`);
        }
      } while (again);
    })();
    await running;
    running = undefined;
  };
}

const refresh = {
  gold: coalesced(refreshGold),
  candles: coalesced(refreshCandles),
  pipeline: coalesced(refreshPipeline),
};

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error ?? `${url} answered ${response.status}`);
  }
  return body;
}

async function refreshGold() {
  const overview = await getJson("/api/overview");
  state.offsetMs = overview.nowMs - Date.now();
  state.goldVersion = overview.version ?? undefined;
  document.body.dataset.goldVersion = overview.version ?? "";
  if (overview.state === "empty") {
    element("empty").hidden = false;
    element("market").hidden = true;
    setStatus("No data yet.");
    return;
  }
  element("empty").hidden = true;
  element("market").hidden = false;
  const symbols = overview.symbols;
  state.symbols = symbols;
  if (!symbols.some((kpi) => kpi.symbol === state.symbol)) {
    state.symbol = symbols[0].symbol;
  }
  table.render(symbols, state.symbol);
  table.tick(now());
  const kpis = new Map(symbols.map((kpi) => [kpi.symbol, kpi]));
  element("treemap-note").textContent = treemap.render(
    overview.treemap.map((tile) => {
      const kpi = kpis.get(tile.symbol);
      return {
        ...tile,
        value: kpi && kpi.allHoursVolume && kpi.allHoursVwap
          ? kpi.allHoursVolume * kpi.allHoursVwap
          : 0,
      };
    }),
  );
  renderVolatility(element("volatility-table"), overview.volatility);
  state.builtMs = overview.builtMs ?? undefined;
  setStatus(
    state.builtMs
      ? `Gold built ${new Date(state.builtMs).toISOString().slice(11, 19)} UTC`
      : "Gold",
  );
  await refresh.candles();
}

async function refreshCandles() {
  if (!state.symbol || element("market").hidden) return;
  const query = new URLSearchParams({
    symbol: state.symbol,
    timeframe: state.timeframe,
  });
  const series = await getJson(`/api/candles?${query}`);
  chart ??= candleChart(element("candles"));
  chart.render(series);
  element("chart-title").textContent =
    `${series.symbol} candles, ${series.timeframe}`;
  element("chart-note").textContent = chartNote(series);
}

async function refreshPipeline() {
  state.pipeline = await getJson("/api/pipeline");
  renderPipeline(element("pipeline"), state.pipeline, now());
}

function select(symbol) {
  state.symbol = symbol;
  remember();
  table.render(state.symbols, state.symbol);
  refresh.candles();
}

function remember() {
  history.replaceState(null, "", `#${state.symbol ?? ""}/${state.timeframe}`);
}

function showTimeframe() {
  for (const button of document.querySelectorAll("[data-timeframe]")) {
    button.setAttribute(
      "aria-pressed",
      String(button.dataset.timeframe === state.timeframe),
    );
  }
}

function setStatus(text) {
  const status = element("gold-status");
  if (status.textContent !== text) status.textContent = text;
}

function tick() {
  table.tick(now());
  tickPipeline(element("pipeline"), now());
  const built = element("gold-age");
  if (built) {
    built.textContent = state.builtMs
      ? `${age(now() - state.builtMs)} ago`
      : "";
  }
}

function listen() {
  const events = new EventSource("/events");
  events.addEventListener("gold", (event) => {
    const version = JSON.parse(event.data) ?? undefined;
    if (version !== state.goldVersion) refresh.gold();
  });
  events.addEventListener("pipeline", () => refresh.pipeline());
  events.addEventListener("error", () => {
    setStatus("Reconnecting to the server…");
  });
  events.addEventListener("open", () => refresh.gold());
}

setInterval(tick, 1000);
await Promise.all([refresh.gold(), refresh.pipeline()]);
listen();
