/**
 * `deno task follow` as a service on the embedded defaults: quotes landed
 * while it runs reach gold_latest_kpi, read through the gold copy (the test
 * never opens the warehouse while the service runs); SIGTERM ends it with
 * exit 0; kill -9 in the middle of a load and of a dbt run, then a restart,
 * loses nothing and doubles nothing (reconcile, and RAW's coordinates).
 * And the same service on Kafka and MinIO, the configured lake.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { FollowStatus } from "../../lib/app/follow_status.ts";
import { openLake } from "../../lib/app/wiring.ts";
import { loadConfig } from "../../lib/runtime/config.ts";
import { decodeLines } from "../../lib/lake/ndjson.ts";
import {
  assertSuccess,
  run,
  spawn,
  type Spawned,
  stateIn,
  SYMBOLS,
  withWarehouse,
} from "../_helpers.ts";
import { scenario } from "../_streaming.ts";
import { until } from "../_wait.ts";

/** Now, in epoch seconds. */
function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** The service's settings in `dir`, with a fast cycle. */
function followEnv(dir: string, extra: Record<string, string> = {}) {
  return {
    ...stateIn(dir),
    FOLLOW_STATUS_PATH: `${dir}/follow_status.json`,
    FOLLOW_CYCLE_MS: "250",
    LOG_FORMAT: "json",
    ...extra,
  };
}

/**
 * Publishes `count` quotes of the default symbols from a replay file, so the
 * quote times are set here: from `from` (epoch seconds), one second apart
 * for each symbol; then lands them in the lake.
 */
async function land(
  dir: string,
  env: Record<string, string>,
  from: number,
  count: number,
): Promise<void> {
  const lines = Array.from({ length: count }, (_, i) => {
    const t = from + Math.floor(i / SYMBOLS.length);
    const c = 100 + (i % 97) / 10;
    return JSON.stringify({
      symbol: SYMBOLS[i % SYMBOLS.length],
      c,
      d: Math.round((c - 100) * 100) / 100,
      dp: Math.round((c - 100) * 100) / 100,
      h: c,
      l: c,
      o: c,
      pc: 100,
      t,
      fetched_at: t * 1000 + 250,
      source: "simulated",
    });
  });
  const file = join(dir, `quotes-${from}.ndjson`);
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  assertSuccess(
    await run("producer.ts", ["--source", "replay", "--file", file], env),
    "produce",
  );
  assertSuccess(await run("consumer.ts", ["--drain"], env), "consume --drain");
}

/** Each symbol's latest quote time (epoch seconds) among the landed events. */
async function landedLatest(
  env: Record<string, string>,
): Promise<Map<string, number>> {
  const lake = openLake(loadConfig(env));
  const latest = new Map<string, number>();
  for await (
    const object of lake.list(`${env.KAFKA_TOPIC ?? "stock-quotes"}/`)
  ) {
    for (const line of await decodeLines(await lake.get(object.key))) {
      const { symbol, t } = JSON.parse(line);
      latest.set(symbol, Math.max(latest.get(symbol) ?? 0, t));
    }
  }
  return latest;
}

/** Each symbol's quote time in the gold copy's gold_latest_kpi, if it exists. */
async function goldCopyLatest(dir: string): Promise<Map<string, number>> {
  try {
    return await withWarehouse(
      `${dir}/gold_copy.duckdb`,
      async (query) =>
        new Map(
          (await query(
            "select symbol, epoch(quote_ts)::bigint from gold.gold_latest_kpi",
          )).map(([symbol, t]) => [symbol as string, Number(t)]),
        ),
    );
  } catch {
    return new Map(); // not published yet
  }
}

/** Waits until the gold copy shows each symbol's latest landed quote. */
async function untilGoldHasLanded(
  dir: string,
  env: Record<string, string>,
  service: Spawned,
) {
  const wanted = await landedLatest(env);
  assert.equal(wanted.size, SYMBOLS.length);
  await until(async () => {
    const gold = await goldCopyLatest(dir);
    return [...wanted].every(([symbol, t]) => gold.get(symbol) === t);
  }, {
    timeoutMs: 120_000,
    intervalMs: 200,
    what: "the gold copy to show the landed quotes",
  }).catch(async (error) => {
    service.child.kill("SIGKILL");
    throw new Error(`${error.message}\n${(await service.finished).stderr}`);
  });
}

/** Waits for the service to exit, killing it and failing after a deadline. */
async function exited(service: Spawned, timeoutMs = 60_000) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      service.child.kill("SIGKILL");
      reject(new Error(`follow did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([service.finished, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readStatus(dir: string): Promise<FollowStatus | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/follow_status.json`));
  } catch {
    return undefined;
  }
}

/** Waits until this service's status file says what `ready` wants. */
async function untilStatus(
  dir: string,
  service: Spawned,
  ready: (status: FollowStatus) => boolean,
  what: string,
) {
  await until(async () => {
    const status = await readStatus(dir);
    return status?.pid === service.child.pid && ready(status);
  }, { timeoutMs: 120_000, intervalMs: 10, what });
}

/** RAW's rows and distinct stream coordinates, and the landed events. */
async function rawCounts(dir: string) {
  return await withWarehouse(`${dir}/warehouse.duckdb`, async (query) => {
    const [[rows, coordinates]] = await query(`
      select count(*), count(distinct (stream_id, stream_topic, stream_partition, stream_offset))
      from raw.source_stock_quotes`);
    return { rows: Number(rows), coordinates: Number(coordinates) };
  });
}

/** Reconcile's verdict: every landed event in RAW and silver once. */
async function assertReconciled(env: Record<string, string>) {
  const report = await run("scripts/reconcile.ts", ["--json"], env);
  assertSuccess(report, "reconcile");
}

Deno.test({
  name:
    "follow keeps gold fresh while quotes land, and stops on SIGTERM with exit 0, each event in RAW once",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "follow-test-" });
    const env = followEnv(dir);
    try {
      const service = spawn("follow.ts", [], env);
      await land(dir, env, nowSeconds() - 1500, 100);
      await untilGoldHasLanded(dir, env, service);
      // More quotes land while it runs.
      await land(dir, env, nowSeconds() - 1200, 150);
      await untilGoldHasLanded(dir, env, service);

      // Healthy while it runs, as the compose healthcheck asks.
      const healthy = await run("follow.ts", ["--status"], env);
      assertSuccess(healthy, "follow --status");
      assert.equal(JSON.parse(healthy.stdout).rows, 250);

      service.child.kill("SIGTERM");
      const stopped = await exited(service);
      assertSuccess(stopped, "follow after SIGTERM");
      const logs = stopped.stderr.split("\n").filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l));
      const last = logs.find((r) => r.msg === "stopped");
      assert.ok(last, stopped.stderr);
      assert.equal(last.rows, 250);
      assert.ok(last.dbt_runs >= 2, `dbt runs: ${last.dbt_runs}`);
      // Quiet: a start line, the stopping signal, the stop line.
      assert.ok(
        logs.filter((r) => r.level === "info").length <= 4,
        stopped.stderr,
      );

      assert.deepEqual(await rawCounts(dir), { rows: 250, coordinates: 250 });
      await assertReconciled(env);
      // Once stopped, the healthcheck fails.
      const after = await run("follow.ts", ["--status"], env);
      assert.equal(after.code, 1);
      assert.match(
        after.stderr,
        /Cannot report the follow service healthy as it stopped at /,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "follow killed with SIGKILL in a load and in a dbt run restarts where it was: nothing lost, nothing twice",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "follow-test-" });
    // One object per transaction: a load of many transactions.
    const env = followEnv(dir, { LOAD_MAX_FILES: "1" });
    const backlog = 2000;
    const total = backlog + 50;
    try {
      // A consumer landing a 4 s stream every 100 ms: about 100 objects.
      const consumer = spawn("consumer.ts", [], {
        ...env,
        FLUSH_MAX_AGE_MS: "100",
      });
      assertSuccess(
        await run("producer.ts", [
          "--count",
          String(backlog),
          "--rate",
          "500",
        ], env),
        "produce",
      );
      consumer.child.kill("SIGTERM");
      assertSuccess(await exited(consumer), "consume");
      assertSuccess(
        await run("consumer.ts", ["--drain"], env),
        "consume --drain",
      );

      // 1. Killed in the middle of its first load.
      let service = spawn("follow.ts", [], env);
      await untilStatus(
        dir,
        service,
        (status) =>
          status.step === "load" && status.cycles === 0 && status.objects > 0,
        "its first load under way, a transaction committed",
      );
      service.child.kill("SIGKILL");
      assert.equal((await exited(service)).code, 137);
      const { rows } = await rawCounts(dir);
      assert.ok(0 < rows && rows < backlog, `killed in the load: ${rows} rows`);

      // 2. Restarted, then killed in the middle of a dbt run.
      service = spawn("follow.ts", [], env);
      await untilStatus(
        dir,
        service,
        (status) => status.step === "transform",
        "a dbt run under way",
      );
      service.child.kill("SIGKILL");
      assert.equal((await exited(service)).code, 137);

      // 3. Restarted: it waits for the killed run's dbt, if still on the
      // file, then goes on; more quotes land.
      service = spawn("follow.ts", [], env);
      await untilGoldHasLanded(dir, env, service);
      // Quotes after the simulated ones, which end at the clock.
      await land(dir, env, nowSeconds() + 5, 50);
      await untilGoldHasLanded(dir, env, service);
      service.child.kill("SIGTERM");
      assertSuccess(await exited(service), "follow after SIGTERM");

      assert.deepEqual(await rawCounts(dir), {
        rows: total,
        coordinates: total,
      });
      await assertReconciled(env);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "follow on Kafka and MinIO loads from the configured bucket and stops on SIGTERM, each event once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { dir, env: services } = await scenario("follow");
    const env = followEnv(dir, services);
    try {
      const service = spawn("follow.ts", [], env);
      await land(dir, env, nowSeconds() - 1500, 200);
      await untilGoldHasLanded(dir, env, service);
      service.child.kill("SIGTERM");
      const stopped = await exited(service);
      assertSuccess(stopped, "follow after SIGTERM");
      assert.match(stopped.stderr, /"lake":"s3:\/\//);
      assert.deepEqual(await rawCounts(dir), { rows: 200, coordinates: 200 });
      await assertReconciled(env);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
