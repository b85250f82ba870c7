/**
 * The embedded stream: Kafka's partition and offset semantics in files, with
 * no broker.
 *
 * A topic is a directory under `STREAM_DIR` holding one append-only log per
 * partition (`partition-<n>.log`, one JSON record a line) and the committed
 * offsets of each consumer group (`offsets/<group>.json`). Keys map to
 * partitions with Kafka's own default partitioner; a send resolves once its
 * records are fsynced, like acks=all; offsets continue across runs, so a later
 * run never reuses an earlier run's offsets (and so never overwrites its lake
 * objects). One producer at a time holds the topic's lock; consumers may run
 * in the same process or in another one, tailing the logs.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { partitionFor } from "../partitioner.ts";
import { sleep } from "../retry.ts";
import type {
  ConsumerHandlers,
  MessageBatch,
  OutgoingMessage,
  PartitionOffset,
  Stream,
  StreamConsumer,
  StreamMessage,
  StreamProducer,
} from "../stream.ts";

/** Options for {@linkcode EmbeddedStream}. */
export interface EmbeddedStreamOptions {
  /** Directory holding the topics. */
  dir: string;
  /** Topic name. */
  topic: string;
  /**
   * Partitions of the topic when it is created; an existing topic keeps its own.
   *
   * @default {3}
   */
  partitions?: number;
  /**
   * Most messages a consumer hands over in one batch.
   *
   * @default {1000}
   */
  maxBatchMessages?: number;
  /**
   * How long a consumer waits before looking again at a log it has read to the end, in milliseconds.
   *
   * @default {50}
   */
  pollIntervalMs?: number;
}

/** One line of a partition log. */
interface LogRecord {
  /** Offset. */
  o: number;
  /** Timestamp, epoch milliseconds. */
  ts: number;
  /** Key. */
  k: string | null;
  /** Value. */
  v: string;
}

const SAFE_NAME = /^[A-Za-z0-9._-]{1,200}$/;
const TAIL_CHUNK = 64 * 1024;
const READ_CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;

/** A topic of the embedded stream. */
export class EmbeddedStream implements Stream {
  /** Topic name. */
  readonly topic: string;
  /** `file://`-style location of the topic directory. */
  readonly location: string;
  readonly #dir: string;
  readonly #partitions: number;
  readonly #maxBatch: number;
  readonly #pollMs: number;

  /**
   * Opens a topic; nothing is written until {@linkcode EmbeddedStream.ensureTopic}.
   *
   * @param options Directory, topic and tuning.
   * @throws {RangeError} When the topic name or partition count is invalid.
   */
  constructor(options: EmbeddedStreamOptions) {
    const {
      dir,
      topic,
      partitions = 3,
      maxBatchMessages = 1000,
      pollIntervalMs = 50,
    } = options;
    checkName("topic", topic);
    if (!Number.isSafeInteger(partitions) || partitions < 1) {
      throw new RangeError(
        `Cannot open the embedded stream as 'partitions' must be a positive integer: current value is ${partitions}`,
      );
    }
    this.topic = topic;
    this.#dir = join(resolve(dir), topic);
    this.location = `embedded://${this.#dir}`;
    this.#partitions = partitions;
    this.#maxBatch = maxBatchMessages;
    this.#pollMs = pollIntervalMs;
  }

  /** Creates the topic's directory and metadata unless they exist. */
  async ensureTopic(): Promise<void> {
    await Deno.mkdir(join(this.#dir, "offsets"), { recursive: true });
    try {
      await Deno.writeTextFile(
        join(this.#dir, "topic.json"),
        JSON.stringify({
          partitions: this.#partitions,
          id: crypto.randomUUID(),
        }) + "\n",
        { createNew: true },
      );
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }

  /**
   * Opens the producer, holding the topic's lock until it closes.
   *
   * @throws {Error} When another producer holds the topic.
   */
  async producer(): Promise<StreamProducer> {
    await this.ensureTopic();
    const lock = await Deno.open(join(this.#dir, "producer.lock"), {
      write: true,
      create: true,
    });
    if (!await lock.tryLock(true)) {
      lock.close();
      throw new Error(
        `Cannot open a producer on the embedded stream as another process is producing to ${this.#dir}`,
      );
    }
    const partitions = await this.#readPartitions();
    const logs: PartitionLog[] = [];
    for (let p = 0; p < partitions; p++) {
      logs.push(await PartitionLog.openForAppend(this.#logPath(p)));
    }
    return new EmbeddedProducer(logs, lock);
  }

  /** Opens a consumer in `groupId`, starting at the group's committed offsets. */
  async consumer(groupId: string): Promise<StreamConsumer> {
    checkName("groupId", groupId);
    await this.ensureTopic();
    const partitions = await this.#readPartitions();
    const offsetsPath = join(this.#dir, "offsets", `${groupId}.json`);
    return new EmbeddedConsumer({
      topic: this.topic,
      logPaths: Array.from({ length: partitions }, (_, p) => this.#logPath(p)),
      offsetsPath,
      maxBatch: this.#maxBatch,
      pollMs: this.#pollMs,
    });
  }

  /** `embedded:<uuid>`: the id the topic got when it was created. */
  async identity(): Promise<string> {
    await this.ensureTopic();
    return `embedded:${(await this.#readMeta()).id}`;
  }

  async #readPartitions(): Promise<number> {
    return (await this.#readMeta()).partitions;
  }

  async #readMeta(): Promise<{ partitions: number; id: string }> {
    const path = join(this.#dir, "topic.json");
    const meta = JSON.parse(await Deno.readTextFile(path));
    if (typeof meta.id !== "string") {
      throw new Error(
        `Cannot use the embedded stream as ${path} has no id: it predates stream identities; delete ${this.#dir}`,
      );
    }
    return meta;
  }

  #logPath(partition: number): string {
    return join(this.#dir, `partition-${partition}.log`);
  }
}

function checkName(name: string, value: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new RangeError(
      `Cannot use the embedded stream as '${name}' must match ${SAFE_NAME.source}: current value is ${
        JSON.stringify(value)
      }`,
    );
  }
}

/** An append handle on one partition log. */
class PartitionLog {
  #file: Deno.FsFile;
  /** The offset the next record gets. */
  nextOffset: number;

  private constructor(file: Deno.FsFile, nextOffset: number) {
    this.#file = file;
    this.nextOffset = nextOffset;
  }

  /** Opens a log for appending, dropping a torn last line left by a crash. */
  static async openForAppend(path: string): Promise<PartitionLog> {
    const file = await Deno.open(path, {
      read: true,
      write: true,
      create: true,
    });
    const { size } = await file.stat();
    const tail = await lastCompleteLine(file, size);
    if (tail.end < size) await file.truncate(tail.end);
    await file.seek(0, Deno.SeekMode.End);
    return new PartitionLog(
      file,
      tail.line === null ? 0 : parseRecord(tail.line, path).o + 1,
    );
  }

  /** Appends encoded lines (not yet durable). */
  async append(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.#file.write(bytes.subarray(written));
    }
  }

  /** Makes what was appended durable. */
  async sync(): Promise<void> {
    await this.#file.syncData();
  }

  close(): void {
    this.#file.close();
  }
}

/**
 * Finds the last newline-terminated line of a file by reading backwards from
 * `size`; `end` is the byte just after it (where a torn tail begins).
 */
async function lastCompleteLine(
  file: Deno.FsFile,
  size: number,
): Promise<{ line: string | null; end: number }> {
  let start = size;
  let buffer: Uint8Array = new Uint8Array(0); // holds the file's bytes [start, size)
  let end = -1;
  while (start > 0) {
    const from = Math.max(0, start - TAIL_CHUNK);
    buffer = concat([await readAt(file, from, start - from), buffer]);
    start = from;
    if (end === -1) {
      const last = buffer.lastIndexOf(NEWLINE);
      if (last === -1) continue;
      end = start + last + 1;
    }
    const newline = end - 1 - start;
    const previous = newline > 0
      ? buffer.lastIndexOf(NEWLINE, newline - 1)
      : -1;
    if (previous !== -1 || start === 0) {
      return {
        line: new TextDecoder().decode(buffer.subarray(previous + 1, newline)),
        end,
      };
    }
  }
  return { line: null, end: Math.max(end, 0) };
}

async function readAt(
  file: Deno.FsFile,
  position: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let read = 0;
  while (read < length) {
    const n = await file.read(out.subarray(read));
    if (n === null) break;
    read += n;
  }
  return out.subarray(0, read);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function parseRecord(line: string, where: string): LogRecord {
  try {
    const record = JSON.parse(line) as LogRecord;
    if (Number.isSafeInteger(record.o) && typeof record.v === "string") {
      return record;
    }
  } catch {
    // fall through to the error below
  }
  throw new Error(
    `Cannot read the embedded stream as ${where} holds a corrupt record: ${
      line.slice(0, 120)
    }`,
  );
}

class EmbeddedProducer implements StreamProducer {
  #logs: PartitionLog[];
  #lock: Deno.FsFile;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(logs: PartitionLog[], lock: Deno.FsFile) {
    this.#logs = logs;
    this.#lock = lock;
  }

  send(messages: OutgoingMessage[]): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Error("Cannot send as the producer is closed"));
    }
    const run = this.#queue.then(() => this.#write(messages));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #write(messages: OutgoingMessage[]): Promise<void> {
    const encoder = new TextEncoder();
    const lines = new Map<number, string[]>();
    const timestamp = Date.now();
    for (const message of messages) {
      const partition = partitionFor(message.key, this.#logs.length);
      const log = this.#logs[partition];
      const record: LogRecord = {
        o: log.nextOffset++,
        ts: timestamp,
        k: message.key,
        v: message.value,
      };
      let batch = lines.get(partition);
      if (!batch) lines.set(partition, batch = []);
      batch.push(JSON.stringify(record));
    }
    await Promise.all(
      [...lines].map(async ([partition, batch]) => {
        const log = this.#logs[partition];
        await log.append(encoder.encode(batch.join("\n") + "\n"));
        await log.sync();
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    for (const log of this.#logs) log.close();
    this.#lock.close();
  }
}

interface ConsumerSetup {
  topic: string;
  logPaths: string[];
  offsetsPath: string;
  maxBatch: number;
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

class EmbeddedConsumer implements StreamConsumer {
  #setup: ConsumerSetup;
  #stopping = new AbortController();
  #running: Promise<void> | null = null;
  #cursors: Cursor[] = [];
  #commits: Promise<void> = Promise.resolve();

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
        const chunk = new Uint8Array(READ_CHUNK);
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
}
