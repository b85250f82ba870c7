/**
 * A fake of Finnhub's trades WebSocket for tests: a real WebSocket server on
 * 127.0.0.1 (Deno.serve and Deno.upgradeWebSocket) behind a small TCP relay
 * of its own, so a test can cut a connection without a close frame.
 *
 * - The handshake needs the `token` query parameter to be the configured
 *   key, else it is answered 401 `{"error":"Invalid API key"}`.
 * - `{"type":"subscribe","symbol":S}` subscribes the connection to S, and
 *   `unsubscribe` ends it; a symbol listed in `invalidSymbols` is answered
 *   `{"type":"error","msg":"Invalid symbol S"}` instead.
 * - The test sends trade batches ({@linkcode FakeFinnhubWs.sendTrades}) to
 *   every live connection subscribed to the batch's symbol, pings, and any
 *   raw text; every message a client sent is recorded.
 * - Faults: {@linkcode FakeFinnhubWs.drop} closes the TCP connections of the
 *   relay under every live connection, so the client sees its connection end
 *   with no close frame; {@linkcode FakeFinnhubWs.silence} keeps the live
 *   connections open but sends nothing more on them.
 *
 * @module
 */

/** One trade as Finnhub sends it. */
export interface FinnhubTrade {
  /** Symbol. */
  s: string;
  /** Price. */
  p: number;
  /** Time, epoch milliseconds. */
  t: number;
  /** Volume. */
  v: number;
  /** Condition codes; Finnhub may leave them out or send `null`. */
  c?: string[] | null;
}

/** One client connection the fake accepted. */
export interface FakeWsConnection {
  /** 0 for the first connection, then 1, … */
  id: number;
  /** Symbols subscribed now. */
  subscribed: Set<string>;
  /** Every message the client sent, parsed. */
  received: Record<string, unknown>[];
  /** Whether it is still open. */
  open: boolean;
  /** Sends nothing more (see {@linkcode FakeFinnhubWs.silence}). */
  silent: boolean;
}

/** Options for {@linkcode startFakeFinnhubWs}. */
export interface FakeFinnhubWsOptions {
  /** The key the handshake accepts. */
  apiKey: string;
  /** Symbols answered with an error on subscribe. */
  invalidSymbols?: string[];
}

/** A running fake; close it with `await using` or {@linkcode FakeFinnhubWs.close}. */
export interface FakeFinnhubWs extends AsyncDisposable {
  /** The URL to configure a client with, without the token: `ws://127.0.0.1:PORT`. */
  url: string;
  /** Every accepted connection, in order. */
  connections: FakeWsConnection[];
  /** Handshakes answered, by status (101 or 401), in order. */
  handshakes: number[];
  /** The live connections. */
  live(): FakeWsConnection[];
  /**
   * Sends one trade message of `trades` (all of one symbol) to each live,
   * non-silent connection subscribed to it.
   *
   * @returns How many connections it was sent to.
   */
  sendTrades(trades: FinnhubTrade[]): number;
  /** Sends `text` as it is to each live, non-silent connection; returns how many. */
  sendText(text: string): number;
  /** Sends `{"type":"ping"}` to each live, non-silent connection. */
  ping(): number;
  /** Cuts every live connection's TCP connection, with no close frame. */
  drop(): void;
  /** Keeps every live connection open but sends nothing more on it. */
  silence(): void;
  /** Stops the fake. */
  close(): Promise<void>;
}

/**
 * Starts the fake on 127.0.0.1, on ports chosen by the system.
 *
 * @param options The accepted key and the invalid symbols.
 * @returns The running fake.
 */
export async function startFakeFinnhubWs(
  options: FakeFinnhubWsOptions,
): Promise<FakeFinnhubWs> {
  const invalid = new Set(options.invalidSymbols ?? []);
  const connections: FakeWsConnection[] = [];
  const sockets = new Map<FakeWsConnection, WebSocket>();
  const handshakes: number[] = [];

  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => resolve(port),
  }, (request) => {
    const url = new URL(request.url);
    if (url.searchParams.get("token") !== options.apiKey) {
      handshakes.push(401);
      return Response.json({ error: "Invalid API key" }, { status: 401 });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "Expected a websocket" }, { status: 400 });
    }
    handshakes.push(101);
    const { socket, response } = Deno.upgradeWebSocket(request);
    const connection: FakeWsConnection = {
      id: connections.length,
      subscribed: new Set(),
      received: [],
      open: true,
      silent: false,
    };
    connections.push(connection);
    sockets.set(connection, socket);
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      connection.received.push(message);
      const symbol = String(message.symbol);
      if (message.type === "subscribe") {
        if (invalid.has(symbol)) {
          send(
            connection,
            JSON.stringify({
              type: "error",
              msg: `Invalid symbol ${symbol}`,
            }),
          );
        } else connection.subscribed.add(symbol);
      } else if (message.type === "unsubscribe") {
        connection.subscribed.delete(symbol);
      }
    };
    socket.onclose = () => {
      connection.open = false;
      sockets.delete(connection);
    };
    socket.onerror = () => {};
    return response;
  });
  const serverPort = await listening;

  // The relay: each client TCP connection is piped to the server, so the
  // fake can cut it without a close frame.
  const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<[Deno.Conn, Deno.Conn]>();
  const relaying = (async () => {
    for await (const client of relay) {
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({
          hostname: "127.0.0.1",
          port: serverPort,
        });
      } catch {
        client.close();
        continue;
      }
      const pair: [Deno.Conn, Deno.Conn] = [client, upstream];
      pairs.add(pair);
      Promise.all([pump(client, upstream), pump(upstream, client)]).finally(
        () => {
          pairs.delete(pair);
          closeQuietly(client);
          closeQuietly(upstream);
        },
      );
    }
  })().catch(() => {});

  const live = () => connections.filter((c) => c.open);
  function send(connection: FakeWsConnection, text: string): boolean {
    const socket = sockets.get(connection);
    if (!connection.open || connection.silent || socket === undefined) {
      return false;
    }
    if (socket.readyState !== WebSocket.OPEN) return false;
    socket.send(text);
    return true;
  }
  const broadcast = (text: string, to = live()) =>
    to.filter((c) => send(c, text)).length;

  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      for (const [a, b] of pairs) {
        closeQuietly(a);
        closeQuietly(b);
      }
      relay.close();
      await relaying;
      await server.shutdown();
    })();

  return {
    url: `ws://127.0.0.1:${(relay.addr as Deno.NetAddr).port}`,
    connections,
    handshakes,
    live,
    sendTrades(trades) {
      const symbol = trades[0]?.s;
      return broadcast(
        JSON.stringify({ type: "trade", data: trades }),
        live().filter((c) => c.subscribed.has(symbol)),
      );
    },
    sendText: (text) => broadcast(text),
    ping: () => broadcast(JSON.stringify({ type: "ping" })),
    drop() {
      for (const [a, b] of pairs) {
        closeQuietly(a);
        closeQuietly(b);
      }
    },
    silence() {
      for (const connection of live()) connection.silent = true;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      let written = 0;
      while (written < n) {
        written += await to.write(buffer.subarray(written, n));
      }
    }
  } catch {
    // the pair was cut
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
