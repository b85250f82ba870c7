/**
 * The lake's key layout, owned here so that every writer and reader agrees
 * on it. Landed events are one object per topic partition per flush:
 *
 *     <topic>/dt=<landing day>/partition=<N>/<topic>+<tag>+<N>+<first>+<last>.ndjson.gz
 *
 * and dead letters the same under `dead-letter/`. The time partition `dt` is
 * the UTC day the writer landed the batch, never the events' own time, so
 * new objects always go to today's folder, even when they hold old events (a
 * replay of history, a consumer catching up): a loader that remembers how
 * far it has listed finds everything new after that point. Within a folder,
 * one log's objects sort by offset; the name is the stream coordinates of
 * the first and last message, so the same messages always get the same name.
 *
 * Objects of the layout before it, `<topic>/symbol=<symbol>/date=<event
 * day>/<name>`, are still read ({@linkcode parseObjectKey}).
 *
 * @module
 */

/** Prefix of dead-letter objects. */
export const DEAD_LETTER_PREFIX = "dead-letter";

/** Suffix of every landed object. */
export const OBJECT_SUFFIX = ".ndjson.gz";

const OFFSET_DIGITS = 20;

/**
 * A short, key-safe tag of a stream's identity (8 hex digits of FNV-1a), so
 * that object names from different logs never meet even when their topics,
 * partitions and offsets do.
 */
export function streamTag(streamId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** Stream coordinates of the first and last message in an object. */
export interface ObjectCoordinates {
  /** Identity of the log (see `Stream.identity()`). */
  streamId: string;
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Offset of the first message. */
  firstOffset: number;
  /** Offset of the last message. */
  lastOffset: number;
}

/**
 * The object name for a run of messages:
 * `<topic>+<stream tag>+<partition>+<first>+<last>.ndjson.gz` with zero-padded
 * offsets, so the same messages always land under the same name and a retried
 * upload meets its earlier attempt.
 */
export function objectName(coordinates: ObjectCoordinates): string {
  const { streamId, topic, partition, firstOffset, lastOffset } = coordinates;
  if (
    !Number.isSafeInteger(firstOffset) || firstOffset < 0 ||
    lastOffset < firstOffset
  ) {
    throw new RangeError(
      `Cannot name an object as the offsets must satisfy 0 <= first <= last: current values are ${firstOffset} and ${lastOffset}`,
    );
  }
  return `${namePrefix(topic, streamTag(streamId), partition)}${
    pad(firstOffset)
  }+${pad(lastOffset)}${OBJECT_SUFFIX}`;
}

/** The UTC day (`YYYY-MM-DD`) of an epoch-milliseconds instant: an object's time partition. */
export function landingDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/**
 * The key of landed events of one partition:
 * `<topic>/dt=<landing day>/partition=<N>/<object name>`.
 */
export function eventKey(day: string, coordinates: ObjectCoordinates): string {
  return `${partitionFolder(coordinates.topic, day, coordinates.partition)}${
    objectName(coordinates)
  }`;
}

/**
 * The key of dead letters:
 * `dead-letter/<topic>/dt=<landing day>/partition=<N>/<object name>`.
 */
export function deadLetterKey(
  day: string,
  coordinates: ObjectCoordinates,
): string {
  return `${DEAD_LETTER_PREFIX}/${eventKey(day, coordinates)}`;
}

/**
 * The most objects of one partition a landing writer has written and not
 * yet committed. A writer resumes from the committed offset, so its next
 * object starts no earlier than the first offset of one of these; discovery
 * (lib/load/discovery.ts) lists this many loaded keys again to meet it.
 */
export const UNCOMMITTED_OBJECTS = 8;

/** The folder of one landing day: `<topic>/dt=<day>/`. */
export function dayFolder(topic: string, day: string): string {
  return `${topic}/dt=${day}/`;
}

/** The folder of one partition on one landing day: `<topic>/dt=<day>/partition=<N>/`. */
export function partitionFolder(
  topic: string,
  day: string,
  partition: number,
): string {
  return `${dayFolder(topic, day)}partition=${partition}/`;
}

/**
 * What every object name of one log's partition starts with:
 * `<topic>+<tag>+<N>+`. Within a folder, names after it sort by offset.
 */
export function namePrefix(
  topic: string,
  tag: string,
  partition: number,
): string {
  return `${topic}+${tag}+${partition}+`;
}

/** What an object key says of the object. */
export interface ObjectKey {
  /** `partition` for today's layout, `symbol` for the layout before it. */
  layout: "partition" | "symbol";
  /** Topic. */
  topic: string;
  /**
   * The key's day: the landing day (`dt=`) in today's layout, the events'
   * day (`date=`) in the one before.
   */
  day: string;
  /** The stream tag (see {@linkcode streamTag}). */
  tag: string;
  /** Partition. */
  partition: number;
  /** Offset of the first message. */
  firstOffset: number;
  /** Offset of the last message. */
  lastOffset: number;
}

const KEY = new RegExp(
  String
    .raw`^([^/]+)/(?:dt=(\d{4}-\d{2}-\d{2})/partition=(\d+)|symbol=[^/]+/date=(\d{4}-\d{2}-\d{2}))/` +
    String
      .raw`([^/+]+)\+([0-9a-f]{8})\+(\d+)\+(\d{${OFFSET_DIGITS}})\+(\d{${OFFSET_DIGITS}})\.ndjson\.gz$`,
);

/**
 * Reads an event object's key, in either layout.
 *
 * @param key The key.
 * @returns What it says, or null when it is not a landed-event key (or its
 * folder and name disagree on topic or partition).
 */
export function parseObjectKey(key: string): ObjectKey | null {
  const match = KEY.exec(key);
  if (!match) return null;
  const [, topic, dt, folderPartition, date, nameTopic, tag, partition] = match;
  const firstOffset = Number(match[8]);
  const lastOffset = Number(match[9]);
  if (
    nameTopic !== topic ||
    (folderPartition !== undefined && folderPartition !== partition) ||
    !Number.isSafeInteger(lastOffset) || firstOffset > lastOffset
  ) return null;
  return {
    layout: dt !== undefined ? "partition" : "symbol",
    topic,
    day: dt ?? date,
    tag,
    partition: Number(partition),
    firstOffset,
    lastOffset,
  };
}

function pad(offset: number): string {
  return String(offset).padStart(OFFSET_DIGITS, "0");
}
