/**
 * `deno task status` tells the truth about a pipeline that lags: on real
 * Kafka and MinIO, a run that landed and loaded only part of its stream
 * gets the exact offsets Kafka itself reports, the exact lag, and an exit
 * code that follows the lag threshold; on the embedded defaults, the same
 * numbers, and a warehouse file held by a writer is reported, by its
 * holder, instead of waited for; a broker that cannot be reached is an error
 * with an exit code of its own.
 */
import assert from "node:assert/strict";
import type { PipelineStatus, StatusVerdict } from "../../lib/ops/status.ts";
import { assertSuccess, ROOT, type Run, run, stateIn } from "../_helpers.ts";
import { scenario, withAdmin } from "../_streaming.ts";

type StatusJson = PipelineStatus & { verdict: StatusVerdict };

/** Runs `deno task status --json` with `args`; returns its exit code and report. */
async function status(
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number; report: StatusJson; run: Run }> {
  const result = await run("scripts/status.ts", ["--json", ...args], env);
  assert.ok(
    result.code === 0 || result.code === 1,
    `status failed (${result.code}):\n${result.stderr}\n${result.stdout}`,
  );
  return { code: result.code, report: JSON.parse(result.stdout), run: result };
}

/** Sums a field of a kind's partitions (unknown as 0). */
function total(
  report: StatusJson,
  kind: string,
  field: "end" | "committed" | "landed" | "loaded" | "streamLag" | "loadLag",
): number {
  const found = report.kinds.find((k) => k.kind === kind);
  assert.ok(found, `kind ${kind} reported`);
  return found.partitions.reduce((n, p) => n + (p[field] ?? 0), 0);
}

function produce(env: Record<string, string>, count: number, trades = false) {
  return run("producer.ts", [
    ...(trades ? ["--source", "simulated-trades"] : []),
    "--count",
    String(count),
    "--rate",
    "100000",
  ], env);
}

Deno.test({
  name:
    "status on real Kafka and MinIO reports the offsets Kafka reports, a lag of exactly the events not landed or not loaded, and exits 1 only past the lag threshold",
  sanitizeResources: false,
  async fn() {
    const { env: base, topic, dir } = await scenario("status");
    const env = { ...base, FOLLOW_STATUS_PATH: `${dir}/follow_status.json` };
    // 300 quotes and 120 trades landed, loaded and built.
    assertSuccess(await produce(env, 300), "produce quotes");
    assertSuccess(await produce(env, 120, true), "produce trades");
    assertSuccess(await run("consumer.ts", ["--drain"], env), "consume");
    assertSuccess(await run("loader.ts", [], env), "load");
    assertSuccess(
      await run("scripts/transform.ts", ["build"], env),
      "dbt build",
    );
    // 50 more quotes landed, not loaded; then 40 more, not landed.
    assertSuccess(await produce(env, 50), "produce 50 quotes");
    assertSuccess(await run("consumer.ts", ["--drain"], env), "consume 50");
    assertSuccess(await produce(env, 40), "produce 40 quotes");

    const { code, report } = await status(env, [
      "--max-lag",
      "89",
      "--max-freshness",
      "3600",
    ]);
    assert.equal(code, 1, "90 messages behind, more than 89");
    const quotes = report.kinds.find((k) => k.kind === "quotes")!;
    // Per partition, what Kafka itself says.
    const kafka = await withAdmin(base, async (admin) => ({
      ends: await admin.fetchTopicOffsets(topic),
      committed: (await admin.fetchOffsets({
        groupId: `${topic}-lake`,
        topics: [topic],
      }))[0].partitions,
    }));
    assert.deepEqual(
      quotes.partitions.map((p) => [p.partition, p.end, p.committed]),
      kafka.ends.map(({ partition, high }) => [
        partition,
        Number(high),
        Math.max(
          0,
          Number(
            kafka.committed.find((c) => c.partition === partition)?.offset ??
              0,
          ),
        ),
      ]).sort((a, b) => a[0] - b[0]),
    );
    for (const p of quotes.partitions) {
      assert.equal(p.streamLag, p.end - p.committed);
      assert.equal(p.landed ?? 0, p.committed, "drained: landed = committed");
      assert.equal(p.loadLag, p.committed - (p.loaded ?? 0));
    }
    assert.deepEqual(
      ["end", "committed", "landed", "loaded", "streamLag", "loadLag"].map((
        field,
      ) => total(report, "quotes", field as "end")),
      [390, 350, 350, 300, 40, 50],
    );
    assert.equal(quotes.lag, 90);
    const trades = report.kinds.find((k) => k.kind === "trades")!;
    assert.deepEqual(
      [
        total(report, "trades", "end"),
        total(report, "trades", "loaded"),
        trades.lag,
      ],
      [120, 120, 0],
    );
    assert.deepEqual(report.verdict.breaches, [
      "quotes are 90 messages behind (in the stream, not in RAW), more than STATUS_MAX_LAG_MESSAGES=89",
    ]);
    for (const kind of [quotes, trades]) {
      for (const layer of ["raw", "silver", "gold"] as const) {
        assert.equal(
          typeof kind.freshness[layer].ageSeconds,
          "number",
          `${kind.kind} ${layer} freshness`,
        );
      }
      assert.equal(typeof kind.newestEventAt, "string");
      assert.deepEqual(kind.deadLetters.loader, []);
      assert.equal(kind.deadLetters.lake.day, null);
    }
    assert.equal(typeof report.warehouse.goldPublishedAt, "string");
    assert.equal(report.warehouse.unavailable, null);
    assert.equal(report.dbt?.command, "build");
    assert.equal(report.dbt?.success, true);

    assert.equal(
      (await status(env, ["--max-lag", "90", "--max-freshness", "3600"])).code,
      0,
      "90 messages behind, not more than 90",
    );
    const text = await run("scripts/status.ts", ["--max-lag", "89"], env);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^total +390 +350 +40 +50 +90$/m);
    assert.match(
      text.stdout.trimEnd().split("\n").at(-1)!,
      /^THRESHOLD PASSED: quotes are 90 messages behind/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

/** A process that holds the DuckDB file open for writing until its stdin closes. */
async function holdWarehouse(path: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { DuckDBInstance } from "@duckdb/node-api";
       const instance = await DuckDBInstance.create(${JSON.stringify(path)});
       await instance.connect();
       console.log("holding");
       await new Response(Deno.stdin.readable).text();`,
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("holding")) {
    const { value, done } = await reader.read();
    assert.ok(!done, "the holder exited before holding the file");
    said += value;
  }
  return {
    pid: child.pid,
    async release() {
      await child.stdin.close();
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

Deno.test({
  name:
    "status on the embedded defaults reports what is not landed yet, and a warehouse held by a writer by its holder instead of waiting",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const env = {
      ...stateIn(dir),
      FOLLOW_STATUS_PATH: `${dir}/follow_status.json`,
    };
    assertSuccess(await produce(env, 100), "produce");
    assertSuccess(await run("consumer.ts", ["--drain"], env), "consume");
    assertSuccess(await run("loader.ts", [], env), "load");
    assertSuccess(await produce(env, 30), "produce 30 more");

    let { code, report } = await status(env);
    assert.equal(code, 0, "30 behind is within the default 10000");
    assert.deepEqual(
      ["end", "committed", "landed", "loaded", "streamLag", "loadLag"].map((
        field,
      ) => total(report, "quotes", field as "end")),
      [130, 100, 100, 100, 30, 0],
    );
    const quotes = report.kinds.find((k) => k.kind === "quotes")!;
    assert.equal(quotes.lag, 30);
    assert.match(quotes.streamId, /^embedded:/);
    assert.equal(typeof quotes.freshness.raw.ageSeconds, "number");
    assert.equal(quotes.freshness.silver.ageSeconds, null, "dbt not run");
    assert.equal(report.warehouse.goldPublishedAt, null, "no gold copy");

    const holder = await holdWarehouse(`${dir}/warehouse.duckdb`);
    try {
      ({ code, report } = await status(env, ["--kind", "quotes"]));
    } finally {
      await holder.release();
    }
    assert.equal(code, 0);
    assert.match(
      report.warehouse.unavailable ?? "",
      new RegExp(`^the warehouse file is held by PID ${holder.pid} `),
    );
    assert.equal(report.warehouse.heldBy?.pid, holder.pid);
    assert.deepEqual(report.kinds.map((k) => k.kind), ["quotes"]);
    const held = report.kinds[0];
    assert.deepEqual(
      held.partitions.map((p) => [p.loaded, p.loadLag, p.landed]),
      held.partitions.map(() => [null, null, null]),
    );
    assert.equal(held.lag, 30, "what is known: the messages not landed");

    // No broker where KAFKA_BROKERS points: a clear error and its own code.
    const unreachable = await run("scripts/status.ts", [], {
      ...env,
      KAFKA_BROKERS: "127.0.0.1:1",
    });
    assert.equal(unreachable.code, 2, unreachable.stderr);
    assert.equal(unreachable.stdout, "");
    assert.match(
      unreachable.stderr,
      /level=error component=main msg="Cannot describe the cluster at kafka:\/\/127\.0\.0\.1:1: Connection error: connect ECONNREFUSED/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});
