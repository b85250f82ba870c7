// The pipeline panel, from `/api/pipeline`: a list of facts (the last load,
// the last dbt run, freshness), each with its time shown in UTC and its
// age, and tables (lag per partition, dead letters by rule).
import { age } from "./format.js";

const utc = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
  timeZoneName: "short",
});

/** Fills the panel's element from the panel's JSON. */
export function renderPipeline(element, panel, nowMs) {
  const source = document.createElement("p");
  source.className = "note";
  source.textContent = `From ${panel.source}.`;
  const facts = document.createElement("dl");
  for (const fact of panel.facts) {
    const dt = document.createElement("dt");
    dt.textContent = fact.label;
    const dd = document.createElement("dd");
    dd.textContent = factText(fact, nowMs);
    if (fact.atMs !== undefined) dd.dataset.at = String(fact.atMs);
    facts.append(dt, dd);
  }
  element.replaceChildren(source, facts, ...panel.tables.map(tableElement));
}

/** Rewrites the ages of the facts that have a time. */
export function tickPipeline(element, panel, nowMs) {
  if (!panel) return;
  const cells = element.querySelectorAll("dd");
  panel.facts.forEach((fact, i) => {
    if (fact.atMs !== undefined && cells[i]) {
      cells[i].textContent = factText(fact, nowMs);
    }
  });
}

function factText(fact, nowMs) {
  const parts = [];
  if (fact.text) parts.push(fact.text);
  if (fact.ms !== undefined) {
    parts.push(
      fact.ms < 60_000 ? `${(fact.ms / 1000).toFixed(2)} s` : age(fact.ms),
    );
  }
  if (fact.atMs !== undefined) {
    parts.push(`${utc.format(fact.atMs)} (${age(nowMs - fact.atMs)} ago)`);
  }
  return parts.join(", ") || "—";
}

function tableElement(spec) {
  const section = document.createElement("section");
  const title = document.createElement("h3");
  title.textContent = spec.title;
  const scroll = document.createElement("div");
  scroll.className = "scroll";
  const table = document.createElement("table");
  const caption = document.createElement("caption");
  caption.textContent = spec.caption;
  const head = document.createElement("thead");
  const headRow = document.createElement("tr");
  for (const column of spec.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column.label;
    if (column.numeric) th.className = "num";
    headRow.append(th);
  }
  head.append(headRow);
  const body = document.createElement("tbody");
  for (const values of spec.rows) {
    const tr = document.createElement("tr");
    values.forEach((value, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      if (spec.columns[i]?.numeric) cell.className = "num";
      cell.textContent = value === null || value === undefined
        ? "—"
        : typeof value === "number"
        ? value.toLocaleString("en-US")
        : value;
      tr.append(cell);
    });
    body.append(tr);
  }
  if (spec.rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = spec.columns.length;
    td.textContent = spec.empty;
    tr.append(td);
    body.append(tr);
  }
  table.append(caption, head, body);
  scroll.append(table);
  section.append(title, scroll);
  return section;
}
