/**
 * The pipeline panel: what the page shows of the pipeline beside gold, as
 * a list of facts and a few tables ({@linkcode PipelinePanel}), which the
 * page draws as they come. {@linkcode readPipelinePanel} is the one place
 * that gathers them; it reads what the running pipeline already publishes
 * without touching the warehouse: the real-time service's status file
 * (lib/app/follow_status.ts, when `deno task follow` runs here) and the gold
 * the page reads (when it was built, how fresh each symbol was then).
 *
 * @module
 */
import type { FollowStatus } from "../app/follow_status.ts";
import type { GoldOverview } from "./gold_queries.ts";

/** One fact: a label and a text, a time (shown with its age) or a duration. */
export interface PipelineFact {
  /** What it is. */
  label: string;
  /** Its value as text. */
  text?: string;
  /** A time, epoch milliseconds. */
  atMs?: number;
  /** A duration, milliseconds. */
  ms?: number;
}

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
  /** Its rows, one value per column (null: unknown). */
  rows: (string | number | null)[][];
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
  /** `deno task follow`'s status file (`FOLLOW_STATUS_PATH`); it may not exist. */
  followStatusPath: string;
  /** The gold the page shows (the server's cached overview). */
  gold: () => Promise<GoldOverview | undefined>;
}

/**
 * Gathers the panel.
 *
 * @param options The status file and the gold overview.
 * @returns The panel; a source that is missing leaves its facts out.
 */
export async function readPipelinePanel(
  options: PipelinePanelOptions,
): Promise<PipelinePanel> {
  const [follow, gold] = await Promise.all([
    readFollowStatus(options.followStatusPath),
    options.gold().catch(() => undefined),
  ]);
  const facts: PipelineFact[] = [];
  if (follow) {
    facts.push(
      {
        label: "Real-time service",
        text: `${follow.step}, ${follow.cycles} cycles`,
        atMs: Date.parse(follow.updated_at),
      },
      {
        label: "Loaded",
        text: `${follow.objects} objects, ${follow.rows} rows`,
        ...(follow.raw_as_of ? { atMs: Date.parse(follow.raw_as_of) } : {}),
      },
      {
        label: "Last dbt run",
        text: `run ${follow.dbt_runs}`,
        ms: follow.last_dbt_ms,
      },
    );
  } else {
    facts.push({
      label: "Real-time service",
      text: "no status file here (deno task follow writes one)",
    });
  }
  if (gold?.builtMs != null) {
    facts.push({ label: "Gold built", atMs: gold.builtMs });
    const p95 = goldFreshnessP95(gold);
    if (p95 !== undefined) {
      facts.push({
        label: "Gold freshness p95",
        text: "newest quote or trade per symbol, when gold was built",
        ms: p95,
      });
    }
  }
  return {
    source: follow
      ? "the real-time service's status file and the gold layer"
      : "the gold layer",
    facts,
    tables: [
      {
        title: "Lag per partition",
        caption: "Messages in the stream not yet in RAW, per topic partition.",
        columns: [
          { label: "Partition" },
          { label: "Stream end", numeric: true },
          { label: "Landed", numeric: true },
          { label: "Loaded", numeric: true },
          { label: "Lag", numeric: true },
        ],
        rows: [],
        empty: "Not measured by this panel's sources.",
      },
      {
        title: "Dead letters by rule",
        caption: "Events refused, by the rule they broke.",
        columns: [{ label: "Rule" }, { label: "Events", numeric: true }],
        rows: follow && follow.rejected > 0
          ? [["refused by the loader (any rule)", follow.rejected]]
          : [],
        empty: follow ? "None refused by the loader." : "Not measured here.",
      },
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

/** The status file, or undefined when there is none or it is being written. */
async function readFollowStatus(
  path: string,
): Promise<FollowStatus | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}
