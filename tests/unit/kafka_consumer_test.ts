/**
 * The Kafka consumer's state machine (lib/stream/kafka/consumer.ts) against
 * a fake kafkajs consumer that the test drives: joins, rebalances, crashes
 * and batches arrive when the test says, so each transition is checked in
 * isolation and in order. The real broker path is tests/integration/.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Admin, Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import { setLogSink } from "../../lib/runtime/log.ts";
import { FatalError, RetriableError } from "../../lib/runtime/retry.ts";
import { KafkaConsumer } from "../../lib/stream/kafka/consumer.ts";
import type {
  ConsumerHandlers,
  MessageBatch,
} from "../../lib/stream/stream.ts";
import { until } from "../_wait.ts";

const TOPIC = "stock-quotes";
const GROUP = "lake";

type Listener = (event: { payload: Record<string, unknown> }) => void;

/** A kafkajs consumer whose group events and batches the test emits. */
class FakeKafkaConsumer {
  readonly events = {
    GROUP_JOIN: "consumer.group_join",
    REBALANCING: "consumer.rebalancing",
    CRASH: "consumer.crash",
  };
  /** What the consumer under test called, in order. */
  readonly calls: string[] = [];
  readonly committed: { partition: number; offset: string }[] = [];
  #listeners = new Map<string, Set<Listener>>();
  #eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  #running = false;

  on(event: string, listener: Listener): () => void {
    const set = this.#listeners.get(event) ??
      this.#listeners.set(event, new Set()).get(event)!;
    set.add(listener);
    return () => set.delete(listener);
  }

  subscribe(): Promise<void> {
    this.calls.push("subscribe");
    return Promise.resolve();
  }

  run(
    options: { eachBatch: (payload: EachBatchPayload) => Promise<void> },
  ): Promise<void> {
    this.calls.push("run");
    this.#eachBatch = options.eachBatch;
    this.#running = true;
    return Promise.resolve();
  }

  pause(): void {
    this.calls.push("pause");
  }

  commitOffsets(
    offsets: { topic: string; partition: number; offset: string }[],
  ): Promise<void> {
    for (const { partition, offset } of offsets) {
      this.committed.push({ partition, offset });
    }
    return Promise.resolve();
  }

  disconnect(): Promise<void> {
    this.#running = false;
    this.calls.push("disconnect consumer");
    return Promise.resolve();
  }

  /** The group assigned these partitions of the topic to this member. */
  join(partitions: number[]): void {
    this.#emit(this.events.GROUP_JOIN, {
      memberAssignment: { [TOPIC]: partitions },
    });
  }

  /** The group started a rebalance. */
  rebalance(): void {
    this.#emit(this.events.REBALANCING, {});
  }

  /** kafkajs crashed, and restarts (`restart`) or gives up. */
  crash(error: Error, restart: boolean): void {
    this.#emit(this.events.CRASH, { error, restart });
  }

  /**
   * Hands a batch of `offsets` in `partition` to the consumer, as kafkajs's
   * eachBatch does.
   *
   * @returns The offsets the consumer resolved.
   */
  async deliver(partition: number, offsets: number[]): Promise<string[]> {
    const resolved: string[] = [];
    await this.#eachBatch!({
      batch: { topic: TOPIC, partition, messages: offsets.map(message) },
      resolveOffset: (offset: string) => resolved.push(offset),
      heartbeat: () => Promise.resolve(),
      isRunning: () => this.#running,
      isStale: () => false,
    } as unknown as EachBatchPayload);
    return resolved;
  }

  #emit(event: string, payload: Record<string, unknown>): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      listener({ payload });
    }
  }
}

/** An admin client that only records its disconnect. */
function fakeAdmin(calls: string[]): Admin {
  return {
    disconnect: () => {
      calls.push("disconnect admin");
      return Promise.resolve();
    },
  } as unknown as Admin;
}

function message(offset: number): KafkaMessage {
  return {
    key: Buffer.from("AAPL"),
    value: Buffer.from(`{"offset":${offset}}`),
    timestamp: "1700000000000",
    attributes: 0,
    offset: String(offset),
    headers: {},
  };
}

/** Handlers that log what they are handed; `onBatch` may be held open. */
class RecordingHandlers implements ConsumerHandlers {
  readonly log: string[] = [];
  /** When set, the next onBatch waits for this before it returns. */
  hold: PromiseWithResolvers<void> | undefined;
  failBatch: Error | undefined;
  failRevoke: Error | undefined;

  async onBatch(batch: MessageBatch): Promise<void> {
    const offsets = batch.messages.map((m) => m.offset);
    this.log.push(`batch p${batch.partition} ${offsets.join(",")}`);
    if (this.failBatch) throw this.failBatch;
    const hold = this.hold;
    this.hold = undefined;
    if (hold) {
      await hold.promise;
      this.log.push(`batch p${batch.partition} done`);
    }
  }

  onRevoked(partitions: number[]): Promise<void> {
    this.log.push(`revoke ${partitions.join(",")}`);
    return this.failRevoke
      ? Promise.reject(this.failRevoke)
      : Promise.resolve();
  }
}

/** Lets every promise chain that waits on nothing outside run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The consumer under test, over a fake kafkajs consumer and admin client. */
function consumerOver(fake: FakeKafkaConsumer): KafkaConsumer {
  return new KafkaConsumer(
    fake as unknown as Consumer,
    fakeAdmin(fake.calls),
    TOPIC,
    GROUP,
  );
}

/** A consumer under test, running, with its fake and handlers. */
async function started(): Promise<{
  fake: FakeKafkaConsumer;
  consumer: KafkaConsumer;
  handlers: RecordingHandlers;
  running: Promise<void>;
  calls: string[];
}> {
  const fake = new FakeKafkaConsumer();
  const consumer = consumerOver(fake);
  const handlers = new RecordingHandlers();
  const running = consumer.run(handlers);
  running.catch(() => {});
  await until(() => fake.calls.includes("run"));
  return { fake, consumer, handlers, running, calls: fake.calls };
}

function quietly(fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    const restore = setLogSink({ write() {} });
    try {
      await fn();
    } finally {
      restore();
    }
  };
}

Deno.test(
  "KafkaConsumer hands over batches of assigned partitions and resolves each batch's last offset after its handler",
  quietly(async () => {
    const { fake, consumer, handlers, running } = await started();
    fake.join([0, 1]);
    assert.deepEqual(await fake.deliver(0, [0, 1, 2]), ["2"]);
    assert.deepEqual(await fake.deliver(1, [5]), ["5"]);
    assert.deepEqual(handlers.log, ["batch p0 0,1,2", "batch p1 5"]);
    await consumer.stop();
    await running;
  }),
);

Deno.test(
  "KafkaConsumer drops a batch of a partition it does not hold, unresolved",
  quietly(async () => {
    const { fake, consumer, handlers, running } = await started();
    assert.deepEqual(await fake.deliver(0, [0]), [], "before any join");
    fake.join([1]);
    assert.deepEqual(await fake.deliver(0, [0]), [], "not assigned");
    assert.deepEqual(handlers.log, []);
    await consumer.stop();
    await running;
  }),
);

Deno.test(
  "KafkaConsumer revokes every held partition on a rebalance before the next assignment's first batch",
  quietly(async () => {
    const { fake, consumer, handlers, running } = await started();
    fake.join([0, 1]);
    await fake.deliver(0, [0]);
    fake.rebalance();
    fake.join([1]);
    assert.deepEqual(await fake.deliver(0, [1]), [], "p0 moved away");
    assert.deepEqual(await fake.deliver(1, [7]), ["7"]);
    assert.deepEqual(handlers.log, ["batch p0 0", "revoke 0,1", "batch p1 7"]);
    await consumer.stop();
    await running;
    assert.deepEqual(handlers.log.slice(3), ["revoke 1"]);
  }),
);

Deno.test(
  "KafkaConsumer revokes during a flush only after the handler in progress returns, and leaves that batch unresolved",
  quietly(async () => {
    const { fake, consumer, handlers, running } = await started();
    fake.join([0]);
    handlers.hold = Promise.withResolvers<void>();
    const hold = handlers.hold;
    const delivered = fake.deliver(0, [0, 1]);
    await until(() => handlers.log.includes("batch p0 0,1"));
    fake.rebalance();
    fake.join([0]);
    // A batch of the new assignment waits for the revocation.
    const next = fake.deliver(0, [0, 1]);
    await turn();
    assert.deepEqual(handlers.log, ["batch p0 0,1"], "the flush still runs");
    hold.resolve();
    assert.deepEqual(await delivered, [], "the revoked batch is not resolved");
    assert.deepEqual(await next, ["1"]);
    assert.deepEqual(handlers.log, [
      "batch p0 0,1",
      "batch p0 done",
      "revoke 0",
      "batch p0 0,1",
    ]);
    await consumer.stop();
    await running;
  }),
);

Deno.test(
  "KafkaConsumer revokes on a crash kafkajs restarts from, and goes on after the rejoin",
  quietly(async () => {
    const { fake, consumer, handlers, running } = await started();
    fake.join([0, 2]);
    fake.crash(new Error("Connection error"), true);
    await until(() => handlers.log.includes("revoke 0,2"));
    fake.join([2]);
    assert.deepEqual(await fake.deliver(2, [3]), ["3"]);
    await consumer.stop();
    await running;
    assert.deepEqual(handlers.log, ["revoke 0,2", "batch p2 3", "revoke 2"]);
  }),
);

Deno.test(
  "KafkaConsumer stops on a crash kafkajs gives up on: run() rejects with a classified error after revoking and disconnecting",
  quietly(async () => {
    const { fake, handlers, running, calls } = await started();
    fake.join([1]);
    const denied = Object.assign(new Error("Topic authorization failed"), {
      retriable: false,
    });
    fake.crash(denied, false);
    await assert.rejects(running, (error: Error) => {
      assert.ok(error instanceof FatalError);
      assert.equal(
        error.message,
        "Cannot consume topic 'stock-quotes' in group 'lake': Topic authorization failed",
      );
      return true;
    });
    assert.deepEqual(handlers.log, ["revoke 1"]);
    assert.deepEqual(calls.slice(-2), [
      "disconnect consumer",
      "disconnect admin",
    ]);
  }),
);

Deno.test(
  "KafkaConsumer stops when a handler fails: run() rejects with that error, the batch unresolved, its partitions revoked",
  quietly(async () => {
    const { fake, handlers, running, calls } = await started();
    fake.join([0, 1]);
    handlers.failBatch = new RetriableError("Cannot put object: timeout");
    assert.deepEqual(await fake.deliver(0, [4]), []);
    await assert.rejects(running, handlers.failBatch);
    assert.deepEqual(handlers.log, ["batch p0 4", "revoke 0,1"]);
    assert.ok(calls.includes("pause"));
    assert.deepEqual(calls.slice(-2), [
      "disconnect consumer",
      "disconnect admin",
    ]);
  }),
);

Deno.test(
  "KafkaConsumer.stop() waits for the batch in progress, revokes once, disconnects, and run() resolves",
  quietly(async () => {
    const { fake, consumer, handlers, running, calls } = await started();
    fake.join([0]);
    handlers.hold = Promise.withResolvers<void>();
    const hold = handlers.hold;
    const delivered = fake.deliver(0, [9]);
    await until(() => handlers.log.length === 1);
    const stopping = consumer.stop();
    assert.equal(consumer.stop(), stopping, "one stop, however often called");
    await turn();
    assert.ok(!handlers.log.includes("revoke 0"), "waits for the handler");
    hold.resolve();
    await stopping;
    await running;
    assert.deepEqual(await delivered, []);
    assert.deepEqual(handlers.log, ["batch p0 9", "batch p0 done", "revoke 0"]);
    assert.deepEqual(calls.slice(-2), [
      "disconnect consumer",
      "disconnect admin",
    ]);
    await assert.rejects(
      consumer.commit([{ partition: 0, offset: 10 }]),
      /Cannot commit offsets of group 'lake' as the consumer is stopped/,
    );
  }),
);

Deno.test(
  "KafkaConsumer.stop() rejects when the last revocation fails, and run() rejects with the same error",
  quietly(async () => {
    const { fake, consumer, handlers, running } = await started();
    fake.join([0]);
    handlers.failRevoke = new Error("Cannot put object: access denied");
    await assert.rejects(consumer.stop(), handlers.failRevoke);
    await assert.rejects(running, handlers.failRevoke);
  }),
);

Deno.test(
  "KafkaConsumer.stop() before run() only disconnects",
  quietly(async () => {
    const fake = new FakeKafkaConsumer();
    const consumer = consumerOver(fake);
    await consumer.stop();
    assert.deepEqual(fake.calls, [
      "pause",
      "disconnect consumer",
      "disconnect admin",
    ]);
  }),
);

Deno.test(
  "KafkaConsumer commits exactly the offsets it is given, and refuses negative ones",
  quietly(async () => {
    const { fake, consumer, running } = await started();
    await consumer.commit([{ partition: 2, offset: 41 }]);
    assert.deepEqual(fake.committed, [{ partition: 2, offset: "41" }]);
    await assert.rejects(
      consumer.commit([{ partition: 0, offset: -1 }]),
      RangeError,
    );
    await consumer.stop();
    await running;
  }),
);
