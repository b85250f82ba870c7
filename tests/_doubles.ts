/**
 * Test doubles the landing and loading tests share: a lake that hands every
 * call to a real lake (subclasses step in where a test needs to see or
 * shape a call), and a consumer that journals its commits.
 *
 * @module
 */
import type { Lake, LakeObject, ListOptions } from "../lib/lake/lake.ts";
import type { PartitionOffset, StreamConsumer } from "../lib/stream/stream.ts";

/** A lake that passes every call to `inner`. */
export class WrappedLake implements Lake {
  constructor(readonly inner: Lake) {}
  get location(): string {
    return this.inner.location;
  }
  put(key: string, body: Uint8Array): Promise<void> {
    return this.inner.put(key, body);
  }
  get(key: string): Promise<Uint8Array> {
    return this.inner.get(key);
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<LakeObject> {
    return this.inner.list(prefix, options);
  }
  folders(prefix: string, options?: ListOptions): AsyncIterable<string> {
    return this.inner.folders(prefix, options);
  }
}

/** Records commits in `journal`; the sink only needs commit(). */
export function journalConsumer(journal: string[]): StreamConsumer {
  return {
    commit(offsets: PartitionOffset[]) {
      for (const { partition, offset } of offsets) {
        journal.push(`commit ${partition}@${offset}`);
      }
      return Promise.resolve();
    },
    run: () => Promise.resolve(),
    startOffsets: () => Promise.resolve([]),
    endOffsets: () => Promise.resolve([]),
    committedOffsets: () => Promise.resolve([]),
    stop: () => Promise.resolve(),
  };
}
