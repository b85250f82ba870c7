/**
 * The real-time cycle of `deno task follow` and `deno task demo --continuous`:
 * load what has landed in the lake since the last cycle, then, when rows
 * arrived and the last dbt run is far enough behind, run dbt; again and
 * again, until told to stop.
 *
 * A cycle is two steps, each whole: the load (one or more transactions of
 * the loader, lib/load/loader.ts) and the transform (one dbt command). A
 * stop request ({@linkcode CycleOptions.signal}) is looked at between steps
 * and between the load's transactions: the step in progress finishes, and no
 * other starts, so a stop never leaves half a transaction or half a dbt run
 * behind. A drain request ({@linkcode CycleOptions.drain}) ends the cycles
 * after one last whole cycle, which takes what has landed up to then.
 *
 * This file knows no warehouse: how the warehouse is held between steps
 * (./cycle_warehouse.ts) and what runs dbt come from the caller, and
 * observers add what a caller measures or publishes (the demo's freshness in
 * ./continuous.ts, the gold copy in ./gold_copy.ts).
 *
 * @module
 */
import type { LoadTotals } from "../load/loader.ts";

/** How the cycle holds the warehouse: opened for each load step. */
export interface WarehouseAccess<W> {
  /**
   * Runs `work` with the warehouse open. A DuckDB file is closed after it,
   * so that dbt, another process, can open it; a Snowflake session stays.
   */
  use<T>(work: (warehouse: W) => Promise<T>): Promise<T>;
  /** Releases what is held between steps, once the cycles have ended. */
  close(): Promise<void>;
}

/** What a caller adds to the cycle; every method is optional. */
export interface CycleObserver<W> {
  /** With the warehouse open, at the start of each load step. */
  beforeLoad?(warehouse: W): Promise<void>;
  /**
   * With the warehouse still open, after a load step that inserted rows.
   *
   * @param committedAt When its last transaction committed, epoch ms.
   */
  afterLoad?(
    warehouse: W,
    totals: LoadTotals,
    committedAt: number,
  ): Promise<void>;
  /** After a dbt run that succeeded; `finishedAt` is epoch ms. */
  afterTransform?(finishedAt: number): void;
  /** Once, with the warehouse open, after the last cycle. */
  atEnd?(warehouse: W): Promise<void>;
}

/** The step a cycle is in, as a status report names it. */
export type CycleStep = "starting" | "load" | "transform" | "idle";

/** Counters of the cycles, updated as they go. */
export interface CycleCounters {
  /** Cycles completed. */
  cycles: number;
  /** Lake objects loaded (recorded in the ledger). */
  objects: number;
  /** Rows inserted into RAW. */
  rows: number;
  /** Rows skipped as already loaded. */
  duplicates: number;
  /** Lines the loader refused. */
  rejected: number;
  /** dbt runs that succeeded. */
  dbtRuns: number;
  /** Milliseconds of all dbt runs. */
  dbtMs: number;
  /** Milliseconds of the last dbt run. */
  lastDbtMs: number;
  /**
   * Epoch ms before which every landed object is in RAW: the start of the
   * last load step that listed the lake to its end.
   */
  rawAsOf?: number;
  /**
   * Epoch ms before which every landed object is in gold: `rawAsOf` when the
   * last dbt run started, or after it, of a load that found nothing new.
   */
  goldAsOf?: number;
  /** The step under way. */
  step: CycleStep;
}

/** Loads what is new in the lake into an open warehouse. */
export type LoadStep<W> = (
  warehouse: W,
  signal: AbortSignal | undefined,
  onProgress: (totals: LoadTotals) => void,
) => Promise<LoadTotals>;

/** Options for {@linkcode runCycles}. */
export interface CycleOptions<W> {
  /** How the warehouse is opened for each load step. */
  warehouse: WarehouseAccess<W>;
  /** The load step: usually the loader's `loadNewObjects` on the lake. */
  load: LoadStep<W>;
  /** Runs dbt once; throws when the run fails. */
  transform: () => Promise<void>;
  /**
   * Stops the cycles: the step in progress (a load transaction, a dbt run)
   * finishes, no other starts.
   */
  signal?: AbortSignal;
  /** Ends the cycles after one last whole cycle, which takes what has landed. */
  drain?: AbortSignal;
  /**
   * Shortest cycle, in milliseconds: a quiet lake is not listed faster.
   *
   * @default {250}
   */
  minCycleMs?: number;
  /**
   * Least time between the end of a dbt run and the start of the next, in
   * milliseconds. dbt holds a DuckDB file while it runs, so loads wait for
   * it: spacing the runs out keeps loads frequent (freshness to RAW) at some
   * cost to freshness to gold.
   *
   * @default {1500}
   */
  transformEveryMs?: number;
  /**
   * Run dbt in the first cycle even when it loads nothing, so that rows a
   * previous run loaded but did not transform (it was stopped or killed
   * between the two) reach gold without waiting for new data.
   *
   * @default {false}
   */
  transformAtStart?: boolean;
  /** Observers, called in this order. */
  observers?: CycleObserver<W>[];
  /** Called when a step starts or ends and after each load transaction. */
  onProgress?: (counters: CycleCounters) => void;
  /** Clock, epoch milliseconds. @default {Date.now} */
  now?: () => number;
}

/** Creates zeroed {@linkcode CycleCounters}. */
export function emptyCounters(): CycleCounters {
  return {
    cycles: 0,
    objects: 0,
    rows: 0,
    duplicates: 0,
    rejected: 0,
    dbtRuns: 0,
    dbtMs: 0,
    lastDbtMs: 0,
    step: "starting",
  };
}

/**
 * Loads and transforms on a short cycle until `signal` or `drain` says
 * otherwise (see the module's text), then calls the observers' `atEnd` and
 * releases the warehouse.
 *
 * @param options The warehouse, the steps, the stop requests and the pace.
 * @param counters Updated as the cycles go (for progress lines and status).
 * @returns The counters.
 * @throws {Error} The first error of a load, a dbt run or an observer; the
 * cycles end there, and the warehouse is released.
 */
export async function runCycles<W>(
  options: CycleOptions<W>,
  counters: CycleCounters = emptyCounters(),
): Promise<CycleCounters> {
  const {
    warehouse,
    load,
    transform,
    signal,
    drain,
    minCycleMs = 250,
    transformEveryMs = 1500,
    transformAtStart = false,
    observers = [],
    onProgress,
    now = Date.now,
  } = options;
  const stopped = () => signal?.aborted === true;
  const enter = (step: CycleStep) => {
    counters.step = step;
    onProgress?.(counters);
  };
  const wake = AbortSignal.any([signal, drain].filter((s) => s !== undefined));
  let pending = transformAtStart;
  let dbtFinishedAt = -Infinity;
  try {
    for (let last = false; !last && !stopped();) {
      last = drain?.aborted === true;
      const started = now();
      enter("load");
      await warehouse.use(async (open) => {
        for (const observer of observers) await observer.beforeLoad?.(open);
        if (stopped()) return;
        // The loader reports totals so far after each transaction.
        let counted: LoadTotals | undefined;
        const count = (sofar: LoadTotals) => {
          for (const [to, from] of COUNTED) {
            counters[to] += sofar[from] - (counted?.[from] ?? 0);
          }
          counted = { ...sofar };
        };
        const totals = await load(open, signal, (sofar) => {
          count(sofar);
          onProgress?.(counters);
        });
        const committedAt = now();
        count(totals);
        // A load cut short by a stop may have left objects it listed.
        if (!stopped()) counters.rawAsOf = started;
        if (totals.inserted === 0) {
          // Nothing new since the last dbt run: gold is as complete as RAW.
          if (!pending) counters.goldAsOf = counters.rawAsOf;
          return;
        }
        pending = true;
        for (const observer of observers) {
          await observer.afterLoad?.(open, totals, committedAt);
        }
      });
      if (stopped()) break;
      if (pending && (last || now() - dbtFinishedAt >= transformEveryMs)) {
        enter("transform");
        const asOf = counters.rawAsOf;
        const runStarted = performance.now();
        await transform();
        dbtFinishedAt = now();
        counters.lastDbtMs = Math.round(performance.now() - runStarted);
        counters.dbtMs += counters.lastDbtMs;
        counters.dbtRuns++;
        counters.goldAsOf = asOf;
        pending = false;
        for (const observer of observers) {
          observer.afterTransform?.(dbtFinishedAt);
        }
      }
      counters.cycles++;
      enter("idle");
      if (!last) await pause(minCycleMs - (now() - started), wake);
    }
    if (observers.some((observer) => observer.atEnd)) {
      await warehouse.use(async (open) => {
        for (const observer of observers) await observer.atEnd?.(open);
      });
    }
  } finally {
    await warehouse.close();
  }
  return counters;
}

/** Counters fed by the loader's totals: counter, then the total it adds up. */
const COUNTED = [
  ["objects", "files"],
  ["rows", "inserted"],
  ["duplicates", "duplicates"],
  ["rejected", "rejected"],
] as const;

/** Waits `ms`, or less when `wake` aborts. */
function pause(ms: number, wake: AbortSignal): Promise<void> {
  if (ms <= 0 || wake.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      wake.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    wake.addEventListener("abort", done, { once: true });
  });
}
