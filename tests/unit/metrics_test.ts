import assert from "node:assert/strict";
import type { LandingStats, LandingTallies } from "../../lib/land/sink.ts";
import type { PartitionLag } from "../../lib/land/landing.ts";
import {
  configuredMetricsEndpoint,
  serveMetrics,
} from "../../lib/ops/metrics/endpoint.ts";
import { PipelineMetrics } from "../../lib/ops/metrics/registry.ts";
import type { PublishStats } from "../../lib/produce/publisher.ts";
import { FinnhubSource } from "../../lib/produce/sources/finnhub.ts";
import { FinnhubTradesSource } from "../../lib/produce/sources/finnhub_trades.ts";
import { SimulatedSource } from "../../lib/produce/sources/simulated.ts";
import { loadConfig } from "../../lib/runtime/config.ts";

/** The samples of a text exposition: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

/** The value of one sample, or undefined when the exposition has none. */
async function valueOf(
  metrics: PipelineMetrics,
  series: string,
): Promise<number | undefined> {
  return samples(await metrics.render()).get(series);
}

function landingStats(): LandingStats {
  return {
    consumed: 0,
    events: 0,
    deadLetters: 0,
    objects: 0,
    bytes: 0,
    retries: 0,
  };
}

function emptyTallies(): LandingTallies {
  return { objectsByReason: {}, deadLettersByRule: new Map() };
}

Deno.test("every metric is the pipeline's, documented, with its unit in its name and _total on counters", async () => {
  const metrics = new PipelineMetrics();
  const defined = await metrics.registry.getMetricsAsJSON();
  assert.ok(defined.length >= 17, `${defined.length} metrics`);
  for (const { name, help, type: kind } of defined) {
    const type = String(kind);
    assert.match(name, /^stocks_[a-z_]+$/, name);
    assert.ok(help.length > 20, `${name} has a help text`);
    if (type === "counter") assert.match(name, /_total$/, name);
    else assert.doesNotMatch(name, /_total$/, name);
    if (type === "histogram") assert.match(name, /_seconds$/, name);
    if (type === "gauge") assert.match(name, /_(messages|seconds)$/, name);
  }
  const docs = await Deno.readTextFile(
    new URL("../../docs/metrics.md", import.meta.url),
  );
  for (const { name, type } of defined) {
    assert.match(docs, new RegExp(`\\| \`${name}\` +\\| ${type} `), name);
  }
});

Deno.test("watchPublisher mirrors the publisher's totals at each scrape, and they only grow", async () => {
  const metrics = new PipelineMetrics();
  const stats: PublishStats = { published: 0, rejected: 0 };
  const stop = metrics.watchPublisher("stock-quotes", "replay", stats);
  const published = 'stocks_events_published_total{topic="stock-quotes"}';
  const rejects = 'stocks_source_rejects_total{source="replay"}';
  assert.equal(await valueOf(metrics, published), 0, "a series from the start");
  stats.published += 500;
  stats.rejected += 2;
  assert.equal(await valueOf(metrics, published), 500);
  assert.equal(await valueOf(metrics, rejects), 2);
  stats.published += 20;
  stop();
  stats.published += 1000;
  assert.equal(
    await valueOf(metrics, published),
    520,
    "read once more when unwatched, never after",
  );
  // A second run in the same process adds to the counter.
  const again: PublishStats = { published: 7, rejected: 0 };
  metrics.watchPublisher("stock-quotes", "replay", again);
  assert.equal(await valueOf(metrics, published), 527);
});

Deno.test("watchLanding mirrors landed events, dead letters by field and rule, objects by reason, and reads the lag at each scrape", async () => {
  const metrics = new PipelineMetrics();
  const stats = landingStats();
  const tallies = emptyTallies();
  let lag: PartitionLag[] = [
    { partition: 0, messages: 12 },
    { partition: 1, messages: 0 },
  ];
  metrics.watchLanding("stock-quotes", {
    sink: { stats, tallies },
    lag: () => Promise.resolve(lag),
  });
  stats.events = 4_990;
  stats.bytes = 12_345;
  tallies.objectsByReason.age = 3;
  tallies.objectsByReason.count = 1;
  tallies.deadLettersByRule.set("c\u0000must be a finite number > 0", {
    field: "c",
    rule: "must be a finite number > 0",
    count: 10,
  });
  let found = samples(await metrics.render());
  assert.equal(
    found.get('stocks_events_landed_total{topic="stock-quotes"}'),
    4_990,
  );
  assert.equal(
    found.get('stocks_lake_written_bytes_total{topic="stock-quotes"}'),
    12_345,
  );
  assert.equal(
    found.get(
      'stocks_lake_objects_written_total{topic="stock-quotes",reason="age"}',
    ),
    3,
  );
  assert.equal(
    found.get(
      'stocks_dead_letters_total{topic="stock-quotes",field="c",rule="must be a finite number > 0"}',
    ),
    10,
  );
  assert.equal(
    found.get(
      'stocks_consumer_lag_messages{topic="stock-quotes",partition="0"}',
    ),
    12,
  );
  lag = [{ partition: 0, messages: 3 }];
  found = samples(await metrics.render());
  assert.equal(
    found.get(
      'stocks_consumer_lag_messages{topic="stock-quotes",partition="0"}',
    ),
    3,
  );
  assert.equal(
    found.get(
      'stocks_consumer_lag_messages{topic="stock-quotes",partition="1"}',
    ),
    undefined,
    "a partition no longer read is left out",
  );
});

Deno.test("a landing whose lag cannot be read is left out of the scrape; the others are served", async () => {
  const metrics = new PipelineMetrics();
  metrics.watchLanding("stock-quotes", {
    sink: { stats: landingStats(), tallies: emptyTallies() },
    lag: () => Promise.reject(new Error("broker down")),
  });
  metrics.watchLanding("stock-trades", {
    sink: { stats: landingStats(), tallies: emptyTallies() },
    lag: () => Promise.resolve([{ partition: 2, messages: 5 }]),
  });
  const found = samples(await metrics.render());
  assert.equal(
    found.get(
      'stocks_consumer_lag_messages{topic="stock-trades",partition="2"}',
    ),
    5,
  );
  assert.ok(
    ![...found.keys()].some((key) =>
      key.startsWith('stocks_consumer_lag_messages{topic="stock-quotes"')
    ),
  );
});

Deno.test("watchSource counts the Finnhub source's calls and 429s, the trades WebSocket's reconnects, and nothing of other sources", async () => {
  const metrics = new PipelineMetrics();
  const finnhub = new FinnhubSource({ apiKey: "test-key", symbols: ["AAPL"] });
  const trades = new FinnhubTradesSource({
    apiKey: "test-key",
    symbols: ["AAPL"],
  });
  const simulated = new SimulatedSource({ symbols: ["AAPL"] });
  metrics.watchSource(finnhub);
  metrics.watchSource(trades);
  metrics.watchSource(simulated);
  finnhub.stats.counts = { requests: 9 };
  finnhub.stats.skipped.rate_limited = 2;
  finnhub.stats.skipped.all_zero = 4;
  trades.stats.counts = { ...trades.stats.counts, reconnects: 3 };
  const found = samples(await metrics.render());
  assert.equal(found.get("stocks_finnhub_requests_total"), 9);
  assert.equal(
    found.get('stocks_finnhub_request_failures_total{reason="rate_limited"}'),
    2,
  );
  assert.equal(
    found.get('stocks_finnhub_request_failures_total{reason="timeout"}'),
    0,
    "every reason is a series from the start",
  );
  assert.equal(found.get("stocks_finnhub_ws_reconnects_total"), 3);
  assert.ok(
    ![...found.keys()].some((key) => key.includes("all_zero")),
    "skipped answers are not failures",
  );
});

Deno.test("the cycle's loads, dbt runs, freshness and as-of times are recorded in seconds", async () => {
  const metrics = new PipelineMetrics();
  metrics.countLoaded("stock-quotes", 120, 1);
  metrics.countLoaded("stock-quotes", 30, 0);
  metrics.observeLoad("stock-quotes", 40);
  metrics.observeDbtRun("run", 2_500);
  metrics.observeFreshness("gold", 3_200);
  metrics.setAsOf("gold", 1_764_600_000_000);
  const found = samples(await metrics.render());
  assert.equal(
    found.get('stocks_events_loaded_total{topic="stock-quotes"}'),
    150,
  );
  assert.equal(
    found.get('stocks_load_refused_lines_total{topic="stock-quotes"}'),
    1,
  );
  assert.equal(
    found.get(
      'stocks_load_duration_seconds_bucket{le="0.05",topic="stock-quotes"}',
    ),
    1,
  );
  assert.equal(
    found.get('stocks_dbt_run_duration_seconds_sum{command="run"}'),
    2.5,
  );
  assert.equal(
    found.get('stocks_freshness_seconds_bucket{le="3",layer="gold"}'),
    0,
  );
  assert.equal(
    found.get('stocks_freshness_seconds_bucket{le="5",layer="gold"}'),
    1,
  );
  assert.equal(
    found.get('stocks_layer_as_of_timestamp_seconds{layer="gold"}'),
    1_764_600_000,
  );
});

Deno.test("serveMetrics answers GET /metrics in Prometheus' text format, 404 elsewhere, and stops when closed", async () => {
  const metrics = new PipelineMetrics();
  metrics.countLoaded("stock-quotes", 3, 0);
  const endpoint = serveMetrics({ port: 0, source: metrics });
  try {
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await fetch(endpoint.url);
    assert.equal(response.status, 200);
    assert.match(
      response.headers.get("content-type") ?? "",
      /^text\/plain; version=0\.0\.4/,
    );
    const text = await response.text();
    assert.match(text, /^# TYPE stocks_events_loaded_total counter$/m);
    assert.match(
      text,
      /^stocks_events_loaded_total\{topic="stock-quotes"\} 3$/m,
    );
    const elsewhere = await fetch(new URL("/", endpoint.url));
    assert.equal(elsewhere.status, 404);
    await elsewhere.body?.cancel();
    const posted = await fetch(endpoint.url, { method: "POST" });
    assert.equal(posted.status, 405);
    await posted.body?.cancel();
  } finally {
    await endpoint.close();
  }
  await assert.rejects(fetch(endpoint.url), TypeError);
});

Deno.test("configuredMetricsEndpoint serves nothing without METRICS_PORT, and names METRICS_PORT when its port is taken", () => {
  assert.equal(configuredMetricsEndpoint(loadConfig({})), undefined);
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  assert.throws(
    () => configuredMetricsEndpoint(loadConfig({ METRICS_PORT: String(port) })),
    (error: Error) => {
      assert.match(
        error.message,
        new RegExp(
          `^Cannot serve metrics as 'METRICS_PORT' must be a port free to listen on at METRICS_HOST 127\\.0\\.0\\.1: current value is ${port} \\(`,
        ),
      );
      return true;
    },
  );
});

Deno.test("METRICS_PORT must be a port number; METRICS_HOST is loopback unless set", () => {
  assert.equal(loadConfig({}).metricsPort, undefined);
  assert.equal(loadConfig({}).metricsHost, "127.0.0.1");
  assert.equal(loadConfig({ METRICS_PORT: "9464" }).metricsPort, 9464);
  for (const text of ["0", "65536", "http", "94.64"]) {
    assert.throws(
      () => loadConfig({ METRICS_PORT: text }),
      new RangeError(
        `Cannot read configuration as 'METRICS_PORT' must be a port number from 1 to 65535: current value is ${
          JSON.stringify(text)
        }`,
      ),
    );
  }
});
