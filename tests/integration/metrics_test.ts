/**
 * The metrics on a real Prometheus: Debian's `prometheus` package (installed
 * with apt-get when missing), started natively on loopback. promtool checks
 * the committed configuration and alert rules (deploy/prometheus/) and
 * proves each rule on given series; a Prometheus scraping a producer, a
 * consumer and follow on Kafka and MinIO finds the pipeline's series with
 * counters that grow; and with the committed rules, only `for:` shortened,
 * the freshness alert fires once follow stops while quotes keep coming.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureDebianPackages } from "../../dev/debian.ts";
import {
  ROOT,
  type Run,
  runProgram,
  spawn,
  type Spawned,
} from "../_helpers.ts";
import { scenario } from "../_streaming.ts";
import { until } from "../_wait.ts";

const DEPLOY = join(ROOT, "deploy", "prometheus");
const RULES = join(DEPLOY, "alerts.yml");

/** Prometheus and promtool, from Debian's package. */
async function prometheusPrograms() {
  const [prometheus, promtool] = await ensureDebianPackages([
    { name: "prometheus", program: "/usr/bin/prometheus" },
    { name: "prometheus", program: "/usr/bin/promtool" },
  ]);
  return { prometheus, promtool };
}

/** A port free on loopback now. */
function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/** Runs promtool, returning its exit code and output. */
async function promtool(args: string[]) {
  const { promtool } = await prometheusPrograms();
  const run = await runProgram(promtool, args, {
    cwd: ROOT,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  });
  return { ...run, output: `${run.stdout}\n${run.stderr}` };
}

Deno.test("promtool passes the committed configuration and alert rules, and the compose image is the tested Prometheus", async () => {
  const rules = await promtool(["check", "rules", RULES]);
  assert.equal(rules.code, 0, rules.output);
  assert.match(rules.output, /SUCCESS: 4 rules found/);
  const config = await promtool([
    "check",
    "config",
    join(DEPLOY, "prometheus.yml"),
  ]);
  assert.equal(config.code, 0, config.output);
  const { prometheus } = await prometheusPrograms();
  const said = await runProgram(prometheus, ["--version"], { env: {} });
  // Debian's build says `2.42.0+ds`: the upstream version, then its own mark.
  const version = `${said.stdout}${said.stderr}`.match(
    /^prometheus, version (\d+\.\d+\.\d+)/m,
  )?.[1];
  assert.ok(version, `${said.stdout}${said.stderr}`);
  const compose = await Deno.readTextFile(join(ROOT, "docker-compose.yml"));
  assert.match(
    compose,
    new RegExp(`^    image: prom/prometheus:v${version}$`, "m"),
    `docker-compose.yml runs Prometheus ${version}, as the tests do`,
  );
});

/**
 * Given series and what each alert must say of them, for
 * `promtool test rules`: every rule fires where it should and only there.
 */
const RULE_TESTS = {
  rule_files: [RULES],
  evaluation_interval: "15s",
  tests: [{
    interval: "15s",
    input_series: [
      // follow reports gold complete as of each scrape for a minute, then is gone.
      {
        series:
          'stocks_layer_as_of_timestamp_seconds{layer="gold",instance="follow:9464",job="stocks-pipeline"}',
        values: "0+15x4",
      },
      {
        series:
          'stocks_consumer_lag_messages{topic="stock-quotes",partition="0"}',
        values: "150000x30",
      },
      {
        series:
          'stocks_consumer_lag_messages{topic="stock-quotes",partition="1"}',
        values: "50000x30",
      },
      {
        series:
          'stocks_consumer_lag_messages{topic="stock-trades",partition="0"}',
        values: "90000x30",
      },
      // 10 dead letters and 100 events every 15 s on quotes; 1 in 1,001 on trades.
      {
        series:
          'stocks_dead_letters_total{topic="stock-quotes",field="c",rule="must be a finite number > 0"}',
        values: "0+10x60",
      },
      {
        series: 'stocks_events_landed_total{topic="stock-quotes"}',
        values: "0+100x60",
      },
      {
        series:
          'stocks_dead_letters_total{topic="stock-trades",field="v",rule="must be a finite number >= 0"}',
        values: "0+1x60",
      },
      {
        series: 'stocks_events_landed_total{topic="stock-trades"}',
        values: "0+1000x60",
      },
      {
        series: 'up{job="stocks-pipeline",instance="consumer:9464"}',
        values: "1 1 0x20",
      },
      {
        series: 'up{job="stocks-pipeline",instance="follow:9464"}',
        values: "1x20",
      },
    ],
    alert_rule_test: [
      { eval_time: "1m", alertname: "GoldNotFresh", exp_alerts: [] },
      {
        eval_time: "4m",
        alertname: "GoldNotFresh",
        exp_alerts: [{
          exp_labels: { severity: "page" },
          exp_annotations: { summary: "Gold is 3m 0s behind the lake" },
        }],
      },
      { eval_time: "4m", alertname: "ConsumerLagHigh", exp_alerts: [] },
      {
        eval_time: "6m",
        alertname: "ConsumerLagHigh",
        exp_alerts: [{
          exp_labels: { severity: "page", topic: "stock-quotes" },
          exp_annotations: {
            summary: "The landing of stock-quotes is 200k messages behind",
          },
        }],
      },
      { eval_time: "9m", alertname: "DeadLetterRateHigh", exp_alerts: [] },
      {
        eval_time: "12m",
        alertname: "DeadLetterRateHigh",
        exp_alerts: [{
          exp_labels: { severity: "ticket", topic: "stock-quotes" },
          exp_annotations: {
            summary: "9.091% of stock-quotes is dead-lettered",
          },
        }],
      },
      {
        eval_time: "3m",
        alertname: "PipelineTargetDown",
        exp_alerts: [{
          exp_labels: {
            severity: "page",
            job: "stocks-pipeline",
            instance: "consumer:9464",
          },
          exp_annotations: { summary: "consumer:9464 is down" },
        }],
      },
    ],
  }],
};

Deno.test("promtool proves each alert rule on given series: each fires where it should and only there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metrics-rules-" });
  try {
    // JSON is YAML: promtool reads the test file as written here.
    const file = join(dir, "alerts_test.yml");
    await Deno.writeTextFile(file, JSON.stringify(RULE_TESTS, null, 2));
    const run = await promtool(["test", "rules", file]);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /SUCCESS/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The committed rules with every `for:` set to 0 s: same expressions, no waiting. */
async function rulesWithoutWaiting(): Promise<string> {
  const committed = await Deno.readTextFile(RULES);
  const alerts = committed.match(/^\s+- alert: /gm)?.length ?? 0;
  let changed = 0;
  const edited = committed.replace(/^(\s+)for: \S+$/gm, (_, indent) => {
    changed++;
    return `${indent}for: 0s`;
  });
  assert.ok(alerts > 0);
  assert.equal(
    changed,
    alerts,
    "each alert has its `for:` on a line of its own",
  );
  return edited;
}

/** A Prometheus on loopback, scraping `targets` every second with the rules given. */
async function startPrometheus(
  dir: string,
  targets: string[],
  rules: string,
) {
  const { prometheus } = await prometheusPrograms();
  const port = freePort();
  await Deno.writeTextFile(join(dir, "alerts.yml"), rules);
  await Deno.writeTextFile(
    join(dir, "prometheus.yml"),
    JSON.stringify({
      global: {
        scrape_interval: "1s",
        scrape_timeout: "1s",
        evaluation_interval: "1s",
      },
      rule_files: ["alerts.yml"],
      scrape_configs: [{
        job_name: "stocks-pipeline",
        static_configs: [{ targets }],
      }],
    }),
  );
  const child = new Deno.Command(prometheus, {
    args: [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const output = new Response(child.stderr).text();
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  child.status.then(() => exited = true);
  try {
    await until(async () => {
      if (exited) throw new Error("Prometheus exited");
      try {
        const response = await fetch(`${url}/-/ready`);
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    }, { timeoutMs: 30_000, intervalMs: 100, what: "Prometheus to be ready" });
  } catch (error) {
    if (!exited) child.kill("SIGKILL");
    throw new Error(
      `Cannot start Prometheus: ${(error as Error).message}\n${await output}`,
    );
  }
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await output;
    },
  };
}

/** One instant query's result: each series' labels and value. */
async function query(
  url: string,
  promql: string,
): Promise<{ metric: Record<string, string>; value: number }[]> {
  const response = await fetch(
    `${url}/api/v1/query?query=${encodeURIComponent(promql)}`,
  );
  const body = await response.json();
  assert.equal(body.status, "success", JSON.stringify(body));
  return body.data.result.map((
    r: { metric: Record<string, string>; value: [number, string] },
  ) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** The single value of a query, or undefined when it has none. */
async function scalar(url: string, promql: string) {
  const [first] = await query(url, promql);
  return first?.value;
}

/** The alerts Prometheus has pending or firing: name and state. */
async function alerts(url: string): Promise<Map<string, string>> {
  const body = await (await fetch(`${url}/api/v1/alerts`)).json();
  return new Map(
    body.data.alerts.map((
      a: { labels: { alertname: string }; state: string },
    ) => [a.labels.alertname, a.state]),
  );
}

/** Stops a task with SIGTERM and waits for it; returns what it printed. */
async function stopTask(task: Spawned) {
  try {
    task.child.kill("SIGTERM");
  } catch {
    // already gone
  }
  return await task.finished;
}

Deno.test({
  name:
    "Prometheus scrapes a producer, a consumer and follow: the pipeline's series are there, the counters grow, and GoldNotFresh fires once follow stops",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { env, topic, dir } = await scenario("metrics");
    const ports = {
      producer: freePort(),
      consumer: freePort(),
      follow: freePort(),
    };
    const task = (script: string, args: string[], port: number) =>
      spawn(script, args, {
        ...env,
        METRICS_PORT: String(port),
        LOG_FORMAT: "json",
      });
    const tasks: Spawned[] = [];
    let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    try {
      tasks.push(
        task(
          "producer.ts",
          ["--source", "simulated", "--rate", "20"],
          ports.producer,
        ),
        task("consumer.ts", ["--kind", "quotes"], ports.consumer),
      );
      const follow = spawn("follow.ts", [], {
        ...env,
        METRICS_PORT: String(ports.follow),
        FOLLOW_STATUS_PATH: join(dir, "follow_status.json"),
        FOLLOW_CYCLE_MS: "250",
        LOG_FORMAT: "json",
      });
      tasks.push(follow);
      prometheus = await startPrometheus(
        dir,
        Object.values(ports).map((port) => `127.0.0.1:${port}`),
        await rulesWithoutWaiting(),
      );
      const { url } = prometheus;
      const ended: Run[] = [];
      for (const t of tasks) t.finished.then((run) => ended.push(run));

      // Gold catches up: follow has loaded and built, and said so.
      const goldAge =
        'time() - max(stocks_layer_as_of_timestamp_seconds{layer="gold"})';
      await until(async () => {
        if (ended.length > 0) {
          throw new Error(`a task ended:\n${ended[0].stderr}`);
        }
        const age = await scalar(url, goldAge);
        return age !== undefined && age < 10;
      }, {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: "gold within 10 s of the lake",
      });

      // Every task is up, and each kind of series is there.
      const up = await query(url, 'up{job="stocks-pipeline"}');
      assert.deepEqual(up.map((s) => s.value), [1, 1, 1]);
      const on = `{topic="${topic}"}`;
      for (
        const series of [
          `stocks_events_published_total${on}`,
          `stocks_source_rejects_total{source="simulated"}`,
          `stocks_events_landed_total${on}`,
          `stocks_lake_objects_written_total{topic="${topic}",reason="age"}`,
          `stocks_lake_written_bytes_total${on}`,
          `stocks_events_loaded_total${on}`,
          `stocks_load_duration_seconds_count${on}`,
          `stocks_dbt_run_duration_seconds_count{command="seed"}`,
          `stocks_freshness_seconds_count{layer="raw"}`,
          `stocks_freshness_seconds_count{layer="gold"}`,
          `stocks_layer_as_of_timestamp_seconds{layer="raw"}`,
          "process_resident_memory_bytes",
        ]
      ) {
        await until(async () => (await query(url, series)).length > 0, {
          timeoutMs: 10_000,
          intervalMs: 250,
          what: series,
        });
      }
      const lag = await query(url, `stocks_consumer_lag_messages${on}`);
      assert.deepEqual(
        lag.map((s) => s.metric.partition).sort(),
        ["0", "1", "2"],
        "one lag per partition",
      );
      assert.ok(
        (await scalar(url, `sum(stocks_dead_letters_total${on})`) ?? 0) === 0,
      );

      // The counters grow between two queries.
      for (
        const counter of [
          "stocks_events_published_total",
          "stocks_events_landed_total",
          "stocks_events_loaded_total",
        ]
      ) {
        const first = await scalar(url, `sum(${counter}${on})`);
        assert.ok(first !== undefined && first > 0, `${counter}: ${first}`);
        await until(
          async () => (await scalar(url, `sum(${counter}${on})`) ?? 0) > first,
          { timeoutMs: 30_000, intervalMs: 250, what: `${counter} to grow` },
        );
      }

      // While follow keeps up, the alert is quiet (a slow build on a busy
      // machine may hold gold back for a moment: wait it out).
      await until(
        async () => (await alerts(url)).get("GoldNotFresh") === undefined,
        { timeoutMs: 60_000, intervalMs: 250, what: "GoldNotFresh quiet" },
      );

      // Stop the loader; quotes keep being published and landed.
      const stopped = await stopTask(follow);
      assert.equal(stopped.code, 0, stopped.stderr);
      const landed = await scalar(url, `sum(stocks_events_landed_total${on})`);
      await until(
        async () => (await alerts(url)).get("GoldNotFresh") === "firing",
        {
          timeoutMs: 90_000,
          intervalMs: 500,
          what: "GoldNotFresh to fire",
        },
      );
      assert.ok(
        (await scalar(url, `sum(stocks_events_landed_total${on})`) ?? 0) >
          (landed ?? 0),
        "quotes kept landing while gold went stale",
      );
      // follow's series ended with it: a rule on its last value would be silent.
      assert.equal(await scalar(url, goldAge), undefined);
      const lastAsOf =
        'max(max_over_time(stocks_layer_as_of_timestamp_seconds{layer="gold"}[1h]))';
      assert.ok((await scalar(url, `time() - ${lastAsOf}`) ?? 0) > 30);
      assert.equal((await alerts(url)).get("PipelineTargetDown"), "firing");
    } finally {
      await prometheus?.stop();
      for (const run of await Promise.all(tasks.map(stopTask))) {
        if (run.code !== 0) console.error(run.stderr);
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
