// The volatility table: each symbol's latest annualized realized volatility
// (gold_volatility), with a bar scaled to the highest figure shown.
import { percent } from "./format.js";

/** Fills the volatility table's body. */
export function renderVolatility(table, rows) {
  const highest = Math.max(0, ...rows.map((row) => row.annualized));
  const body = table.tBodies[0];
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      const symbol = document.createElement("th");
      symbol.scope = "row";
      symbol.textContent = row.symbol;
      const figure = numberCell(percent(row.annualized));
      const barCell = document.createElement("td");
      barCell.className = "bar-col";
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("aria-hidden", "true");
      bar.style.width = `${
        highest > 0 ? (100 * row.annualized) / highest : 0
      }%`;
      barCell.append(bar);
      const rolling = numberCell(
        row.rollingAverage === null
          ? "—"
          : `${percent(row.rollingAverage)} (${row.rollingDays} d)`,
      );
      const date = document.createElement("td");
      date.textContent = row.date;
      tr.append(symbol, figure, barCell, rolling, date);
      return tr;
    }),
  );
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 5;
    td.textContent = "No volatility yet: a day needs two 5-minute returns.";
    tr.append(td);
    body.append(tr);
  }
}

function numberCell(text) {
  const td = document.createElement("td");
  td.className = "num";
  td.textContent = text;
  return td;
}
