/**
 * The last quote of each symbol in the stream's tail: where a simulated run
 * continues from. Only the last few messages of each partition are read
 * (`Stream.lastMessages`), so the cost follows the number of symbols, never
 * the length of the history. What the tail does not hold is for the caller
 * to find elsewhere (lib/app/resume.ts: the warehouse, then the seed).
 *
 * @module
 */
import { parseQuote, type Quote } from "../contract/quote.ts";
import type { Stream } from "../stream/stream.ts";

/**
 * Messages read from the end of each partition, per symbol asked for: a
 * producer quotes its symbols in turn, so the last round of every symbol is
 * in the tail even when all the symbols share one partition, with a round
 * to spare for quotes of other symbols or sources in between.
 */
export const TAIL_MESSAGES_PER_SYMBOL = 2;

/**
 * The last quote of each of `symbols` in the stream's tail: the one with the
 * latest quote time `t` (a tie goes to the later message). Messages that are
 * not valid quotes, or whose key is not their symbol, are passed over.
 *
 * @param stream The stream.
 * @param symbols The symbols wanted.
 * @returns The last quote of each symbol found, by symbol.
 * @throws {Error} When the stream cannot be read.
 */
export async function lastQuotesInStream(
  stream: Stream,
  symbols: string[],
): Promise<Map<string, Quote>> {
  const wanted = new Set(symbols);
  const found = new Map<string, Quote>();
  if (wanted.size === 0) return found;
  const batches = await stream.lastMessages(
    TAIL_MESSAGES_PER_SYMBOL * wanted.size,
  );
  for (const { messages } of batches) {
    for (const message of messages) {
      if (message.key === null || !wanted.has(message.key)) continue;
      // A run faster than real time may have run ahead of the clock: its
      // quotes still count, so the clock-skew rule is not applied here.
      const parsed = parseQuote(message.value, {
        now: Number.MAX_SAFE_INTEGER,
      });
      if (!parsed.ok || parsed.quote.symbol !== message.key) continue;
      const seen = found.get(message.key);
      if (seen === undefined || parsed.quote.t >= seen.t) {
        found.set(message.key, parsed.quote);
      }
    }
  }
  return found;
}
