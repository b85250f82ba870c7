/**
 * A fake Finnhub for tests: a real HTTP server on 127.0.0.1 that answers
 * `GET /api/v1/quote?symbol=…` the way Finnhub documents it, from per-symbol
 * scripts, and records every request.
 *
 * - The key must come as the `X-Finnhub-Token` header (or the `token` query
 *   parameter, which Finnhub also accepts and which the recording flags), else
 *   the answer is 401 `{"error":"Invalid API key."}`.
 * - Each symbol has a script of {@linkcode FakeStep}s answered in turn; once the
 *   script is used up its last step repeats (like a closed market repeating
 *   its last quote). A symbol without a script gets Finnhub's all-zero quote.
 * - A step may be delayed, to make a client time out; closing the server ends
 *   pending delays, so no timer outlives a test.
 *
 * A step's fields mirror the documented response, so later fault suites can
 * script 403s, 429s with `Retry-After`, 5xx and broken bodies the same way.
 *
 * @module
 */
import { sleep } from "../lib/runtime/retry.ts";

/** Finnhub's `/quote` body. `d` and `dp` are `null` when there is no data. */
export interface FinnhubQuote {
  /** Current price. */
  c: number;
  /** Change. */
  d: number | null;
  /** Percent change. */
  dp: number | null;
  /** High of the day. */
  h: number;
  /** Low of the day. */
  l: number;
  /** Open of the day. */
  o: number;
  /** Previous close. */
  pc: number;
  /** Quote time in epoch seconds. */
  t: number;
}

/** What Finnhub answers for an unknown symbol or when it has no data. */
export const ALL_ZERO: FinnhubQuote = {
  c: 0,
  d: null,
  dp: null,
  h: 0,
  l: 0,
  o: 0,
  pc: 0,
  t: 0,
};

/** One scripted answer. */
export interface FakeStep {
  /**
   * HTTP status.
   *
   * @default {200}
   */
  status?: number;
  /**
   * Body: a string is sent as is, anything else as JSON.
   *
   * @default {ALL_ZERO}
   */
  body?: unknown;
  /** Extra response headers, e.g. `{ "Retry-After": "7" }`. */
  headers?: Record<string, string>;
  /**
   * Wait this long (real milliseconds) before answering.
   *
   * @default {0}
   */
  delayMs?: number;
}

/** One request the fake received. */
export interface FakeRequest {
  /** Request path, e.g. `/api/v1/quote`. */
  path: string;
  /** The request target as received: path and query string. */
  target: string;
  /** The `symbol` query parameter, or `null`. */
  symbol: string | null;
  /** Where the key came from. */
  tokenVia: "header" | "query" | "none";
  /** Whether the key was the configured one. */
  authorized: boolean;
  /** When the request arrived, from {@linkcode FakeFinnhubOptions.now}. */
  at: number;
}

/** Options for {@linkcode startFakeFinnhub}. */
export interface FakeFinnhubOptions {
  /** The API key the fake accepts. */
  apiKey: string;
  /**
   * Per-symbol scripts, answered in order; the last step repeats.
   *
   * @default {{}}
   */
  scripts?: Record<string, FakeStep[]>;
  /**
   * Clock that timestamps requests; tests pass their fake clock's `now`.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** A running fake; close it with `await using` or {@linkcode FakeFinnhub.close}. */
export interface FakeFinnhub extends AsyncDisposable {
  /** Base URL to configure a client with, e.g. `http://127.0.0.1:41234/api/v1`. */
  baseUrl: string;
  /** The port the server listens on. */
  port: number;
  /** Every request received, in arrival order. */
  requests: FakeRequest[];
  /** Ends pending delays and stops the server; calling it again is harmless. */
  close(): Promise<void>;
}

/**
 * Builds a plausible Finnhub quote, with `d` and `dp` derived from `c` and
 * `pc`; pass fields to override.
 *
 * @param fields Fields to set, usually `t` and a price or two.
 * @returns The quote body.
 */
export function finnhubQuote(fields: Partial<FinnhubQuote> = {}): FinnhubQuote {
  const c = fields.c ?? 261.74;
  const pc = fields.pc ?? 261.59;
  const d = Math.round((c - pc) * 100) / 100;
  const dp = Math.round(((c - pc) / pc) * 1e6) / 1e4;
  return {
    c,
    d,
    dp,
    h: 263.31,
    l: 260.68,
    o: 261.07,
    pc,
    t: 1_582_641_000,
    ...fields,
  };
}

/**
 * Starts the fake on 127.0.0.1 with a port chosen by the system.
 *
 * @param options The accepted key, the scripts and the request clock.
 * @returns The running fake.
 */
export async function startFakeFinnhub(
  options: FakeFinnhubOptions,
): Promise<FakeFinnhub> {
  const { apiKey, scripts = {}, now = Date.now } = options;
  const requests: FakeRequest[] = [];
  const served = new Map<string, number>();
  const closing = new AbortController();

  const answer = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const header = request.headers.get("X-Finnhub-Token");
    const query = url.searchParams.get("token");
    const token = header ?? query;
    const symbol = url.searchParams.get("symbol");
    const authorized = token === apiKey;
    requests.push({
      path: url.pathname,
      target: url.pathname + url.search,
      symbol,
      tokenVia: header !== null ? "header" : query !== null ? "query" : "none",
      authorized,
      at: now(),
    });

    if (url.pathname !== "/api/v1/quote") {
      return json(404, { error: "Not found." });
    }
    if (request.method !== "GET") {
      return json(405, { error: "Method not allowed." });
    }
    if (!authorized) return json(401, { error: "Invalid API key." });
    if (symbol === null || symbol === "") {
      return json(422, { error: "Missing symbol." });
    }

    const script = scripts[symbol] ?? [];
    const index = served.get(symbol) ?? 0;
    served.set(symbol, index + 1);
    const step: FakeStep = script[Math.min(index, script.length - 1)] ?? {};
    const { status = 200, body = ALL_ZERO, headers = {}, delayMs = 0 } = step;

    if (delayMs > 0) {
      try {
        await sleep(delayMs, closing.signal);
      } catch {
        return new Response(null, { status: 499 }); // nobody is listening
      }
    }
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return new Response(text, {
      status,
      headers: {
        "content-type": "application/json; charset=utf-8",
        ...headers,
      },
    });
  };

  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => resolve(port),
  }, answer);
  const port = await listening;

  let closed: Promise<void> | undefined;
  const close = () => {
    closing.abort();
    return closed ??= server.shutdown();
  };
  return {
    baseUrl: `http://127.0.0.1:${port}/api/v1`,
    port,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function json(status: number, body: unknown): Response {
  return Response.json(body, { status });
}
