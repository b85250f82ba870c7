/**
 * The landing's worker thread: it encodes each batch it is sent
 * (./encode_batch.ts) and sends back the bodies, transferred. Started and
 * stopped by ./encoder_pool.ts; it keeps no state between batches.
 *
 * @module
 */
import {
  encodeBatch,
  type EncodedBatch,
  encodedTransferables,
  type EncodeReply,
  type EncodeRequest,
} from "./encode_batch.ts";

/** The worker's side of its channel (the global scope of a worker). */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<EncodeRequest>) => void) | null;
  postMessage(message: EncodeReply, transfer: ArrayBuffer[]): void;
};

scope.onmessage = ({ data: { id, batch } }) => {
  let encoded: EncodedBatch;
  try {
    encoded = encodeBatch(batch);
  } catch (error) {
    const text = error instanceof Error ? error.stack ?? error.message : error;
    scope.postMessage({ id, ok: false, error: String(text) }, []);
    return;
  }
  scope.postMessage({ id, ok: true, encoded }, encodedTransferables(encoded));
};
