/**
 * `deno task bench:stream`: the embedded stream's own speed, on its own:
 * append throughput (a producer sending quote-sized events, 500 a send, each
 * send fsynced), read throughput (a consumer reading them all back from
 * offset 0) and what an idle poll allocates (a consumer at the end of every
 * partition, polling every millisecond). It measures; it does not pass or
 * fail on a target.
 *
 * ```sh
 * deno task bench:stream                       # 200,000 events
 * deno task bench:stream --events 50000        # a quick try
 * ```
 *
 * Options: `--events n` events to append and read (default 200,000);
 * `--segment-bytes n` the segment size (default the stream's, 64 MiB);
 * `--idle-ms n` how long the idle consumer is watched (default 2,000);
 * `--dir d` where the scratch stream goes (default a new temporary
 * directory, removed after).
 *
 * Rates are given per second of wall time and per second of this process's
 * CPU time, the latter less sensitive to other work on the machine. The idle
 * figure is the growth of the V8 heap plus external memory across
 * the idle window divided by the polls counted in it (each poll of a
 * partition reads its file once); the task runs with a young generation
 * large enough that no scavenge falls inside the window.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { EmbeddedStream } from "../lib/stream/embedded/stream.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "200000" },
    "idle-ms": { type: "string", default: "2000" },
    "segment-bytes": { type: "string" },
    dir: { type: "string" },
  },
});
const events = Number(args.values.events);
const idleMs = Number(args.values["idle-ms"]);
const segmentBytes = args.values["segment-bytes"] === undefined
  ? undefined
  : Number(args.values["segment-bytes"]);
const dir = args.values.dir ?? await Deno.makeTempDir({ prefix: "bench-" });
const SEND = 500;
const SYMBOLS = ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN"];

function quote(i: number): string {
  const symbol = SYMBOLS[i % SYMBOLS.length];
  return JSON.stringify({
    symbol,
    c: 100 + (i % 1000) / 100,
    d: 0.5,
    dp: 0.25,
    h: 111.5,
    l: 99.25,
    o: 100.5,
    pc: 100,
    t: 1_764_547_200 + i,
    fetched_at: 1_764_547_200_000 + i,
    source: "simulated",
  });
}

const stream = new EmbeddedStream({
  dir,
  topic: "bench",
  partitions: 3,
  pollIntervalMs: 1,
  segmentBytes,
});

// Append.
/** CPU seconds of this process so far (user and system). */
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
const producer = await stream.producer();
const appendStart = performance.now();
const appendCpu = cpu();
for (let sent = 0; sent < events; sent += SEND) {
  const batch = [];
  for (let i = sent; i < Math.min(events, sent + SEND); i++) {
    batch.push({ key: SYMBOLS[i % SYMBOLS.length], value: quote(i) });
  }
  await producer.send(batch);
}
const appendSeconds = (performance.now() - appendStart) / 1000;
const appendCpuSeconds = cpu() - appendCpu;
await producer.close();

// Read, then stay idle at the end.
const consumer = await stream.consumer("bench");
let read = 0;
let reachedEnd: () => void;
const atEnd = new Promise<void>((resolve) => (reachedEnd = resolve));
const readStart = performance.now();
const readCpu = cpu();
let readSeconds = 0;
let readCpuSeconds = 0;
const running = consumer.run({
  onBatch(batch) {
    read += batch.messages.length;
    if (read >= events) {
      readSeconds = (performance.now() - readStart) / 1000;
      readCpuSeconds = cpu() - readCpu;
      reachedEnd();
    }
    return Promise.resolve();
  },
  onRevoked: () => Promise.resolve(),
});
await atEnd;

// Idle: count file reads (one per partition per poll) across a window.
let reads = 0;
const proto = Deno.FsFile.prototype;
const originalRead = proto.read;
proto.read = function (this: Deno.FsFile, p: Uint8Array) {
  reads++;
  return originalRead.call(this, p);
};
const memory = () => {
  const { heapUsed, external } = Deno.memoryUsage();
  return heapUsed + external;
};
// Settle, then collect what the read phase left, before the window opens.
await new Promise((resolve) => setTimeout(resolve, 200));
(globalThis as { gc?: () => void }).gc?.();
const before = memory();
reads = 0;
await new Promise((resolve) => setTimeout(resolve, idleMs));
const polls = reads;
const grown = memory() - before;
proto.read = originalRead;
await consumer.stop();
await running;

let bytes = 0;
for await (const entry of walk(`${dir}/bench`)) bytes += entry;
let segments = 0;
for await (const entry of Deno.readDir(`${dir}/bench`)) {
  if (entry.name === "partition-0") {
    for await (const _ of Deno.readDir(`${dir}/bench/partition-0`)) segments++;
  }
  if (entry.name === "partition-0.log") segments = 1;
}
const result = {
  events,
  segmentsInPartition0: segments,
  eventBytes: Math.round(bytes / events),
  appendPerSecond: Math.round(events / appendSeconds),
  readPerSecond: Math.round(events / readSeconds),
  appendPerCpuSecond: Math.round(events / appendCpuSeconds),
  readPerCpuSecond: Math.round(events / readCpuSeconds),
  idlePolls: polls,
  bytesPerIdlePoll: polls > 0 ? Math.round(grown / polls) : null,
  gcExposed: typeof (globalThis as { gc?: unknown }).gc === "function",
};
console.log(JSON.stringify(result, null, 2));
if (args.values.dir === undefined) await Deno.remove(dir, { recursive: true });

async function* walk(path: string): AsyncGenerator<number> {
  for await (const entry of Deno.readDir(path)) {
    const child = `${path}/${entry.name}`;
    if (entry.isDirectory) yield* walk(child);
    else if (entry.name.endsWith(".log")) yield (await Deno.stat(child)).size;
  }
}
