/**
 * The lake's key layout, owned here so that every writer and reader agrees
 * on it: landed events under `<topic>/symbol=<symbol>/date=<day>/`, dead
 * letters under `dead-letter/<topic>/date=<day>/`, each object named from
 * the stream coordinates of its first and last message.
 *
 * @module
 */

/** Prefix of dead-letter objects. */
export const DEAD_LETTER_PREFIX = "dead-letter";

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
  const pad = (n: number) => String(n).padStart(OFFSET_DIGITS, "0");
  return `${topic}+${streamTag(streamId)}+${partition}+${pad(firstOffset)}+${
    pad(lastOffset)
  }.ndjson.gz`;
}

/**
 * The key of landed events of one symbol and day:
 * `<topic>/symbol=<symbol>/date=<YYYY-MM-DD>/<object name>`.
 */
export function eventKey(
  symbol: string,
  date: string,
  coordinates: ObjectCoordinates,
): string {
  return `${coordinates.topic}/symbol=${symbol}/date=${date}/${
    objectName(coordinates)
  }`;
}

/**
 * The key of dead letters: `dead-letter/<topic>/date=<YYYY-MM-DD>/<object name>`,
 * dated by the records' timestamp.
 */
export function deadLetterKey(
  date: string,
  coordinates: ObjectCoordinates,
): string {
  return `${DEAD_LETTER_PREFIX}/${coordinates.topic}/date=${date}/${
    objectName(coordinates)
  }`;
}
