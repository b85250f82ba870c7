/**
 * Whether the pipeline keeps up: the facts `deno task status` gathers
 * (lib/app/status.ts) as one plain, JSON-serialisable object,
 * {@linkcode PipelineStatus}; the judgement of those facts against the
 * thresholds ({@linkcode judgeStatus}); and their rendering as one screen
 * of text ({@linkcode formatStatus}). Gathering is kept apart, so the same
 * object can be shown elsewhere (a dashboard) and these parts tested
 * without services.
 *
 * Offsets follow Kafka's convention: each is the next offset, one past the
 * last message counted, so `end - committed` is the messages not landed yet
 * and `committed - loaded` those landed and not in RAW yet.
 *
 * @module
 */
import type { EventKind } from "../contract/kinds.ts";
import type { DbtRun } from "../transform/run_results.ts";
import type { Holder, RuleCount } from "../warehouse/status.ts";
import type { LakeDeadLetters } from "./dead_letters.ts";

/** One partition of a kind's topic, at each stage. */
export interface PartitionStatus {
  /** The partition. */
  partition: number;
  /** The stream's end offset: the offset the next message will get (high watermark). */
  end: number;
  /** The lake group's committed offset (the log start when it never committed). */
  committed: number;
  /** One past the newest offset landed in the lake, or null when none of this log is found. */
  landed: number | null;
  /** One past the newest offset in RAW, or null when none is (or RAW could not be read). */
  loaded: number | null;
  /** `end - committed`: messages in the stream, not landed yet. */
  streamLag: number;
  /** `committed - loaded` (never below 0): landed, not in RAW yet; null when RAW could not be read. */
  loadLag: number | null;
}

/** How fresh one layer of a kind is. */
export interface LayerFreshness {
  /** The newest time measured, ISO 8601, or null when unknown (not built, not read). */
  at: string | null;
  /** Seconds from `at` to the status's time, or null. */
  ageSeconds: number | null;
  /** What was measured, e.g. `raw.loaded_ranges.loaded_at`. */
  measure: string;
}

/** One kind of event (its topic and the lake group) at every stage. */
export interface KindStatus {
  /** The kind. */
  kind: EventKind;
  /** The topic. */
  topic: string;
  /** The lake consumer's group. */
  groupId: string;
  /** The log's identity. */
  streamId: string;
  /** Per partition. */
  partitions: PartitionStatus[];
  /** Messages in the stream and not in RAW yet: `streamLag + loadLag` summed over partitions (an unknown `loadLag` counts 0). */
  lag: number;
  /** RAW (newest load), silver and gold (newest transform). */
  freshness: {
    raw: LayerFreshness;
    silver: LayerFreshness;
    gold: LayerFreshness;
  };
  /** When the newest event of the newest load was published to the stream, ISO 8601, or null. */
  newestEventAt: string | null;
  /** Dead letters: the consumer's in the lake, and the lines the loader refused (null when RAW could not be read). */
  deadLetters: { lake: LakeDeadLetters; loader: RuleCount[] | null };
}

/** The real-time service's own status file, as last written. */
export interface FollowSnapshot {
  /** The step under way, or how it ended (`stopped`, `failed`). */
  step: string;
  /** When it was written, ISO 8601. */
  updatedAt: string;
  /** Cycles completed. */
  cycles: number;
  /** dbt runs. */
  dbtRuns: number;
  /** Milliseconds of the last dbt run. */
  lastDbtMs: number;
  /** Why it failed, when it did. */
  error: string | null;
  /** Where it was read. */
  source: string;
}

/** The whole pipeline at one moment. */
export interface PipelineStatus {
  /** When the facts were gathered, ISO 8601. */
  at: string;
  /** The stream's location. */
  stream: string;
  /** The lake's location. */
  lake: string;
  /** The warehouse, and why RAW and silver could not be read, if they could not. */
  warehouse: {
    location: string;
    unavailable: string | null;
    heldBy: Holder | null;
    /** Where gold was read: the gold copy, or the warehouse. */
    goldSource: string;
    /** When the gold copy was published, ISO 8601 (DuckDB), or null. */
    goldPublishedAt: string | null;
  };
  /** Per kind. */
  kinds: KindStatus[];
  /** The last dbt command and its result (dbt's run_results.json), or null when dbt has not run here. */
  dbt: DbtRun | null;
  /** `deno task follow`'s status file, or null when there is none. */
  follow: FollowSnapshot | null;
}

/** The limits a status is judged by. */
export interface StatusThresholds {
  /** Most messages a kind may have in its stream and not in RAW (`STATUS_MAX_LAG_MESSAGES`). */
  maxLagMessages: number;
  /** Oldest, in seconds, a kind's RAW, silver and gold may be (`STATUS_MAX_FRESHNESS_SECONDS`). */
  maxFreshnessSeconds: number;
}

/** The verdict on a status. */
export interface StatusVerdict {
  /** Whether every kind is within the thresholds. */
  ok: boolean;
  /** The thresholds judged by. */
  thresholds: StatusThresholds;
  /** Each threshold passed, as a sentence. */
  breaches: string[];
}

/**
 * Judges a status: a kind whose lag is above `maxLagMessages`, or whose
 * RAW, silver or gold is older than `maxFreshnessSeconds`, passes a
 * threshold. What is unknown (a layer dbt has not built, RAW held by a
 * writer) passes none.
 *
 * @param status The facts.
 * @param thresholds The limits.
 * @returns The verdict, with one sentence per threshold passed.
 */
export function judgeStatus(
  status: PipelineStatus,
  thresholds: StatusThresholds,
): StatusVerdict {
  const { maxLagMessages, maxFreshnessSeconds } = thresholds;
  const breaches: string[] = [];
  for (const kind of status.kinds) {
    if (kind.lag > maxLagMessages) {
      breaches.push(
        `${kind.kind} are ${kind.lag} messages behind (in the stream, not in RAW), more than STATUS_MAX_LAG_MESSAGES=${maxLagMessages}`,
      );
    }
    for (const [layer, freshness] of Object.entries(kind.freshness)) {
      const age = freshness.ageSeconds;
      if (age !== null && age > maxFreshnessSeconds) {
        breaches.push(
          `${kind.kind} ${layerName(layer)} is ${
            formatAge(age)
          } old (${freshness.measure}), more than STATUS_MAX_FRESHNESS_SECONDS=${maxFreshnessSeconds}`,
        );
      }
    }
  }
  return { ok: breaches.length === 0, thresholds, breaches };
}

/**
 * An age for people: `42 s`, `7 min`, `3 h`, `2 d`.
 *
 * @param seconds The age in seconds.
 * @returns The age, rounded down to its unit.
 */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7_200) return `${Math.floor(s / 60)} min`;
  if (s < 172_800) return `${Math.floor(s / 3_600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

/**
 * The status as one screen of aligned text: a table per kind, the
 * freshness of each layer, the last dbt run, the dead letters, and the
 * verdict as the last line.
 *
 * @param status The facts.
 * @param verdict Its judgement.
 * @returns The text, without a final newline.
 */
export function formatStatus(
  status: PipelineStatus,
  verdict: StatusVerdict,
): string {
  const lines = [
    `Pipeline status at ${status.at}`,
    `stream ${status.stream}  lake ${status.lake}  warehouse ${status.warehouse.location}`,
  ];
  if (status.warehouse.unavailable !== null) {
    lines.push(
      `warehouse not read: ${status.warehouse.unavailable}; RAW and silver unknown, gold from ${status.warehouse.goldSource}`,
    );
  }
  for (const kind of status.kinds) {
    lines.push(
      "",
      `${kind.kind}: topic ${kind.topic}, group ${kind.groupId}, log ${kind.streamId}`,
      ...kindTable(kind),
    );
  }
  lines.push("", ...freshnessTable(status));
  lines.push("", dbtLine(status), followLine(status));
  lines.push(...deadLetterLines(status));
  lines.push(
    "",
    verdict.ok
      ? `OK: every kind within ${verdict.thresholds.maxLagMessages} messages of lag and ${verdict.thresholds.maxFreshnessSeconds} s of freshness`
      : `THRESHOLD PASSED: ${verdict.breaches.join("; ")}`,
  );
  return lines.join("\n");
}

function kindTable(kind: KindStatus): string[] {
  const show = (n: number | null) => n === null ? "-" : String(n);
  const sum = (pick: (p: PartitionStatus) => number | null) =>
    kind.partitions.reduce((total, p) => total + (pick(p) ?? 0), 0);
  const rows = kind.partitions.map((p) => [
    String(p.partition),
    String(p.end),
    String(p.committed),
    show(p.landed),
    show(p.loaded),
    String(p.streamLag),
    show(p.loadLag),
    show(p.loadLag === null ? null : p.streamLag + p.loadLag),
  ]);
  const unknown = kind.partitions.some((p) => p.loadLag === null);
  rows.push([
    "total",
    String(sum((p) => p.end)),
    String(sum((p) => p.committed)),
    "",
    "",
    String(sum((p) => p.streamLag)),
    unknown ? "-" : String(sum((p) => p.loadLag)),
    String(kind.lag),
  ]);
  return align([
    [
      "partition",
      "end",
      "committed",
      "landed",
      "loaded",
      "to land",
      "to load",
      "lag",
    ],
    ...rows,
  ]);
}

function freshnessTable(status: PipelineStatus): string[] {
  const at = Date.parse(status.at);
  const ago = (iso: string | null) =>
    iso === null ? "-" : `${formatAge((at - Date.parse(iso)) / 1000)} ago`;
  const rows = (["raw", "silver", "gold"] as const).map((layer) => [
    layerName(layer),
    ...status.kinds.map((k) => ago(k.freshness[layer].at)),
  ]);
  rows.push(["newest event", ...status.kinds.map((k) => ago(k.newestEventAt))]);
  const table = align([
    ["freshness", ...status.kinds.map((k) => k.kind)],
    ...rows,
  ]);
  table.push(
    "(RAW: the newest load; silver, gold: the newest transformed_at; newest event: when the newest load's newest event entered the stream)",
  );
  const published = status.warehouse.goldPublishedAt;
  if (published !== null) {
    table.push(
      `gold copy published ${ago(published)}: ${status.warehouse.goldSource}`,
    );
  }
  return table;
}

function dbtLine(status: PipelineStatus): string {
  const run = status.dbt;
  if (run === null) {
    return "dbt: no run recorded here (dbt_stocks/target/run_results.json)";
  }
  const ago = formatAge(
    (Date.parse(status.at) - Date.parse(run.finishedAt)) / 1000,
  );
  const counts = Object.entries(run.counts).map(([s, n]) => `${n} ${s}`).join(
    ", ",
  );
  return `dbt: last ${run.command} ${
    run.success ? "succeeded" : "FAILED"
  } ${ago} ago, ran ${run.elapsedSeconds} s (${
    counts || "no nodes"
  }); from ${run.source}`;
}

function followLine(status: PipelineStatus): string {
  const follow = status.follow;
  if (follow === null) return "follow: no status file (not running here)";
  const ago = formatAge(
    (Date.parse(status.at) - Date.parse(follow.updatedAt)) / 1000,
  );
  return `follow: ${follow.step} (written ${ago} ago), ${follow.cycles} cycles, ${follow.dbtRuns} dbt runs, last ${follow.lastDbtMs} ms${
    follow.error ? `; error: ${follow.error}` : ""
  }; from ${follow.source}`;
}

function deadLetterLines(status: PipelineStatus): string[] {
  const rules = (counts: RuleCount[]) =>
    counts.map((c) => `${c.count} ${c.field}: ${c.rule}`).join("; ");
  return status.kinds.map(({ kind, deadLetters: { lake, loader } }) => {
    const inLake = lake.day === null
      ? "none in the lake"
      : `${lake.lines} in the lake on ${lake.day} (${lake.objects} object${
        lake.objects === 1 ? "" : "s"
      }${lake.truncated ? ", not all read" : ""}${
        lake.byRule.length > 0 ? `: ${rules(lake.byRule)}` : ""
      })`;
    const total = loader?.reduce((n, c) => n + c.count, 0);
    const refused = loader === null
      ? "loader's refusals unknown"
      : total === 0
      ? "none refused by the loader"
      : `${total} refused by the loader (${rules(loader)})`;
    return `dead letters, ${kind}: ${inLake}; ${refused}`;
  });
}

function layerName(layer: string): string {
  return layer === "raw" ? "RAW" : layer;
}

/** Rows as columns: the first left-aligned, the others right-aligned. */
function align(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((row) => (row[i] ?? "").length))
  );
  return rows.map((row) =>
    row.map((cell, i) =>
      i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])
    ).join("  ").trimEnd()
  );
}
