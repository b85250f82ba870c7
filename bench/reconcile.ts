/**
 * `deno task bench:reconcile`: `deno task reconcile` at 10 million events,
 * against the same at a tenth of that, on the embedded defaults (file
 * stream, local lake, DuckDB; see `bench/README.md`).
 *
 * For each size, in a new state directory: `producer.ts` publishes that many
 * simulated quotes of 500 symbols as fast as it can, `consumer.ts --drain`
 * lands them, `loader.ts` loads them, and `scripts/reconcile.ts --json` is
 * timed with its peak resident memory sampled, as is the load. Both runs
 * must reconcile with every event landed and in RAW, none lost or
 * duplicated. The report sets the peaks side by side: ten times the events
 * should not mean more memory, for reconcile or for the loader.
 *
 * ```sh
 * deno task bench:reconcile                      # 1M and 10M events (~5 min on 2 cores)
 * deno task bench:reconcile --events 1000000     # 100k and 1M; results not written
 * ```
 *
 * Results go to `bench/results/reconcile.{md,json}` for a run of the default
 * size, or wherever `--out` says.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ProcessRun, runEntryPoint } from "./process.ts";
import { machine, machineSection, round, writeResults } from "./report.ts";
import { market } from "./watchlist.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SCRATCH = join(BENCH_DIR, "scratch", "reconcile");
const DEFAULT_EVENTS = 10_000_000;

interface Args {
  events: number;
  out: string | undefined;
}

function parse(): Args {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      events: { type: "string", default: String(DEFAULT_EVENTS) },
      out: { type: "string" },
    },
  });
  const events = Number(values.events.replace(/_/g, ""));
  if (!Number.isInteger(events) || events < 10) {
    throw new RangeError(
      `--events must be a whole number of at least 10: current value is ${values.events}`,
    );
  }
  return { events, out: values.out };
}

function progress(message: string): void {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

interface Totals {
  events: number;
  landed: number;
  raw: number;
  pending: number;
  lost: number;
  duplicated: number;
}

interface SizeRun {
  events: number;
  produceSeconds: number;
  landSeconds: number;
  load: ProcessRun;
  reconcile: ProcessRun;
  totals: Totals;
}

/** Publishes, lands and loads `events` quotes, then reconciles them. */
async function runSize(events: number): Promise<SizeRun> {
  const dir = join(SCRATCH, String(events));
  await Deno.mkdir(dir, { recursive: true });
  const env = {
    SYMBOLS: market(500).join(","),
    STREAM_DIR: join(dir, "stream"),
    LAKE_DIR: join(dir, "lake"),
    DUCKDB_PATH: join(dir, "warehouse.duckdb"),
    S3_BUCKET: "",
    KAFKA_BROKERS: "",
    WAREHOUSE: "duckdb",
  };
  const n = events.toLocaleString("en-US");
  progress(`${n} events: producer.ts`);
  const produce = await runEntryPoint("producer.ts", [
    "--count",
    String(events),
    "--rate",
    String(events),
  ], env);
  progress(`${n} events: consumer.ts --drain`);
  const land = await runEntryPoint("consumer.ts", ["--drain"], env);
  progress(`${n} events: loader.ts`);
  const load = await runEntryPoint("loader.ts", [], env);
  progress(`${n} events: reconcile`);
  const reconcile = await runEntryPoint(
    "scripts/reconcile.ts",
    ["--json"],
    env,
  );
  const totals = JSON.parse(reconcile.stdout).totals as Totals;
  if (
    totals.events !== events || totals.landed !== events ||
    totals.raw !== events || totals.lost !== 0 || totals.duplicated !== 0
  ) {
    throw new Error(
      `${n} events did not reconcile: ${JSON.stringify(totals)}`,
    );
  }
  await Deno.remove(dir, { recursive: true });
  return {
    events,
    produceSeconds: produce.seconds,
    landSeconds: land.seconds,
    load,
    reconcile,
    totals,
  };
}

async function main(): Promise<void> {
  const args = parse();
  const loadAtStart = Deno.loadavg();
  await Deno.remove(SCRATCH, { recursive: true }).catch(() => {});
  const runs = [];
  for (const events of [Math.round(args.events / 10), args.events]) {
    runs.push(await runSize(events));
  }
  const [small, large] = runs;
  const ratio = large.reconcile.peakRssMiB / small.reconcile.peakRssMiB;
  const host = await machine(loadAtStart);
  const json = {
    date: new Date().toISOString(),
    runs: runs.map((r) => ({
      events: r.events,
      produce_seconds: round(r.produceSeconds),
      land_seconds: round(r.landSeconds),
      load_seconds: round(r.load.seconds),
      load_events_per_second: Math.round(r.events / r.load.seconds),
      loader_peak_rss_mib: r.load.peakRssMiB,
      reconcile_seconds: round(r.reconcile.seconds),
      reconcile_events_per_second: Math.round(r.events / r.reconcile.seconds),
      reconcile_peak_rss_mib: r.reconcile.peakRssMiB,
      totals: r.totals,
    })),
    peak_rss_ratio: round(ratio),
    machine: host,
  };
  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  const markdown = [
    "# Reconcile benchmark",
    "",
    `Run ${json.date} by \`deno task bench:reconcile\` (see`,
    "`bench/README.md`), on the embedded defaults: simulated quotes of 500",
    "symbols published, landed with `consumer.ts --drain` and loaded, then",
    "`deno task reconcile --json` as its own process.",
    "",
    "| events | reconcile | rate | peak RSS | lost | duplicated |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...runs.map((r) =>
      `| ${n(r.events)} | ${round(r.reconcile.seconds, 1)} s | ${
        n(r.events / r.reconcile.seconds)
      } events/s | ${r.reconcile.peakRssMiB} MiB | ${r.totals.lost} | ${r.totals.duplicated} |`
    ),
    "",
    `Peak RSS at ${n(large.events)} events is ${round(ratio)}× that at ${
      n(small.events)
    }. The time grows with the events, as reconcile reads`,
    "every landed line once; its memory is a few objects being read, RAW's",
    "runs queried a million offsets at a time, and runs of offsets, which",
    "follow the gaps in the offsets, not their number.",
    "",
    "The load before it (`loader.ts`, the whole process, on the default",
    "`LOAD_MAX_EVENTS` and `DUCKDB_MEMORY_MIB`):",
    "",
    "| events | load | rate | loader peak RSS |",
    "| ---: | ---: | ---: | ---: |",
    ...runs.map((r) =>
      `| ${n(r.events)} | ${round(r.load.seconds, 1)} s | ${
        n(r.events / r.load.seconds)
      } events/s | ${r.load.peakRssMiB} MiB |`
    ),
    "",
    ...machineSection(host),
  ].join("\n");
  if (args.out !== undefined || args.events === DEFAULT_EVENTS) {
    const [md] = await writeResults(
      args.out ?? join(BENCH_DIR, "results"),
      "reconcile",
      markdown,
      json,
    );
    progress(`wrote ${md}`);
  }
  console.log(markdown);
  await Deno.remove(SCRATCH, { recursive: true }).catch(() => {});
}

await main();
