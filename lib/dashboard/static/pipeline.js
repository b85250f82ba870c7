// The pipeline panel, from `/api/pipeline`: a list of facts (the real-time
// service, the last loads, the last dbt run, gold), each time shown in UTC
// with its age, and tables (lag per partition, freshness, dead letters by
// rule). Ages are rewritten every second by tickPipeline.
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
    const parts = [];
    if (fact.text) parts.push(fact.text);
    if (fact.ms !== undefined) parts.push(duration(fact.ms));
    dd.textContent = parts.join(", ");
    if (fact.atMs !== undefined) {
      if (parts.length > 0) dd.append(", ");
      dd.append(timeElement(fact.atMs, true, nowMs));
    }
    if (dd.textContent === "") dd.textContent = "—";
    facts.append(dt, dd);
  }
  element.replaceChildren(
    source,
    facts,
    ...panel.tables.map((spec) => tableElement(spec, nowMs)),
  );
}

/** Rewrites every age in the panel. */
export function tickPipeline(element, nowMs) {
  for (const time of element.querySelectorAll("[data-at]")) {
    time.textContent = timeText(
      Number(time.dataset.at),
      time.dataset.full === "true",
      nowMs,
    );
  }
}

function duration(ms) {
  return ms < 60_000 ? `${(ms / 1000).toFixed(2)} s` : age(ms);
}

function timeElement(atMs, full, nowMs) {
  const time = document.createElement("time");
  time.dateTime = new Date(atMs).toISOString();
  time.dataset.at = String(atMs);
  time.dataset.full = String(full);
  time.textContent = timeText(atMs, full, nowMs);
  return time;
}

function timeText(atMs, full, nowMs) {
  const ago = `${age(nowMs - atMs)} ago`;
  return full ? `${utc.format(atMs)} (${ago})` : ago;
}

function tableElement(spec, nowMs) {
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
      if (value === null || value === undefined) cell.textContent = "—";
      else if (typeof value === "object") {
        cell.append(timeElement(value.atMs, false, nowMs));
      } else if (typeof value === "number") {
        cell.textContent = value.toLocaleString("en-US");
      } else cell.textContent = value;
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
