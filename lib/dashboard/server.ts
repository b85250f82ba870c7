/**
 * The dashboard's HTTP server (`Deno.serve`), its routes and what it keeps
 * between requests:
 *
 * - `GET /`: the page; `GET /static/…`: its style sheet, modules and icon,
 *   and the chart libraries' modules (./assets.ts);
 * - `GET /api/overview`: KPIs, treemap and volatility (./gold_queries.ts),
 *   or `{"state": "empty"}` while there is no gold yet, with HTTP 200;
 * - `GET /api/candles?symbol=AAPL&timeframe=5m`: one chart's candles;
 * - `GET /api/pipeline`: the pipeline panel (./pipeline.ts);
 * - `GET /api/health`: 200 while the server answers (the compose healthcheck);
 * - `GET /events`: server-sent events when gold or the pipeline changes
 *   (./events.ts, ./watcher.ts).
 *
 * Gold is read once per version and kept until the next: the overview, and
 * each chart asked for, so many open pages cost one read per new copy. An
 * error is a JSON object with one `error` sentence, never an HTML page.
 *
 * @module
 */
import { logger } from "../runtime/log.ts";
import { ASSETS, pageWithImportMap, vendorAsset } from "./assets.ts";
import { eventStream } from "./events.ts";
import {
  type CandleSeries,
  type GoldOverview,
  isTimeframe,
  readCandles,
  readOverview,
  TIMEFRAMES,
} from "./gold_queries.ts";
import type { GoldSource } from "./gold_source.ts";
import type { PipelinePanel } from "./pipeline.ts";
import { ChangeWatcher } from "./watcher.ts";

const log = logger("dashboard");

/** What the page and `/api/overview` say while there is no gold. */
export const NO_DATA =
  "No data yet — start `deno task demo --continuous` or `deno task follow`";

/**
 * How often the pipeline panel is gathered while a page is open, in
 * milliseconds: each gathering lists the lake and reads RAW briefly.
 */
const PIPELINE_EVERY_MS = 5_000;

/** Options for {@linkcode serveDashboard}. */
export interface DashboardServerOptions {
  /** Where gold is read. */
  source: GoldSource;
  /** Gathers the pipeline panel, given the gold overview the page shows. */
  pipeline: (
    gold: () => Promise<GoldOverview | undefined>,
  ) => Promise<PipelinePanel>;
  /** Address to listen on, e.g. `127.0.0.1`. */
  hostname: string;
  /** Port to listen on. */
  port: number;
  /** Stops the server: it closes the event streams and stops listening. */
  signal: AbortSignal;
  /**
   * Clock, epoch milliseconds: the page measures ages against it.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** A running dashboard server. */
export interface DashboardServer {
  /** Its address, e.g. `http://127.0.0.1:8090/`. */
  url: string;
  /** Settles once the server has stopped. */
  finished: Promise<void>;
}

/** A request's failure, with the HTTP status it answers. */
class RequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Starts the server.
 *
 * @param options The gold source, the pipeline panel, the address and the stopping signal.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export async function serveDashboard(
  options: DashboardServerOptions,
): Promise<DashboardServer> {
  const { source, pipeline, hostname, port, signal, now = Date.now } = options;
  const { page, policy } = await pageWithImportMap();
  const gold = goldCache(source);
  const watchers = {
    gold: new ChangeWatcher(() => source.version(), {
      name: "gold",
      everyMs: source.pollMs,
    }),
    pipeline: new ChangeWatcher(
      async () => JSON.stringify(await pipeline(gold.overview)),
      { name: "the pipeline", everyMs: PIPELINE_EVERY_MS },
    ),
  };
  let lastError: string | undefined;

  const routes: Record<string, (url: URL) => Promise<Response> | Response> = {
    "/": () =>
      new Response(page.body, {
        headers: {
          ...COMMON_HEADERS,
          "content-type": page.type,
          "content-security-policy": policy,
          "cache-control": "no-cache",
        },
      }),
    "/api/overview": async () => {
      const version = await source.version();
      const overview = await gold.overview();
      return overview === undefined
        ? json({ state: "empty", version, nowMs: now(), message: NO_DATA })
        : json({ state: "ready", version, nowMs: now(), ...overview });
    },
    "/api/candles": async (url) => {
      const symbol = url.searchParams.get("symbol") ?? "";
      const timeframe = url.searchParams.get("timeframe") ?? "";
      if (symbol === "") {
        throw new RequestError(
          400,
          "Cannot show candles as 'symbol' must name a symbol: current value is none",
        );
      }
      if (!isTimeframe(timeframe)) {
        throw new RequestError(
          400,
          `Cannot show candles as 'timeframe' must be one of ${
            TIMEFRAMES.join(", ")
          }: current value is ${JSON.stringify(timeframe)}`,
        );
      }
      const series = await gold.candles(symbol, timeframe);
      if (series === undefined) {
        throw new RequestError(
          404,
          `Cannot show candles as 'symbol' must be a symbol of gold_latest_kpi: current value is ${
            JSON.stringify(symbol)
          }`,
        );
      }
      return json(series);
    },
    "/api/pipeline": async () => json(await pipeline(gold.overview)),
    "/api/health": async () =>
      json({
        status: "ok",
        gold: await source.version() === undefined ? "empty" : "ready",
        source: source.location,
      }),
    "/events": () => eventStream(watchers, signal),
  };

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    try {
      if (request.method !== "GET") {
        throw new RequestError(
          405,
          `Cannot answer ${request.method} ${url.pathname} as the dashboard answers GET only`,
        );
      }
      const asset = ASSETS.get(url.pathname) ??
        await vendorAsset(url.pathname);
      if (asset) {
        return new Response(asset.body, {
          headers: {
            ...COMMON_HEADERS,
            "content-type": asset.type,
            "cache-control": "no-cache",
          },
        });
      }
      const route = routes[url.pathname];
      if (!route) {
        throw new RequestError(
          404,
          `Cannot find ${url.pathname}: the dashboard serves /, /static/…, /api/overview, /api/candles, /api/pipeline, /api/health and /events`,
        );
      }
      const response = await route(url);
      lastError = undefined;
      return response;
    } catch (error) {
      if (error instanceof RequestError) {
        return json({ error: error.message }, error.status);
      }
      const message = `Cannot read gold from ${source.location}: ${
        error instanceof Error ? error.message : String(error)
      }`;
      // One line per distinct failure, not one per request.
      if (message !== lastError) log.warn(message, { path: url.pathname });
      lastError = message;
      return json({ error: message }, 503);
    }
  };

  const server = Deno.serve({
    hostname,
    port,
    signal,
    onListen: () => {},
  }, handler);
  const url = `http://${
    hostname.includes(":") ? `[${hostname}]` : hostname
  }:${server.addr.port}/`;
  log.info("serving the dashboard", { url, gold: source.location });
  return {
    url,
    finished: server.finished.finally(() => {
      watchers.gold.close();
      watchers.pipeline.close();
    }),
  };
}

const COMMON_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...COMMON_HEADERS,
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

/** Gold's overview and charts, read once per version of gold. */
function goldCache(source: GoldSource) {
  let version: string | undefined;
  let overview: Promise<GoldOverview | undefined> | undefined;
  const candles = new Map<string, Promise<CandleSeries | undefined>>();
  /** Forgets what was read when gold has changed; returns the version. */
  const current = async () => {
    const now = await source.version();
    if (now !== version) {
      version = now;
      overview = undefined;
      candles.clear();
    }
    return now;
  };
  // A failed read is forgotten, so the next request reads again.
  return {
    overview: async (): Promise<GoldOverview | undefined> => {
      if (await current() === undefined) return undefined;
      if (!overview) {
        const read = readOverview(source);
        overview = read;
        read.catch(() => {
          if (overview === read) overview = undefined;
        });
      }
      return await overview;
    },
    candles: async (
      symbol: string,
      timeframe: (typeof TIMEFRAMES)[number],
    ): Promise<CandleSeries | undefined> => {
      if (await current() === undefined) return undefined;
      const key = `${symbol}/${timeframe}`;
      let read = candles.get(key);
      if (!read) {
        const started = readCandles(source, symbol, timeframe);
        started.catch(() => {
          if (candles.get(key) === started) candles.delete(key);
        });
        candles.set(key, started);
        read = started;
      }
      return await read;
    },
  };
}
