// The KPI table: one row per symbol of gold_latest_kpi. Rows are kept and
// updated in place, so a refresh never moves the keyboard focus; the
// symbol's button selects it for the chart.
import * as format from "./format.js";

const COLUMNS = [
  "symbol",
  "last",
  "change",
  "changePct",
  "openPct",
  "volume",
  "vwap",
  "latest",
  "age",
];

/** Creates the table's controller on its <table> element. */
export function kpiTable(table, { onSelect }) {
  const body = table.tBodies[0];
  const rows = new Map();

  function rowFor(symbol) {
    let row = rows.get(symbol);
    if (row) return row;
    row = document.createElement("tr");
    row.dataset.symbol = symbol;
    for (const column of COLUMNS) {
      const cell = document.createElement(column === "symbol" ? "th" : "td");
      if (column === "symbol") {
        cell.scope = "row";
        const button = document.createElement("button");
        button.type = "button";
        button.className = "symbol-button";
        button.textContent = symbol;
        button.setAttribute("aria-pressed", "false");
        button.addEventListener("click", () => onSelect(symbol));
        cell.append(button);
      } else if (column !== "latest") {
        cell.className = "num";
      }
      cell.dataset.column = column;
      row.append(cell);
    }
    rows.set(symbol, row);
    return row;
  }

  function cell(row, column) {
    return row.querySelector(`[data-column="${column}"]`);
  }

  /** Shows the KPIs; `selected` is the charted symbol. */
  function render(symbols, selected) {
    const wanted = new Set(symbols.map((kpi) => kpi.symbol));
    for (const [symbol, row] of rows) {
      if (!wanted.has(symbol)) {
        row.remove();
        rows.delete(symbol);
      }
    }
    symbols.forEach((kpi, index) => {
      const row = rowFor(kpi.symbol);
      if (body.rows[index] !== row) {
        body.insertBefore(row, body.rows[index] ?? null);
      }
      fill(row, kpi, kpi.symbol === selected);
    });
  }

  function fill(row, kpi, isSelected) {
    row.classList.toggle("selected", isSelected);
    cell(row, "symbol").firstChild.setAttribute(
      "aria-pressed",
      String(isSelected),
    );
    const changeClass = format.direction(kpi.changeAbs);
    setText(cell(row, "last"), format.price(kpi.price));
    setText(cell(row, "change"), format.signed(kpi.changeAbs), changeClass);
    setText(cell(row, "changePct"), format.signed(kpi.changePct), changeClass);
    setText(
      cell(row, "openPct"),
      format.signed(kpi.changeSinceOpenPct),
      format.direction(kpi.changeSinceOpenPct),
    );
    // The regular session's trades; else every trade of the date, marked.
    const session = kpi.dayVolume !== null;
    const extended = !session && kpi.allHoursVolume !== null;
    setFigure(
      cell(row, "volume"),
      format.volume(session ? kpi.dayVolume : kpi.allHoursVolume),
      extended,
    );
    setFigure(
      cell(row, "vwap"),
      format.price(session ? kpi.dayVwap : kpi.allHoursVwap),
      extended,
    );
    const latest = latestMs(kpi);
    const latestCell = cell(row, "latest");
    setText(latestCell, format.timeInZone(latest, kpi.timeZone));
    latestCell.title =
      `${kpi.exchange}, ${kpi.timeZone}; trading date ${kpi.tradingDate}`;
    cell(row, "age").dataset.at = String(latest);
  }

  /** Rewrites every age label against the server's clock. */
  function tick(nowMs) {
    for (const row of rows.values()) {
      const ageCell = cell(row, "age");
      const at = Number(ageCell.dataset.at);
      if (at) setText(ageCell, format.age(nowMs - at));
    }
  }

  return { render, tick };
}

/** The time of the latest quote or trade, whichever is newer. */
export function latestMs(kpi) {
  return Math.max(kpi.quoteMs, kpi.lastTradeMs ?? 0);
}

function setText(element, text, className) {
  if (element.textContent !== text) element.textContent = text;
  if (className !== undefined) {
    element.classList.toggle("up", className === "up");
    element.classList.toggle("down", className === "down");
  }
}

function setFigure(element, text, extended) {
  element.replaceChildren(text);
  if (extended) {
    const mark = document.createElement("span");
    mark.className = "ext";
    mark.textContent = "ext";
    element.append(" ", mark);
  }
}
