/**
 * Helpers of the embedded stream's tests: reading a topic to its end as a
 * group, and the exact bytes of a record.
 */
import type {
  MessageBatch,
  Stream,
  StreamMessage,
} from "../lib/stream/stream.ts";
import { until } from "./_wait.ts";

/**
 * Reads everything from the group's committed offsets (the log start when it
 * has none) to the end of each partition now, committing nothing.
 */
export async function readAll(
  s: Stream,
  group: string,
): Promise<StreamMessage[]> {
  const consumer = await s.consumer(group);
  const ends = new Map(
    (await consumer.endOffsets()).map((e) => [e.partition, e.offset]),
  );
  const next = new Map<number, number>();
  const seen: StreamMessage[] = [];
  const running = consumer.run({
    onBatch(batch: MessageBatch) {
      seen.push(...batch.messages);
      next.set(batch.partition, batch.messages.at(-1)!.offset + 1);
      return Promise.resolve();
    },
    onRevoked: () => Promise.resolve(),
  });
  const starts = new Map(
    (await consumer.startOffsets()).map((s) => [s.partition, s.offset]),
  );
  const committed = new Map(
    (await consumer.committedOffsets()).map((c) => [c.partition, c.offset]),
  );
  const done = () =>
    [...ends].every(([partition, end]) =>
      (next.get(partition) ??
        Math.max(committed.get(partition) ?? 0, starts.get(partition) ?? 0)) >=
        end
    );
  await Promise.race([
    until(done, { what: "every partition read to its end" }),
    running.then(() => {
      throw new Error("The consumer stopped before reaching the end");
    }),
  ]);
  await consumer.stop();
  await running;
  return seen;
}

/**
 * One record line, `{"o":…,"ts":…,"k":…,"v":…}` and its newline, as the
 * producer writes it.
 */
export function recordLine(
  offset: number,
  timestamp: number,
  key: string,
  value: string,
): string {
  return JSON.stringify({ o: offset, ts: timestamp, k: key, v: value }) + "\n";
}
