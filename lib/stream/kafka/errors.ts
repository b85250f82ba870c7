/**
 * The Kafka error taxonomy: which kafkajs failures may pass if retried later
 * and which are fatal, and how they reach callers (one line, no secret).
 *
 * @module
 */
import { redact } from "../../runtime/log.ts";
import { FatalError, RetriableError } from "../../runtime/retry.ts";

/** What kafkajs's consumer says to a commit while it has no group. */
const GROUP_NOT_INITIALIZED =
  "Consumer group was not initialized, consumer#run must be called first";

/**
 * Whether a kafkajs failure may pass if retried later (a broker down, a
 * timeout, a leader moving, retries run out on such a fault) or is fatal (bad
 * configuration, denied access, an unsupported request), by kafkajs's own
 * rule for restarting a crashed consumer.
 *
 * @param error A failure thrown by kafkajs.
 * @returns `"retriable"` or `"fatal"`.
 */
export function classifyKafkaError(error: unknown): "retriable" | "fatal" {
  if (!(error instanceof Error)) return "fatal";
  if (error.name === "KafkaJSNumberOfRetriesExceeded") return "retriable";
  let original: unknown = error;
  while (original instanceof Error && original.cause instanceof Error) {
    original = original.cause;
  }
  const { retriable, type } = original as {
    retriable?: unknown;
    type?: unknown;
  };
  // The group forgot this member or its generation (a coordinator restarted
  // past the session timeout): kafkajs rejoins, and a later commit, or the
  // partition's next owner, commits what is landed. Not a reason to stop.
  if (type === "UNKNOWN_MEMBER_ID" || type === "ILLEGAL_GENERATION") {
    return "retriable";
  }
  // A commit between a crash and kafkajs's restart of the consumer (it drops
  // its group, waits, then joins again) finds no group: the restarted
  // consumer commits again. A consumer that is not restarted ends its run,
  // which stops whoever commits.
  if ((original as Error).message === GROUP_NOT_INITIALIZED) {
    return "retriable";
  }
  return retriable === true ? "retriable" : "fatal";
}

/**
 * Wraps a kafkajs failure in a {@linkcode RetriableError} or
 * {@linkcode FatalError} with a one-line message naming the action.
 */
export function streamError(action: string, error: unknown): Error {
  const detail = error instanceof Error ? error.message : String(error);
  const message = redact(`Cannot ${action}: ${detail}`).replace(/\s+/g, " ");
  return classifyKafkaError(error) === "retriable"
    ? new RetriableError(message, { cause: error })
    : new FatalError(message, { cause: error });
}
