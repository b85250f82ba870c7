/**
 * The metrics endpoint: an HTTP server that answers `GET /metrics` with the
 * process's metrics (./registry.ts) in Prometheus' text format, on
 * `METRICS_HOST:METRICS_PORT` when `METRICS_PORT` is set; closed when the
 * task ends.
 *
 * @module
 */
import type { Config } from "../../runtime/config.ts";
import { logger } from "../../runtime/log.ts";
import { metrics, type PipelineMetrics } from "./registry.ts";

const log = logger("metrics");

/** Options for {@linkcode serveMetrics}. */
export interface ServeMetricsOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /**
   * Address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The metrics to serve.
   *
   * @default {metrics}
   */
  source?: PipelineMetrics;
}

/** A running metrics endpoint; `await using` closes it. */
export interface MetricsEndpoint extends AsyncDisposable {
  /** Where Prometheus scrapes it, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Stops listening; scrapes under way finish first. */
  close(): Promise<void>;
}

/**
 * Serves the metrics in Prometheus' text format at `GET /metrics`; any
 * other path answers 404, another method on `/metrics` 405.
 *
 * @param options Port, address and metrics.
 * @returns The running endpoint.
 * @throws {Deno.errors.AddrInUse} When the port is taken, or another error
 * of `Deno.serve` when the address cannot be listened on.
 */
export function serveMetrics(options: ServeMetricsOptions): MetricsEndpoint {
  const { port, hostname = "127.0.0.1", source = metrics } = options;
  const server = Deno.serve(
    { port, hostname, onListen: () => {} },
    (request) => answer(request, source),
  );
  const host = server.addr.hostname.includes(":")
    ? `[${server.addr.hostname}]`
    : server.addr.hostname;
  let closing: Promise<void> | undefined;
  const close = () => closing ??= server.shutdown();
  return {
    url: `http://${host}:${server.addr.port}/metrics`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Serves the metrics where the settings say, when they say to.
 *
 * @param config Settings: `METRICS_PORT` (unset: no endpoint), `METRICS_HOST`.
 * @returns The running endpoint, or `undefined` when `METRICS_PORT` is unset.
 * @throws {Error} When `METRICS_HOST:METRICS_PORT` cannot be listened on
 * (the port is taken, the address is not the machine's).
 */
export function configuredMetricsEndpoint(
  config: Pick<Config, "metricsPort" | "metricsHost">,
): MetricsEndpoint | undefined {
  const { metricsPort: port, metricsHost: hostname } = config;
  if (port === undefined) return undefined;
  let endpoint: MetricsEndpoint;
  try {
    endpoint = serveMetrics({ port, hostname });
  } catch (error) {
    throw new Error(
      `Cannot serve metrics as 'METRICS_PORT' must be a port free to listen on at METRICS_HOST ${hostname}: current value is ${port} (${
        (error as Error).message
      })`,
    );
  }
  metrics.addProcessMetrics();
  log.info("serving metrics", { url: endpoint.url });
  return endpoint;
}

async function answer(
  request: Request,
  source: PipelineMetrics,
): Promise<Response> {
  if (new URL(request.url).pathname !== "/metrics") {
    return new Response("Not found: metrics are at /metrics\n", {
      status: 404,
    });
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed\n", {
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  }
  try {
    return new Response(await source.render(), {
      headers: { "content-type": source.registry.contentType },
    });
  } catch (error) {
    log.warn("cannot render the metrics", { error });
    return new Response("Cannot render the metrics\n", { status: 500 });
  }
}
