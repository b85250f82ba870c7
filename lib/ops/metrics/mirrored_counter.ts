/**
 * A Prometheus counter that mirrors running totals kept elsewhere (a
 * stage's stats object), read at each scrape: the counting stays where it
 * already is, and no event pays for the metric.
 *
 * @module
 */
import { Counter, type CounterConfiguration, type Registry } from "prom-client";

/** The label values of one series and the running total behind it. */
export type Reading<L extends string> = [
  labels: Partial<Record<L, string>>,
  total: number,
];

/** One set of running totals a mirrored counter reads, and what it read last. */
interface Reader<L extends string> {
  read: () => Reading<L>[];
  seen: Map<string, number>;
}

/**
 * A counter that mirrors running totals: at each scrape it adds what each
 * total grew by since the last one. A series appears, at 0, as soon as its
 * total is first read; totals no longer watched keep what they added, so
 * the counter never goes down, and two sets of totals with the same labels
 * add up.
 */
export class MirroredCounter<L extends string> {
  readonly #counter: Counter<L>;
  readonly #readers = new Set<Reader<L>>();

  /**
   * Defines the counter on a registry.
   *
   * @param configuration Its name, help and label names.
   * @param registry Where it is registered.
   */
  constructor(configuration: CounterConfiguration<L>, registry: Registry) {
    this.#counter = new Counter<L>({
      ...configuration,
      registers: [registry],
      collect: () => {
        for (const reader of this.#readers) this.#sync(reader);
      },
    });
  }

  /**
   * Reads a set of running totals now and at each scrape.
   *
   * @param read Returns each series' labels and total so far; a total must never go down.
   * @returns Stops reading them, after one last read.
   */
  watch(read: () => Reading<L>[]): () => void {
    const reader: Reader<L> = { read, seen: new Map() };
    this.#readers.add(reader);
    this.#sync(reader);
    return () => {
      if (this.#readers.delete(reader)) this.#sync(reader);
    };
  }

  #sync(reader: Reader<L>): void {
    for (const [labels, total] of reader.read()) {
      const key = JSON.stringify(labels);
      const seen = reader.seen.get(key);
      if (seen !== undefined && total <= seen) continue;
      this.#counter.inc(labels, total - (seen ?? 0));
      reader.seen.set(key, total);
    }
  }
}
