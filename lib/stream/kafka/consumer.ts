/**
 * The Kafka consumer: a member of a consumer group that never commits by
 * itself. It hands each fetched batch to {@linkcode ConsumerHandlers.onBatch}
 * and commits only what the caller passes to
 * {@linkcode StreamConsumer.commit}. kafkajs has no revoke callback, and
 * after every rejoin it restarts each assigned partition from the group's
 * committed offset; so on every rebalance, rejoin, crash and on stop, all the
 * partitions held so far are handed to {@linkcode ConsumerHandlers.onRevoked}
 * before any further batch is delivered.
 *
 * @module
 */
import type { Admin, Batch, Consumer, EachBatchPayload } from "kafkajs";
import { logger } from "../../runtime/log.ts";
import { retry, type RetryOptions } from "../../runtime/retry.ts";
import type {
  ConsumerHandlers,
  PartitionOffset,
  StreamConsumer,
} from "../stream.ts";
import { ADMIN_RETRY } from "./config.ts";
import { streamError } from "./errors.ts";
import { fromKafkaBatch, toNumber } from "./messages.ts";

const log = logger("kafka");

/** How often a long-running batch handler heartbeats the group (kafkajs throttles to its `heartbeatInterval`). */
const HEARTBEAT_TICK_MS = 1_000;

type ConsumerState = "idle" | "running" | "stopping" | "stopped";

/** A member of a consumer group reading one topic (see the module's doc). */
export class KafkaConsumer implements StreamConsumer {
  readonly #consumer: Consumer;
  readonly #admin: Admin;
  readonly #topic: string;
  readonly #groupId: string;
  readonly #adminRetry: RetryOptions;
  #state: ConsumerState = "idle";
  #handlers: ConsumerHandlers | undefined;
  /** Partitions handed to the handlers and not revoked yet. */
  #assigned = new Set<number>();
  /** Bumped whenever the assignment ends, so batches of an earlier one are dropped. */
  #generation = 0;
  /** Revocations in progress, in order; batches wait for them. */
  #revoking: Promise<void> = Promise.resolve();
  /** The handler call in progress, if any. */
  #inFlight: Promise<void> | undefined;
  /** kafkajs's `run()`, which resolves once the first join ended. */
  #starting: Promise<void> | undefined;
  /** A revocation that failed while the consumer was already stopping. */
  #lateFailure: unknown;
  #unsubscribe: (() => void)[] = [];
  #done = Promise.withResolvers<void>();
  #stopped: Promise<void> | undefined;

  /**
   * Wraps a connected kafkajs consumer and admin client.
   *
   * @param consumer The consumer, connected, not subscribed yet.
   * @param admin An admin client, connected, for offsets.
   * @param topic The topic to read.
   * @param groupId The consumer group.
   * @param adminRetry Retries of the offset reads.
   */
  constructor(
    consumer: Consumer,
    admin: Admin,
    topic: string,
    groupId: string,
    adminRetry: RetryOptions = ADMIN_RETRY,
  ) {
    this.#consumer = consumer;
    this.#admin = admin;
    this.#topic = topic;
    this.#groupId = groupId;
    this.#adminRetry = adminRetry;
    // run()'s callers see the rejection; this only keeps it from being
    // reported as unhandled when it happens while nobody awaits run().
    this.#done.promise.catch(() => {});
  }

  /** Subscribes and runs until stop() or a fatal error; rejects with that error. */
  async run(handlers: ConsumerHandlers): Promise<void> {
    if (this.#state !== "idle") {
      throw new Error(
        `Cannot run the Kafka consumer of group '${this.#groupId}' as it must run once: current state is ${this.#state}`,
      );
    }
    this.#state = "running";
    this.#handlers = handlers;
    const { events } = this.#consumer;
    this.#unsubscribe.push(
      this.#consumer.on(events.GROUP_JOIN, ({ payload }) => {
        this.#onJoin(payload.memberAssignment[this.#topic] ?? []);
      }),
      this.#consumer.on(events.REBALANCING, () => {
        this.#revokeAll("rebalance");
      }),
      this.#consumer.on(events.CRASH, ({ payload }) => {
        this.#onCrash(payload.error, payload.restart);
      }),
    );
    try {
      await this.#consumer.subscribe({
        topics: [this.#topic],
        fromBeginning: true,
      });
      this.#starting = this.#consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.#eachBatch(payload),
      });
      await this.#starting;
    } catch (error) {
      this.#fail(
        streamError(
          `consume topic '${this.#topic}' in group '${this.#groupId}'`,
          error,
        ),
        true,
      );
    }
    return await this.#done.promise;
  }

  /** Commits offsets for the group; call only once their data is durable. */
  async commit(offsets: PartitionOffset[]): Promise<void> {
    if (this.#state === "stopped") {
      throw new Error(
        `Cannot commit offsets of group '${this.#groupId}' as the consumer is stopped`,
      );
    }
    for (const { partition, offset } of offsets) {
      if (
        !Number.isSafeInteger(partition) || partition < 0 ||
        !Number.isSafeInteger(offset) || offset < 0
      ) {
        throw new RangeError(
          `Cannot commit offsets as each partition and offset must be a non-negative integer: current value is ${
            JSON.stringify({ partition, offset })
          }`,
        );
      }
    }
    if (offsets.length === 0) return;
    try {
      await this.#consumer.commitOffsets(
        offsets.map(({ partition, offset }) => ({
          topic: this.#topic,
          partition,
          offset: String(offset),
        })),
      );
    } catch (error) {
      throw streamError(
        `commit offsets of group '${this.#groupId}' on topic '${this.#topic}'`,
        error,
      );
    }
  }

  /** Each partition's oldest offset still kept. */
  startOffsets(): Promise<PartitionOffset[]> {
    return retry(() => this.#topicOffsets("low"), this.#adminRetry);
  }

  /** Each partition's next offset. */
  endOffsets(): Promise<PartitionOffset[]> {
    // A fresh cluster answers NOT_COORDINATOR or LEADER_NOT_AVAILABLE at first.
    return retry(() => this.#topicOffsets("high"), this.#adminRetry);
  }

  async #topicOffsets(end: "low" | "high"): Promise<PartitionOffset[]> {
    try {
      const offsets = await this.#admin.fetchTopicOffsets(this.#topic);
      return offsets
        .map((partition) => ({
          partition: partition.partition,
          offset: toNumber(
            partition[end],
            end === "high" ? "high watermark" : "log start offset",
          ),
        }))
        .sort((a, b) => a.partition - b.partition);
    } catch (error) {
      throw streamError(
        `read the ${
          end === "high" ? "end" : "start"
        } offsets of topic '${this.#topic}'`,
        error,
      );
    }
  }

  /** The group's committed offsets (partitions never committed left out). */
  committedOffsets(): Promise<PartitionOffset[]> {
    return retry(() => this.#committedOffsets(), this.#adminRetry);
  }

  async #committedOffsets(): Promise<PartitionOffset[]> {
    try {
      const topics = await this.#admin.fetchOffsets({
        groupId: this.#groupId,
        topics: [this.#topic],
      });
      return topics
        .filter(({ topic }) => topic === this.#topic)
        .flatMap(({ partitions }) => partitions)
        .filter(({ offset }) => offset !== "-1")
        .map(({ partition, offset }) => ({
          partition,
          offset: toNumber(offset, "committed offset"),
        }))
        .sort((a, b) => a.partition - b.partition);
    } catch (error) {
      throw streamError(
        `read the committed offsets of group '${this.#groupId}'`,
        error,
      );
    }
  }

  /** Stops consuming, revoking every partition held first; rejects when that revocation fails. */
  stop(): Promise<void> {
    this.#stopped ??= this.#state === "idle" || this.#state === "running"
      ? this.#shutdown()
      // A failure is already shutting the consumer down; run() reports it.
      : this.#done.promise.catch(() => {});
    return this.#stopped;
  }

  async #eachBatch(
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
  ): Promise<void> {
    const generation = this.#generation;
    await this.#revoking;
    if (
      this.#state !== "running" || generation !== this.#generation ||
      !isRunning() || isStale() || !this.#assigned.has(batch.partition) ||
      batch.messages.length === 0
    ) {
      // Not resolved: kafkajs will fetch these messages again, or the next
      // assignment restarts from the committed offset.
      return;
    }
    const task = this.#handle(batch, heartbeat);
    this.#inFlight = task;
    try {
      await task;
    } catch (error) {
      // Never thrown into kafkajs, which would retry the batch behind our back.
      this.#fail(error, true);
      return;
    } finally {
      this.#inFlight = undefined;
    }
    if (this.#state === "running" && generation === this.#generation) {
      resolveOffset(batch.messages[batch.messages.length - 1].offset);
    }
  }

  async #handle(batch: Batch, heartbeat: () => Promise<void>): Promise<void> {
    const converted = fromKafkaBatch(
      batch.topic,
      batch.partition,
      batch.messages,
    );
    // A slow handler (an upload with retries) must not let the session expire.
    const timer = setInterval(() => {
      heartbeat().catch(() => {});
    }, HEARTBEAT_TICK_MS);
    try {
      await this.#handlers!.onBatch(converted);
    } finally {
      clearInterval(timer);
    }
  }

  #onJoin(partitions: number[]): void {
    // A rejoin without a REBALANCING event (unknown member id, restart after
    // a crash) also restarts every partition from its committed offset.
    this.#revokeAll("rejoin");
    // While stopping, the partitions held so far stay for stop() to revoke,
    // and the new ones never get a batch.
    if (this.#state !== "running") return;
    this.#assigned = new Set(partitions);
    log.info("partitions assigned", {
      groupId: this.#groupId,
      topic: this.#topic,
      partitions: [...partitions].sort((a, b) => a - b),
    });
  }

  #onCrash(error: Error, restart: boolean): void {
    log.error("kafka consumer crashed", {
      groupId: this.#groupId,
      error,
      restart,
    });
    if (restart) {
      this.#revokeAll("crash");
    } else {
      this.#fail(
        streamError(
          `consume topic '${this.#topic}' in group '${this.#groupId}'`,
          error,
        ),
        true,
      );
    }
  }

  /**
   * Ends the current assignment: batches already fetched for it are dropped,
   * and the handlers hear of its partitions before any later batch. While
   * stopping, stop() (or the failure) revokes them instead.
   */
  #revokeAll(reason: string): void {
    this.#generation++;
    if (this.#state !== "running") return;
    const partitions = this.#takeAssigned();
    if (partitions.length === 0) return;
    const handlers = this.#handlers!;
    this.#revoking = this.#revoking.then(async () => {
      await this.#idle();
      log.info("revoking partitions", {
        reason,
        groupId: this.#groupId,
        partitions,
      });
      await handlers.onRevoked(partitions);
    }).catch((error) => {
      if (this.#state === "running") this.#fail(error, false);
      else this.#lateFailure ??= error;
    });
  }

  #takeAssigned(): number[] {
    const partitions = [...this.#assigned].sort((a, b) => a - b);
    this.#assigned = new Set();
    return partitions;
  }

  /**
   * Stops the consumer after a fatal error; `revoke` tells whether the
   * handlers should still hear that their partitions are gone.
   */
  #fail(error: unknown, revoke: boolean): void {
    if (this.#state !== "running") return;
    // The error ends the run: its caller reports it, once.
    log.debug("kafka consumer failed", { groupId: this.#groupId, error });
    this.#shutdown({ error, revoke }).catch(() => {});
  }

  /**
   * The one way the consumer ends, on stop() or after a failure: no batch is
   * handed over any more, the handler in progress finishes, revocations
   * already queued run, the partitions still held are revoked (unless a
   * failing revocation caused the failure), both clients disconnect, and
   * run() settles: it resolves after a clean stop and rejects with the
   * failure, or with the first revocation that failed.
   *
   * @throws The error run() rejects with.
   */
  async #shutdown(
    failure?: { error: unknown; revoke: boolean },
  ): Promise<void> {
    this.#state = "stopping";
    this.#generation++;
    // Stopping kafkajs in the middle of its first join would let it restart.
    await this.#starting?.catch(() => {});
    this.#pause();
    await this.#idle();
    const revoke = failure?.revoke ?? true;
    // A failure of the revocations themselves must not wait for them.
    if (revoke) await this.#revoking;
    const partitions = this.#takeAssigned();
    let outcome = failure === undefined ? this.#lateFailure : failure.error;
    if (revoke && partitions.length > 0) {
      log.info("revoking partitions", {
        reason: failure === undefined ? "stop" : "failure",
        groupId: this.#groupId,
        partitions,
      });
      try {
        await this.#handlers!.onRevoked(partitions);
      } catch (error) {
        if (outcome === undefined) outcome = error;
        else {
          log.warn("revoking partitions after a failure failed", {
            groupId: this.#groupId,
            error,
          });
        }
      }
    }
    await this.#disconnect();
    this.#state = "stopped";
    if (outcome === undefined) return this.#done.resolve();
    this.#done.reject(outcome);
    throw outcome;
  }

  #pause(): void {
    try {
      this.#consumer.pause([{ topic: this.#topic }]);
    } catch {
      // Not running (crashed or never started): nothing to pause.
    }
  }

  async #idle(): Promise<void> {
    await this.#inFlight?.catch(() => {});
  }

  async #disconnect(): Promise<void> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    for (const client of [this.#consumer, this.#admin]) {
      try {
        await client.disconnect();
      } catch (error) {
        log.warn("kafka disconnect failed", { groupId: this.#groupId, error });
      }
    }
  }
}
