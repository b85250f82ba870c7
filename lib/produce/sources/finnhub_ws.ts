/**
 * The socket side of the Finnhub trades source (./finnhub_trades.ts): one
 * WebSocket whose events (open, messages, a failed handshake, a close) are
 * queued and waited on in order, with the idle time as the longest wait; and
 * {@linkcode handshakeStatus}, the HTTP status of a handshake found by an
 * upgrade request of its own, for when the WebSocket's error does not say it.
 *
 * @module
 */

/** What the connection's socket reported, in order. */
export type Arrival =
  | { type: "open" }
  | { type: "message"; text: string; at: number }
  | { type: "failed"; detail: string; status?: number }
  | { type: "closed"; code: number; detail: string }
  | { type: "idle" };

/** One WebSocket and what it reported, waited on in order. */
export class Connection {
  readonly #socket: WebSocket;
  readonly #signal: AbortSignal;
  readonly #arrivals: Arrival[] = [];
  #wake: (() => void) | undefined;
  #opened = false;
  #ended = false;
  #error = "";
  /** When something last arrived (or the connection began), `performance.now()`. */
  #lastAt = performance.now();

  constructor(url: string, signal: AbortSignal, now: () => number) {
    this.#signal = signal;
    this.#socket = new WebSocket(url);
    this.#socket.binaryType = "arraybuffer";
    this.#socket.onopen = () => {
      this.#opened = true;
      this.#push({ type: "open" });
    };
    this.#socket.onmessage = (event: MessageEvent) => {
      const text = typeof event.data === "string"
        ? event.data
        : new TextDecoder().decode(event.data as ArrayBuffer);
      this.#push({ type: "message", text, at: now() });
    };
    this.#socket.onerror = (event: Event) => {
      this.#error = event instanceof ErrorEvent ? event.message : "error";
      if (!this.#opened && !this.#ended) {
        this.#ended = true;
        const status = /status code:? (\d{3})\b/i.exec(this.#error);
        this.#push({
          type: "failed",
          detail: this.#error,
          status: status ? Number(status[1]) : undefined,
        });
      }
    };
    this.#socket.onclose = (event: CloseEvent) => {
      if (this.#ended) return;
      this.#ended = true;
      if (!this.#opened) {
        this.#push({ type: "failed", detail: this.#error || "closed" });
      } else {
        this.#push({
          type: "closed",
          code: event.code,
          detail: event.reason || this.#error,
        });
      }
    };
  }

  /**
   * The next arrival; `idle` when nothing arrived for `idleMs`; `undefined`
   * once the signal aborts.
   */
  async next(idleMs: number): Promise<Arrival | undefined> {
    while (true) {
      if (this.#signal.aborted) return undefined;
      const arrival = this.#arrivals.shift();
      if (arrival !== undefined) return arrival;
      const remaining = this.#lastAt + idleMs - performance.now();
      if (remaining <= 0) return { type: "idle" };
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#signal.removeEventListener("abort", done);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, remaining);
        this.#signal.addEventListener("abort", done, { once: true });
        this.#wake = done;
      });
    }
  }

  /** Sends one JSON message, if the socket is open. */
  send(message: unknown): void {
    if (this.#socket.readyState === WebSocket.OPEN) {
      this.#socket.send(JSON.stringify(message));
    }
  }

  /** Sends `last` (if open), then closes normally; handlers are dropped. */
  close(last: unknown[]): void {
    for (const message of last) this.send(message);
    this.#ended = true;
    this.#socket.onmessage = null;
    try {
      if (this.#socket.readyState !== WebSocket.CLOSED) {
        this.#socket.close(1000);
      }
    } catch {
      // already closing
    }
  }

  #push(arrival: Arrival): void {
    this.#lastAt = performance.now();
    this.#arrivals.push(arrival);
    this.#wake?.();
  }
}

/**
 * The HTTP status a WebSocket handshake at `url` gets, by an upgrade request
 * of its own (101 when the server would switch protocols); `undefined` when
 * no answer comes within 10 s. A 101's connection is closed at once.
 *
 * @param url The WebSocket URL (ws: or wss:).
 * @param signal Cuts the request short.
 * @returns The status, or `undefined`.
 */
export async function handshakeStatus(
  url: string,
  signal?: AbortSignal,
): Promise<number | undefined> {
  const http = url.replace(/^ws/, "http");
  const key = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  try {
    const response = await fetch(http, {
      headers: {
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": key,
      },
      signal: AbortSignal.any([
        AbortSignal.timeout(10_000),
        ...(signal ? [signal] : []),
      ]),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return undefined;
  }
}
