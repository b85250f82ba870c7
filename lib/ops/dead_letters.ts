/**
 * The consumer's dead letters of one topic, counted by rule, at a bounded
 * cost: only the newest landing day's folder under
 * `dead-letter/<topic>/dt=…/` is listed (one listing of the day folders,
 * one of that day's objects), and at most `maxObjects` of its objects are
 * read. Dead letters are invalid events, rare in a healthy pipeline, so a
 * day holds a few objects; a day with more is counted by its objects and
 * marked truncated. Reconciliation (./reconcile.ts) reads every dead letter
 * instead, to account for each offset.
 *
 * @module
 */
import { DEAD_LETTER_PREFIX, OBJECT_SUFFIX } from "../lake/keys.ts";
import type { Lake } from "../lake/lake.ts";
import { decodeLines } from "../lake/ndjson.ts";
import type { RuleCount } from "../warehouse/status.ts";

/** Options for {@linkcode countDeadLetters}. */
export interface DeadLetterOptions {
  /**
   * Most dead-letter objects read; the day's others are counted, not read.
   *
   * @default {100}
   */
  maxObjects?: number;
}

/** The dead letters of a topic's newest landing day with any. */
export interface LakeDeadLetters {
  /** That landing day (`YYYY-MM-DD`), or null when the topic has none. */
  day: string | null;
  /** Dead-letter objects of the day. */
  objects: number;
  /** Dead letters in the objects read. */
  lines: number;
  /** Those dead letters by field and rule, most first. */
  byRule: RuleCount[];
  /** Whether some of the day's objects were not read (more than `maxObjects`). */
  truncated: boolean;
}

/**
 * Counts the dead letters of `topic`'s newest landing day by rule.
 *
 * @param lake The lake.
 * @param topic The topic.
 * @param options How many objects to read at most.
 * @returns The counts; `day` null when the topic has no dead letters.
 * @throws {Error} When the lake cannot be listed or read.
 */
export async function countDeadLetters(
  lake: Lake,
  topic: string,
  options: DeadLetterOptions = {},
): Promise<LakeDeadLetters> {
  const { maxObjects = 100 } = options;
  const prefix = `${DEAD_LETTER_PREFIX}/${topic}/dt=`;
  let newest: string | undefined;
  for await (const folder of lake.folders(`${DEAD_LETTER_PREFIX}/${topic}/`)) {
    if (folder.startsWith(prefix)) newest = folder;
  }
  const result: LakeDeadLetters = {
    day: null,
    objects: 0,
    lines: 0,
    byRule: [],
    truncated: false,
  };
  if (newest === undefined) return result;
  result.day = newest.slice(prefix.length, -1);
  const counts = new Map<string, RuleCount>();
  for await (const object of lake.list(newest)) {
    if (!object.key.endsWith(OBJECT_SUFFIX)) continue;
    result.objects++;
    if (result.objects > maxObjects) {
      result.truncated = true;
      continue;
    }
    for (const line of await decodeLines(await lake.get(object.key))) {
      const reason = reasonOf(line);
      const id = `${reason.field}\u0000${reason.rule}`;
      const count = counts.get(id) ??
        counts.set(id, { ...reason, count: 0 }).get(id)!;
      count.count++;
      result.lines++;
    }
  }
  result.byRule = [...counts.values()].sort((a, b) =>
    b.count - a.count || a.field.localeCompare(b.field) ||
    a.rule.localeCompare(b.rule)
  );
  return result;
}

/** A dead letter's field and rule (lib/land/encode_batch.ts writes `reason`). */
function reasonOf(line: string): { field: string; rule: string } {
  try {
    const { reason } = JSON.parse(line);
    if (typeof reason?.field === "string" && typeof reason?.rule === "string") {
      return { field: reason.field, rule: reason.rule };
    }
  } catch {
    // counted under "unreadable" below
  }
  return { field: "event", rule: "unreadable dead letter" };
}
