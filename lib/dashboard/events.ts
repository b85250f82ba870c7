/**
 * The page's event stream (`GET /events`, server-sent events): one event
 * each time a watched thing changes, `gold` when a new gold copy (or a new
 * Snowflake write) appears and `pipeline` when the pipeline's status does,
 * each with the new version as its data; the page then fetches what
 * changed. A connection first gets the versions known now, and a comment
 * every 15 s keeps proxies from closing it. The browser's `EventSource`
 * reconnects by itself after 2 s when the stream ends.
 *
 * @module
 */
import type { ChangeWatcher } from "./watcher.ts";

/** How often an idle stream sends a comment, in milliseconds. */
const KEEP_ALIVE_MS = 15_000;

/**
 * A streaming response of server-sent events, one event name per watcher.
 *
 * @param watchers The watchers, by event name (`gold`, `pipeline`).
 * @param signal Ends the stream (the server stops).
 * @returns The response: `text/event-stream`, never cached.
 */
export function eventStream(
  watchers: Record<string, ChangeWatcher>,
  signal: AbortSignal,
): Response {
  const encoder = new TextEncoder();
  const cleanups: (() => void)[] = [];
  const cleanUp = () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          cleanUp(); // the client went away
        }
      };
      const end = () => {
        cleanUp();
        try {
          controller.close();
        } catch {
          // already closed
        }
      };
      send("retry: 2000\n\n");
      for (const [name, watcher] of Object.entries(watchers)) {
        if (watcher.version !== undefined) {
          send(eventText(name, watcher.version));
        }
        cleanups.push(
          watcher.subscribe((version) => send(eventText(name, version))),
        );
      }
      const keepAlive = setInterval(
        () => send(": keep-alive\n\n"),
        KEEP_ALIVE_MS,
      );
      cleanups.push(() => clearInterval(keepAlive));
      if (signal.aborted) end();
      else {
        signal.addEventListener("abort", end, { once: true });
        cleanups.push(() => signal.removeEventListener("abort", end));
      }
    },
    cancel() {
      cleanUp();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

/** One event: its name and the version as JSON data (`null` while there is nothing). */
function eventText(name: string, version: string | undefined): string {
  return `event: ${name}\ndata: ${JSON.stringify(version ?? null)}\n\n`;
}
