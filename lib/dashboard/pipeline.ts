/**
 * The pipeline panel: what the page shows of the pipeline beside gold, as
 * facts and tables ({@linkcode PipelinePanel}) that the page draws as they
 * come. {@linkcode pipelinePanel} makes them from the `PipelineStatus` of
 * `deno task status` (lib/ops/status.ts, gathered by ./pipeline_status.ts)
 * and the gold the page reads: per-partition lag, the last load and dbt
 * run, freshness, dead letters by rule.
 *
 * @module
 */
import type { KindStatus, PipelineStatus } from "../ops/status.ts";
import type { GoldOverview } from "./gold_queries.ts";

/** One fact: a label and a text, a duration, and a time (shown with its age). */
export interface PipelineFact {
  /** What it is. */
  label: string;
  /** Its value as text. */
  text?: string;
  /** A duration, milliseconds. */
  ms?: number;
  /** A time, epoch milliseconds. */
  atMs?: number;
}

/** A table cell: a text, a number, a time (shown as its age), or unknown. */
export type PipelineCell = string | number | { atMs: number } | null;

/** One column of a {@linkcode PipelineTable}. */
export interface PipelineColumn {
  /** Its heading. */
  label: string;
  /** Whether its values are numbers (aligned right). */
  numeric?: boolean;
}

/** A table of the panel; its first column heads each row. */
export interface PipelineTable {
  /** Its heading. */
  title: string;
  /** Its caption: what a row is. */
  caption: string;
  /** Its columns. */
  columns: PipelineColumn[];
  /** Its rows, one cell per column. */
  rows: PipelineCell[][];
  /** What to say when it has no row. */
  empty: string;
}

/** The pipeline panel. */
export interface PipelinePanel {
  /** Where its figures come from, as a phrase. */
  source: string;
  /** Facts, in the order shown. */
  facts: PipelineFact[];
  /** Tables, in the order shown. */
  tables: PipelineTable[];
}

/** What {@linkcode readPipelinePanel} reads. */
export interface PipelinePanelOptions {
  /** Gathers the pipeline's status (./pipeline_status.ts). */
  status: () => Promise<PipelineStatus>;
  /** The gold the page shows (the server's overview of this version of gold). */
  gold: () => Promise<GoldOverview | undefined>;
}

/**
 * Gathers the status and the gold overview, and makes the panel.
 *
 * @param options Where the status and gold come from.
 * @returns The panel; a status that cannot be gathered is one fact saying why.
 */
export async function readPipelinePanel(
  options: PipelinePanelOptions,
): Promise<PipelinePanel> {
  const [status, gold] = await Promise.all([
    options.status().catch((error: unknown) =>
      error instanceof Error ? error : new Error(String(error))
    ),
    options.gold().catch(() => undefined),
  ]);
  return pipelinePanel(status, gold);
}

/**
 * The panel of a status and of the gold the page shows.
 *
 * @param status The pipeline's status, or why it could not be gathered.
 * @param gold The gold overview, if there is gold.
 * @returns The panel.
 */
export function pipelinePanel(
  status: PipelineStatus | Error,
  gold: GoldOverview | undefined,
): PipelinePanel {
  const facts: PipelineFact[] = [];
  const kinds = status instanceof Error ? [] : status.kinds;
  if (status instanceof Error) {
    facts.push({
      label: "Pipeline status",
      text: `cannot be gathered: ${status.message}`,
    });
  } else {
    const { follow, dbt, warehouse } = status;
    facts.push(
      follow
        ? {
          label: "Real-time service",
          text:
            `${follow.step}, ${follow.cycles} cycles, ${follow.dbtRuns} dbt runs${
              follow.error ? `: ${follow.error}` : ""
            }`,
          atMs: Date.parse(follow.updatedAt),
        }
        : {
          label: "Real-time service",
          text: "no status file (deno task follow is not running here)",
        },
    );
    // RAW unread (held, missing, or left out): no load is known.
    if (warehouse.unavailable) {
      facts.push({ label: "RAW", text: warehouse.unavailable });
    } else {
      for (const kind of kinds) {
        facts.push(timeFact(`Last load, ${kind.kind}`, kind.freshness.raw.at));
      }
    }
    facts.push(
      dbt
        ? {
          label: "Last dbt run",
          text: `${dbt.command} ${dbt.success ? "succeeded" : "failed"}`,
          ms: Math.round(dbt.elapsedSeconds * 1000),
          atMs: Date.parse(dbt.finishedAt),
        }
        : { label: "Last dbt run", text: "none here" },
    );
  }
  if (gold?.builtMs != null) {
    facts.push({ label: "Gold built", atMs: gold.builtMs });
    const p95 = goldFreshnessP95(gold);
    if (p95 !== undefined) {
      facts.push({
        label: "Gold freshness p95",
        text: "age of each symbol's newest quote or trade when gold was built",
        ms: p95,
      });
    }
  }
  return {
    source: status instanceof Error
      ? "the gold layer"
      : `deno task status's facts (${status.stream}) and the gold layer`,
    facts,
    tables: [
      lagTable(kinds),
      freshnessTable(kinds),
      deadLetterTable(kinds),
    ],
  };
}

/**
 * How old each symbol's newest quote or trade was when gold was built,
 * the 95th percentile over the symbols (nearest rank).
 *
 * @param gold The overview.
 * @returns Milliseconds, or undefined without a build time or symbols.
 */
export function goldFreshnessP95(gold: GoldOverview): number | undefined {
  if (gold.builtMs === null || gold.symbols.length === 0) return undefined;
  const built = gold.builtMs;
  const ages = gold.symbols
    .map((kpi) =>
      Math.max(0, built - Math.max(kpi.quoteMs, kpi.lastTradeMs ?? 0))
    )
    .sort((a, b) => a - b);
  return ages[Math.ceil(0.95 * ages.length) - 1];
}

function timeFact(label: string, at: string | null): PipelineFact {
  return at === null ? { label, text: "none yet" } : {
    label,
    atMs: Date.parse(at),
  };
}

function lagTable(kinds: KindStatus[]): PipelineTable {
  return {
    title: "Lag per partition",
    caption:
      "Offsets of each topic partition: the stream's end, the lake consumer's commit, the newest landed and loaded; to land and to load are the messages behind.",
    columns: [
      { label: "Partition" },
      { label: "End", numeric: true },
      { label: "Committed", numeric: true },
      { label: "Landed", numeric: true },
      { label: "Loaded", numeric: true },
      { label: "To land", numeric: true },
      { label: "To load", numeric: true },
    ],
    rows: kinds.flatMap((kind) =>
      kind.partitions.map((p) => [
        `${kind.kind} ${p.partition}`,
        p.end,
        p.committed,
        p.landed,
        p.loaded,
        p.streamLag,
        p.loadLag,
      ])
    ),
    empty: "No partition known.",
  };
}

function freshnessTable(kinds: KindStatus[]): PipelineTable {
  const age = (at: string | null): PipelineCell =>
    at === null ? null : { atMs: Date.parse(at) };
  return {
    title: "Freshness",
    caption:
      "How long ago each layer last changed: RAW's newest load, silver's and gold's newest transform.",
    columns: [
      { label: "Kind" },
      { label: "RAW", numeric: true },
      { label: "Silver", numeric: true },
      { label: "Gold", numeric: true },
    ],
    rows: kinds.map((kind) => [
      kind.kind,
      age(kind.freshness.raw.at),
      age(kind.freshness.silver.at),
      age(kind.freshness.gold.at),
    ]),
    empty: "Not known.",
  };
}

function deadLetterTable(kinds: KindStatus[]): PipelineTable {
  const rows: PipelineCell[][] = [];
  for (const kind of kinds) {
    const { lake, loader } = kind.deadLetters;
    for (const rule of lake.byRule) {
      rows.push([
        kind.kind,
        "consumer",
        `${rule.field}: ${rule.rule}`,
        rule.count,
      ]);
    }
    for (const rule of loader ?? []) {
      rows.push([
        kind.kind,
        "loader",
        `${rule.field}: ${rule.rule}`,
        rule.count,
      ]);
    }
  }
  return {
    title: "Dead letters by rule",
    caption:
      "Events refused, by the rule they broke: by the consumer (the lake's dead letters of the newest day) and by the loader.",
    columns: [
      { label: "Kind" },
      { label: "Refused by" },
      { label: "Rule" },
      { label: "Events", numeric: true },
    ],
    rows,
    empty: "None.",
  };
}
