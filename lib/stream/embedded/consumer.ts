/**
 * The embedded stream's consumer: tails each partition's log, hands batches
 * to the handlers in offset order, and keeps the group's committed offsets
 * (with their byte positions) in `offsets/<group>.json`, written atomically.
 *
 * @module
 */
import { dirname } from "node:path";
import { sleep } from "../../runtime/retry.ts";
import type {
  ConsumerHandlers,
  MessageBatch,
  PartitionOffset,
  StreamConsumer,
  StreamMessage,
} from "../stream.ts";
import {
  concat,
  lastCompleteLine,
  NEWLINE,
  parseRecord,
  READ_CHUNK,
} from "./partition_log.ts";

/** Where a consumer reads and keeps its offsets. */
export interface ConsumerSetup {
  /** The topic. */
  topic: string;
  /** Each partition's log, by partition. */
  logPaths: string[];
  /** The group's committed offsets. */
  offsetsPath: string;
  /** Most messages in one batch. */
  maxBatch: number;
  /** Wait before looking again at a log read to its end, in milliseconds. */
  pollMs: number;
}

/** Read position in one partition log. */
interface Cursor {
  file: Deno.FsFile | null;
  /** Byte position of the next unread line. */
  position: number;
  /** Offset of the next unread line. */
  offset: number;
  /** Bytes read past `position` that do not yet end in a newline. */
  pending: Uint8Array;
  /** Byte position after each handed-over batch, by next offset, for commits. */
  boundaries: Map<number, number>;
}

type Committed = Record<string, { offset: number; position?: number }>;

/** A member of a consumer group of the embedded stream. */
export class EmbeddedConsumer implements StreamConsumer {
  #setup: ConsumerSetup;
  #stopping = new AbortController();
  #running: Promise<void> | null = null;
  #cursors: Cursor[] = [];
  #commits: Promise<void> = Promise.resolve();
  /** The read buffer, shared as partitions are read one after another. */
  #chunk = new Uint8Array(READ_CHUNK);

  constructor(setup: ConsumerSetup) {
    this.#setup = setup;
  }

  run(handlers: ConsumerHandlers): Promise<void> {
    if (this.#running) {
      return Promise.reject(new Error("Cannot run the consumer twice"));
    }
    this.#running = this.#loop(handlers);
    return this.#running;
  }

  async #loop(handlers: ConsumerHandlers): Promise<void> {
    const committed = await this.#readCommitted();
    this.#cursors = await Promise.all(
      this.#setup.logPaths.map((path, p) => openCursor(path, committed[p])),
    );
    const all = this.#cursors.map((_, p) => p);
    try {
      while (!this.#stopping.signal.aborted) {
        let delivered = 0;
        for (
          let p = 0;
          p < this.#cursors.length && !this.#stopping.signal.aborted;
          p++
        ) {
          const batch = await this.#readBatch(p);
          if (batch.messages.length === 0) continue;
          delivered += batch.messages.length;
          await handlers.onBatch(batch);
        }
        if (delivered === 0) {
          await sleep(this.#setup.pollMs, this.#stopping.signal).catch(
            () => {},
          );
        }
      }
    } finally {
      await handlers.onRevoked(all);
      await this.#commits;
      for (const cursor of this.#cursors) cursor.file?.close();
    }
  }

  async #readBatch(partition: number): Promise<MessageBatch> {
    const cursor = this.#cursors[partition];
    const path = this.#setup.logPaths[partition];
    const messages: StreamMessage[] = [];
    cursor.file ??= await openIfExists(path);
    if (cursor.file === null) {
      return { topic: this.#setup.topic, partition, messages };
    }

    const decoder = new TextDecoder();
    while (messages.length < this.#setup.maxBatch) {
      let newline = cursor.pending.indexOf(NEWLINE);
      if (newline === -1) {
        // One read buffer per consumer, as partitions are read one after
        // another and concat copies what was read: an idle poll allocates nothing.
        const chunk = this.#chunk;
        await cursor.file.seek(
          cursor.position + cursor.pending.length,
          Deno.SeekMode.Start,
        );
        const n = await cursor.file.read(chunk);
        if (n === null || n === 0) break;
        cursor.pending = concat([cursor.pending, chunk.subarray(0, n)]);
        newline = cursor.pending.indexOf(NEWLINE);
        if (newline === -1) continue;
      }
      const line = decoder.decode(cursor.pending.subarray(0, newline));
      const record = parseRecord(line, `${path} at byte ${cursor.position}`);
      if (record.o !== cursor.offset) {
        throw new Error(
          `Cannot read the embedded stream as ${path} jumps from offset ${cursor.offset} to ${record.o} at byte ${cursor.position}`,
        );
      }
      messages.push({
        topic: this.#setup.topic,
        partition,
        offset: record.o,
        key: record.k,
        value: record.v,
        timestamp: record.ts,
      });
      cursor.position += newline + 1;
      cursor.offset += 1;
      cursor.pending = cursor.pending.subarray(newline + 1);
    }
    if (messages.length > 0) {
      cursor.boundaries.set(cursor.offset, cursor.position);
    }
    return { topic: this.#setup.topic, partition, messages };
  }

  commit(offsets: PartitionOffset[]): Promise<void> {
    const run = this.#commits.then(async () => {
      const committed = await this.#readCommitted();
      for (const { partition, offset } of offsets) {
        const cursor = this.#cursors[partition];
        const position = cursor?.boundaries.get(offset);
        committed[partition] = position === undefined
          ? { offset }
          : { offset, position };
        for (const next of cursor?.boundaries.keys() ?? []) {
          if (next <= offset) cursor.boundaries.delete(next);
        }
      }
      await writeAtomically(
        this.#setup.offsetsPath,
        JSON.stringify(committed) + "\n",
      );
    });
    this.#commits = run.catch(() => {});
    return run;
  }

  /** Every partition starts at 0: the embedded stream keeps every message. */
  startOffsets(): Promise<PartitionOffset[]> {
    return Promise.resolve(
      this.#setup.logPaths.map((_, partition) => ({ partition, offset: 0 })),
    );
  }

  async endOffsets(): Promise<PartitionOffset[]> {
    return await Promise.all(
      this.#setup.logPaths.map(async (path, partition) => {
        const file = await openIfExists(path);
        if (file === null) return { partition, offset: 0 };
        try {
          const { line } = await lastCompleteLine(
            file,
            (await file.stat()).size,
          );
          return {
            partition,
            offset: line === null ? 0 : parseRecord(line, path).o + 1,
          };
        } finally {
          file.close();
        }
      }),
    );
  }

  async committedOffsets(): Promise<PartitionOffset[]> {
    const committed = await this.#readCommitted();
    return Object.entries(committed)
      .map(([partition, { offset }]) => ({
        partition: Number(partition),
        offset,
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running?.catch(() => {});
  }

  async #readCommitted(): Promise<Committed> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#setup.offsetsPath));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return {};
      throw error;
    }
  }
}

async function openIfExists(path: string): Promise<Deno.FsFile | null> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Opens a read cursor at a committed offset, seeking to its byte position when known. */
async function openCursor(
  path: string,
  committed: { offset: number; position?: number } | undefined,
): Promise<Cursor> {
  const cursor: Cursor = {
    file: await openIfExists(path),
    position: 0,
    offset: 0,
    pending: new Uint8Array(0),
    boundaries: new Map(),
  };
  if (!committed || committed.offset === 0) return cursor;
  if (cursor.file === null) {
    throw new Error(
      `Cannot resume the embedded stream as ${path} is missing but offset ${committed.offset} was committed`,
    );
  }
  if (committed.position !== undefined) {
    cursor.position = committed.position;
    cursor.offset = committed.offset;
    return cursor;
  }
  // No byte position was recorded: count lines up to the committed offset.
  const chunk = new Uint8Array(READ_CHUNK);
  await cursor.file.seek(0, Deno.SeekMode.Start);
  let position = 0;
  let offset = 0;
  while (offset < committed.offset) {
    const n = await cursor.file.read(chunk);
    if (n === null) break;
    for (let i = 0; i < n && offset < committed.offset; i++) {
      if (chunk[i] === NEWLINE) offset++;
      position++;
    }
  }
  if (offset < committed.offset) {
    throw new Error(
      `Cannot resume the embedded stream as ${path} ends before the committed offset ${committed.offset}`,
    );
  }
  cursor.position = position;
  cursor.offset = offset;
  return cursor;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, text);
  using file = await Deno.open(temp, { read: true, write: true });
  await file.sync();
  await Deno.rename(temp, path);
  // The rename is durable only once the directory holding it is synced.
  using directory = await Deno.open(dirname(path), { read: true });
  await directory.sync();
}
