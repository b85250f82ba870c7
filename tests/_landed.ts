/**
 * Landed lines for the loader's tests: a valid AAPL quote at a stream
 * coordinate, as the landing writer would land it.
 *
 * @module
 */
import type { LandedLine } from "../lib/contract/landed_line.ts";

/** 2026-11-20 14:30 UTC in epoch seconds: offset n is quoted n seconds later. */
export const T = Date.UTC(2026, 10, 20, 14, 30) / 1000;

/** Where a landed event sits, and its price. */
export interface LandedAt {
  /** Log identity. */
  stream: string;
  /** Partition. */
  partition: number;
  /** Offset: also the quote's second after {@linkcode T}. */
  offset: number;
  /** Topic; `stock-quotes` by default. */
  topic?: string;
  /** The price; 100 + offset / 100 by default. */
  price?: number;
}

/** A valid quote landed at the given coordinates. */
export function landedEvent(at: LandedAt): LandedLine {
  const { stream, partition, offset, topic = "stock-quotes" } = at;
  return {
    symbol: "AAPL",
    c: at.price ?? 100 + offset / 100,
    d: 1,
    dp: 1,
    h: 500,
    l: 50,
    o: 100,
    pc: 99,
    t: T + offset,
    fetched_at: (T + offset) * 1000,
    source: "simulated",
    _stream: {
      id: stream,
      topic,
      partition,
      offset,
      timestamp: (T + offset) * 1000 + 3,
    },
  };
}
