/**
 * A small pool of worker threads that validate and gzip the landing's
 * batches (./encode_worker.ts), so that this CPU work never blocks the event
 * loop, where the consumer fetches and the uploads run. Under Deno,
 * node:zlib and CompressionStream compress on the calling thread, whichever
 * way they are awaited.
 *
 * A batch crosses whole, in one message, its buffers transferred
 * (./packed_batch.ts); the bodies come back the same way. The workers start
 * with the pool and are reused until {@linkcode EncoderPool.close}. A worker
 * that fails (an uncaught error, a message that cannot be read) fails every
 * batch in progress and every later one with a {@linkcode FatalError}: the
 * landing stops and commits nothing it has not landed.
 *
 * @module
 */
import { FatalError } from "../runtime/retry.ts";
import type {
  EncodedBatch,
  EncodeReply,
  EncodeRequest,
} from "./encode_batch.ts";
import { type PackedBatch, transferablesOf } from "./packed_batch.ts";

/**
 * Worker threads of a pool by default: one less than the cores, which leaves
 * a core to the event loop, where the consumer decodes what it fetches.
 */
export const DEFAULT_ENCODERS = Math.max(
  1,
  navigator.hardwareConcurrency - 1,
);

/** Options for {@linkcode EncoderPool}. */
export interface EncoderPoolOptions {
  /**
   * Worker threads.
   *
   * @default {DEFAULT_ENCODERS}
   */
  size?: number;
  /**
   * The workers' module, which answers each {@linkcode EncodeRequest} with
   * an {@linkcode EncodeReply} (tests pass one that fails).
   *
   * @default {new URL("./encode_worker.ts", import.meta.url)}
   */
  module?: URL;
}

interface Slot {
  worker: Worker;
  /** Batches sent to this worker and not answered yet, by request id. */
  pending: Map<number, {
    partition: number;
    reply: PromiseWithResolvers<EncodedBatch>;
  }>;
}

/** Worker threads that encode packed batches (see the module's doc). */
export class EncoderPool {
  #slots: Slot[];
  #nextId = 0;
  #failure: FatalError | undefined;
  #closed = false;

  /**
   * Starts the workers.
   *
   * @param options Size and module.
   * @throws {RangeError} When `size` is not a positive integer.
   */
  constructor(options: EncoderPoolOptions = {}) {
    const {
      size = DEFAULT_ENCODERS,
      module = new URL("./encode_worker.ts", import.meta.url),
    } = options;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(
        `Cannot start the landing's encoders as 'size' must be a positive integer: current value is ${size}`,
      );
    }
    this.#slots = Array.from({ length: size }, () => this.#start(module));
  }

  /** Workers in the pool. */
  get size(): number {
    return this.#slots.length;
  }

  /**
   * Encodes a batch on the least busy worker. The batch's buffers are
   * transferred: the caller must not read them afterwards.
   *
   * @param batch The batch.
   * @returns The bodies to land and the rejections.
   * @throws {FatalError} When a worker failed (this batch's or an earlier one).
   * @throws {Error} When the pool is closed.
   */
  encode(batch: PackedBatch): Promise<EncodedBatch> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) {
      return Promise.reject(
        new Error(
          `Cannot encode a batch of partition ${batch.partition} as the landing's encoders are closed`,
        ),
      );
    }
    const slot = this.#slots.reduce((a, b) =>
      b.pending.size < a.pending.size ? b : a
    );
    const id = this.#nextId++;
    const reply = Promise.withResolvers<EncodedBatch>();
    slot.pending.set(id, { partition: batch.partition, reply });
    const request: EncodeRequest = { id, batch };
    slot.worker.postMessage(request, transferablesOf(batch));
    return reply.promise;
  }

  /** Stops the workers; batches in progress fail. Safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) {
      slot.worker.terminate();
      for (const [, { partition, reply }] of slot.pending) {
        reply.reject(
          new Error(
            `Cannot encode a batch of partition ${partition} as the landing's encoders closed`,
          ),
        );
      }
      slot.pending.clear();
    }
  }

  #start(module: URL): Slot {
    const worker = new Worker(module, { type: "module" });
    const slot: Slot = { worker, pending: new Map() };
    worker.onmessage = ({ data }: MessageEvent<EncodeReply>) => {
      const job = slot.pending.get(data.id);
      if (!job) return;
      slot.pending.delete(data.id);
      if (data.ok) job.reply.resolve(data.encoded);
      else {
        job.reply.reject(
          new FatalError(
            `Cannot encode a batch of partition ${job.partition} as the landing's worker failed: ${data.error}`,
          ),
        );
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      // Handled here: the error must not end the whole process.
      event.preventDefault();
      this.#fail(event.message || String(event.error));
    };
    worker.onmessageerror = () => {
      this.#fail("a reply could not be read");
    };
    return slot;
  }

  /** A worker failed: every batch in progress fails, and so will every later one. */
  #fail(reason: string): void {
    this.#failure ??= new FatalError(
      `Cannot encode batches for landing as a worker of the landing failed: ${reason}`,
    );
    for (const slot of this.#slots) {
      for (const [, { partition, reply }] of slot.pending) {
        reply.reject(
          new FatalError(
            `Cannot encode a batch of partition ${partition} as a worker of the landing failed: ${reason}`,
            { cause: this.#failure },
          ),
        );
      }
      slot.pending.clear();
    }
    this.close();
  }
}
