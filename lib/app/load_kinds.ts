/**
 * Loading every kind of event (quotes, then trades) from the lake in one
 * step, as the real-time cycle and the demo do: each kind's topic prefix in
 * turn, with its own discovery marks, into its own RAW table. Each topic's
 * rows loaded and load time go to the metrics (lib/ops/metrics/).
 *
 * @module
 */
import { EVENT_KINDS, type EventKind } from "../contract/kinds.ts";
import type { Lake } from "../lake/lake.ts";
import {
  emptyLoadTotals,
  loadNewObjects,
  type LoadTotals,
} from "../load/loader.ts";
import { metrics } from "../ops/metrics/registry.ts";
import type { Config } from "../runtime/config.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import { laneOf } from "./wiring.ts";

/** Options for {@linkcode loadKinds}. */
export interface LoadKindsOptions {
  /** Settings: each kind's topic, `LOAD_MAX_FILES`, `LOAD_MAX_EVENTS`. */
  config: Config;
  /** The lake. */
  lake: Lake;
  /** The warehouse. */
  warehouse: Warehouse;
  /**
   * The kinds to load.
   *
   * @default {every kind}
   */
  kinds?: readonly EventKind[];
  /** Stops between transactions. */
  signal?: AbortSignal;
  /** Called after each transaction with the totals so far, over the kinds. */
  onProgress?: (totals: LoadTotals) => void;
}

/**
 * Loads the new objects of each kind in turn.
 *
 * @param options Settings, lake, warehouse and kinds.
 * @returns The totals over the kinds.
 */
export async function loadKinds(
  options: LoadKindsOptions,
): Promise<LoadTotals> {
  const { config, lake, warehouse, kinds = EVENT_KINDS, signal, onProgress } =
    options;
  const plus = (a: LoadTotals, b: LoadTotals): LoadTotals => {
    const total = { ...a };
    for (const name of Object.keys(total) as (keyof LoadTotals)[]) {
      total[name] += b[name];
    }
    return total;
  };
  let done = emptyLoadTotals();
  for (const kind of kinds) {
    if (signal?.aborted) break;
    const before = done;
    const topic = laneOf(config, kind).topic;
    const started = performance.now();
    // Counted after each transaction, so a long load shows as it goes.
    let counted = emptyLoadTotals();
    const count = (sofar: LoadTotals) => {
      metrics.countLoaded(
        topic,
        sofar.inserted - counted.inserted,
        sofar.rejected - counted.rejected,
      );
      counted = { ...sofar }; // the loader updates its totals in place
    };
    const totals = await loadNewObjects({
      lake,
      warehouse,
      topic,
      kind,
      filesPerLoad: config.loadMaxFiles,
      eventsPerLoad: config.loadMaxEvents,
      signal,
      onProgress: (so) => {
        count(so);
        onProgress?.(plus(before, so));
      },
    });
    count(totals);
    metrics.observeLoad(topic, performance.now() - started);
    done = plus(before, totals);
  }
  return done;
}
