/**
 * Discovery: which lake objects a load has not seen yet, found from
 * high-water marks, so that a load's listing costs what landed since the
 * last one, not the lake's history.
 *
 * The landing writer names objects `<topic>/dt=<landing day>/partition=<N>/
 * <topic>+<tag>+<N>+<first offset>+<last offset>.ndjson.gz`
 * (lib/lake/keys.ts). Within a partition folder, one log's (one tag's) names
 * sort by offset. A writer resumes from the group's committed offset, and it
 * never has more than {@linkcode UNCOMMITTED_OBJECTS} objects of a partition
 * written and not committed; so an object written after a crash or a
 * rebalance starts at or after the first offset of one of the last
 * {@linkcode UNCOMMITTED_OBJECTS} objects written before it, and its key sorts
 * after the keys of every earlier one. So a mark per folder and tag, the key
 * {@linkcode UNCOMMITTED_OBJECTS} handled keys back from the last, is where
 * the next listing of that log starts: it lists those few keys again (the
 * ledger finds them loaded) and everything new.
 *
 * A load lists:
 * - the day folders from the newest marked day minus a lookback (for a
 *   writer whose clock or a long retry put its objects in an earlier day's
 *   folder), and all later ones;
 * - in each, the partition folders; in each of those, the keys in order,
 *   jumping past a tag's mark when it meets a key at or before it (S3's
 *   `StartAfter`), so one listing per folder plus one per tag.
 *
 * The first load of a topic lists all of `<topic>/` once (which also finds
 * objects of the layout before, `symbol=…/date=…/`), and is recorded as
 * the topic's sweep. Marks only narrow the listing: every key found is still
 * compared with the load ledger, in the warehouse (lib/load/loader.ts).
 *
 * @module
 */
import {
  dayFolder,
  landingDay,
  OBJECT_SUFFIX,
  parseObjectKey,
  partitionFolder,
  UNCOMMITTED_OBJECTS,
} from "../lake/keys.ts";
import type { Lake, LakeObject } from "../lake/lake.ts";
import type { DiscoveryState, LoadMark } from "../warehouse/warehouse.ts";

/**
 * Days before the newest marked day whose folders every load lists again.
 *
 * A writer's day is its clock's when it first tries a flush, and a retried
 * flush keeps it, so an object can land in a day folder behind the loader's
 * newest by clock skew plus the longest retry.
 */
export const DEFAULT_LOOKBACK_DAYS = 2;

/**
 * Lists the event objects that may not be loaded yet, in key order within
 * each folder: everything under `<topic>/` before the first sweep, then only
 * the keys after the marks.
 *
 * @param lake The lake.
 * @param topic The topic.
 * @param state Marks and sweep, as the warehouse holds them.
 * @param lookbackDays Days before the newest marked day listed again.
 * @returns The objects, each event-object key (in either layout) at most once.
 */
export async function* unseenObjects(
  lake: Lake,
  topic: string,
  state: DiscoveryState,
  lookbackDays = DEFAULT_LOOKBACK_DAYS,
): AsyncGenerator<LakeObject> {
  if (!state.swept) {
    for await (const object of lake.list(`${topic}/`)) {
      if (object.key.endsWith(OBJECT_SUFFIX)) yield object;
    }
    return;
  }
  const byFolder = new Map<string, Map<string, string>>();
  let newest: string | undefined;
  for (const mark of state.marks) {
    const folder = partitionFolder(topic, mark.day, mark.partition);
    const tags = byFolder.get(folder) ?? byFolder.set(folder, new Map())
      .get(folder)!;
    tags.set(mark.tag, mark.key);
    if (newest === undefined || mark.day > newest) newest = mark.day;
  }
  const days = `${topic}/dt=`;
  const from = newest === undefined
    ? days
    : dayFolder(topic, addDays(newest, -lookbackDays)).slice(0, -1);
  for await (const day of lake.folders(`${topic}/`, { startAfter: from })) {
    // The layout before sorts after `dt=`; the sweep handled it.
    if (!day.startsWith(days)) break;
    for await (const folder of lake.folders(day)) {
      yield* afterMarks(lake, folder, byFolder.get(folder));
    }
  }
}

/**
 * The keys of one partition folder that sort after their log's mark: a
 * listing from the folder's start that jumps to a tag's mark when it meets
 * a key of that tag at or before it.
 */
async function* afterMarks(
  lake: Lake,
  folder: string,
  marks: Map<string, string> | undefined,
): AsyncGenerator<LakeObject> {
  let startAfter: string | undefined;
  restart: for (;;) {
    for await (const object of lake.list(folder, { startAfter })) {
      if (!object.key.endsWith(OBJECT_SUFFIX)) continue;
      const tag = parseObjectKey(object.key)?.tag;
      const mark = tag === undefined ? undefined : marks?.get(tag);
      if (mark !== undefined && object.key <= mark) {
        startAfter = mark;
        continue restart;
      }
      yield object;
    }
    return;
  }
}

/**
 * The newest landed offset of each partition of one log, found as a load
 * finds what is new: the marks' keys, then the keys listed after them
 * ({@linkcode unseenObjects}); an object's name gives its last offset, so no
 * object is read. It costs what a load's listing costs: a few listings per
 * partition folder plus what landed since the last load (all of the topic
 * before its first load).
 *
 * @param lake The lake.
 * @param topic The topic.
 * @param tag The log's stream tag (lib/lake/keys.ts `streamTag`).
 * @param state Marks and sweep, as the warehouse holds them.
 * @param lookbackDays Days before the newest marked day listed again.
 * @returns Per partition, the last offset of the newest object of the log
 * found; a partition of which none is found is left out.
 */
export async function landedEnds(
  lake: Lake,
  topic: string,
  tag: string,
  state: DiscoveryState,
  lookbackDays = DEFAULT_LOOKBACK_DAYS,
): Promise<Map<number, number>> {
  const ends = new Map<number, number>();
  const see = (key: string) => {
    const name = parseObjectKey(key);
    if (name === null || name.tag !== tag) return;
    if (!(name.lastOffset <= (ends.get(name.partition) ?? -1))) {
      ends.set(name.partition, name.lastOffset);
    }
  };
  for (const mark of state.marks) see(mark.key);
  for await (const object of unseenObjects(lake, topic, state, lookbackDays)) {
    see(object.key);
  }
  return ends;
}

/**
 * Keeps the last key handled per folder and tag, as a load handles keys in
 * listing order.
 */
export class MarkTracker {
  /** Per folder and tag: the last keys handled, at most one more than the lag kept. */
  #tails = new Map<string, { mark: LoadMark; keys: string[] }>();
  #behind: number;

  /**
   * @param behind How many handled keys a mark stays behind the last one.
   */
  constructor(behind = UNCOMMITTED_OBJECTS) {
    this.#behind = behind;
  }

  /** Records that `key` was handled (loaded, or found in the ledger). */
  handled(key: string): void {
    const parsed = parseObjectKey(key);
    if (parsed === null || parsed.layout !== "partition") return;
    const id = `${parsed.day}/${parsed.partition}/${parsed.tag}`;
    const tail = this.#tails.get(id) ??
      this.#tails.set(id, {
        mark: {
          day: parsed.day,
          partition: parsed.partition,
          tag: parsed.tag,
          key: "",
        },
        keys: [],
      }).get(id)!;
    const last = tail.keys[tail.keys.length - 1];
    if (last !== undefined && key <= last) return;
    tail.keys.push(key);
    if (tail.keys.length > this.#behind + 1) tail.keys.shift();
  }

  /**
   * The marks so far: per folder and tag with more handled keys than the lag,
   * the key that many keys back from the last.
   */
  marks(): LoadMark[] {
    const marks: LoadMark[] = [];
    for (const { mark, keys } of this.#tails.values()) {
      if (keys.length > this.#behind) marks.push({ ...mark, key: keys[0] });
    }
    return marks;
  }
}

/** `day` (`YYYY-MM-DD`) moved by `days`. */
function addDays(day: string, days: number): string {
  return landingDay(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000);
}
