/**
 * Faults on the real services (Kafka 4.1.1 and MinIO started natively, DuckDB,
 * dbt), each bounded in time and each ending with `deno task reconcile`:
 * 0 lost and 0 duplicated, from the stream to silver. The last test prints
 * the table of fault, events, lost, duplicated and time to recover.
 *
 * Waits are on events (log lines, committed offsets, rows), each with a
 * deadline; the sleeps left are the faults' own lengths (an outage of 30 s,
 * a broker down for 15 s). Where a kill's timing is random, it comes from a
 * seed the test prints (FAULT_SEED repeats it).
 *
 * The full-disk and read-only tests mount a tmpfs for the local lake: only
 * root can, so they fail with that reason when run as another user (CI runs
 * as root).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Reconciliation } from "../../lib/ops/reconcile.ts";
import { sleep } from "../../lib/runtime/retry.ts";
import {
  servicesSettings,
  startServicesKafka,
  startServicesMinio,
} from "../../dev/services.ts";
import { daemonFiles, runningPid } from "../../dev/services/daemon.ts";
import { stopMinio } from "../../dev/services/minio.ts";
import { venvBin } from "../../lib/transform/venv.ts";
import {
  assertSuccess,
  count,
  lineReader,
  ROOT,
  run,
  spawn,
  watch,
} from "../_helpers.ts";
import {
  assertExactlyOnce,
  assertLoadedOnce,
  assertTradesOnce,
  committedTotal,
  loadAndBuild,
  scenario,
  stopGracefully,
  waitForCommitted,
} from "../_streaming.ts";
import { faultSeed, seededRandom } from "../_wait.ts";

/** The consumer's line for a flush that failed and will be retried. */
const LANDING_FAILED =
  /msg="landing failed; retrying, nothing committed meanwhile" partition=\d+ attempt=(\d+) /;

/**
 * Waits for a failed flush of any partition on its `attempt`th try or later.
 * A failed flush is tried again after 125–250 ms, then backs off, doubling:
 * its fourth attempt comes at least 0.9 s after the first failure, when any
 * commit of a write that succeeded before the fault began is long done.
 */
async function failedAttempt(
  lines: ReturnType<typeof lineReader>,
  attempt: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = await lines.until(
      LANDING_FAILED,
      Math.max(1, deadline - Date.now()),
    );
    if (Number(LANDING_FAILED.exec(line)![1]) >= attempt) return;
  }
}

/** One row of the fault table. */
interface Row {
  fault: string;
  events: number;
  lost: number;
  duplicated: number;
  recoverSeconds: number;
}

const ROWS: Row[] = [];

/** Adds a fault's reconciled figures to the table. */
function record(fault: string, report: Reconciliation, recoverMs: number) {
  ROWS.push({
    fault,
    events: report.totals.events,
    lost: report.totals.lost,
    duplicated: report.totals.duplicated,
    recoverSeconds: Math.round(recoverMs / 100) / 10,
  });
}

Deno.test({
  name:
    "(b) SIGKILL of the consumer mid-batch, five times, loses and duplicates nothing downstream, of quotes and of trades",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("b");
    const n = 3_000;
    // Small, slow batches so every kill lands mid-batch: open buffers and uncommitted objects.
    const consumerEnv = {
      ...env,
      FLUSH_MAX_EVENTS: "150",
      FLUSH_MAX_AGE_MS: "700",
    };
    const group = `${topic}-lake`;
    const random = seededRandom(faultSeed());
    const producer = spawn("producer.ts", [
      "--count",
      String(n),
      "--rate",
      "40",
    ], env);
    // Trades on their own topic, landed by the same consumer processes.
    const trades = 2_000;
    const tradesProducer = spawn("producer.ts", [
      "--source",
      "simulated-trades",
      "--count",
      String(trades),
      "--rate",
      "30",
    ], env);
    for (let kill = 0; kill < 5; kill++) {
      // Kill only once this consumer has landed and committed something, then
      // within the next batch window: its open batches and uploads die with it.
      const before = await committedTotal(services, topic, group);
      const consumer = spawn("consumer.ts", [], consumerEnv);
      const waitMs = 30_000;
      const deadline = Date.now() + waitMs;
      while (
        await committedTotal(services, topic, group) <= before &&
        Date.now() < deadline
      ) {
        await sleep(100);
      }
      if (Date.now() >= deadline) {
        try {
          consumer.child.kill("SIGKILL");
        } catch {
          // it had exited already: its output says why
        }
        const { stderr } = await consumer.finished;
        assert.fail(
          `consumer ${kill + 1} committed nothing in ${waitMs / 1000} s:\n${
            stderr.split("\n").slice(-30).join("\n")
          }`,
        );
      }
      await sleep(200 + Math.floor(random() * 500));
      consumer.child.kill("SIGKILL");
      await consumer.finished;
    }
    assertSuccess(await producer.finished, "produce");
    assertSuccess(await tradesProducer.finished, "produce trades");
    const recovering = performance.now();
    const drained = await run("consumer.ts", ["--drain"], consumerEnv);
    assertSuccess(drained, "final consume");
    const recovered = performance.now() - recovering;

    const landed = await assertExactlyOnce({ services, topic, env, db }, n);
    record("consumer SIGKILLed mid-batch, 5 times", landed.report, recovered);
    record(
      "consumer SIGKILLed mid-batch, 5 times: trades",
      await assertTradesOnce({ services, topic, env, db }, trades),
      recovered,
    );
    assert.ok(landed.lines.length >= n);
    console.log(
      `    (b) ${
        landed.lines.length - n
      } duplicate lines in ${landed.objects} objects after 5 kills`,
    );
    assert.equal(await committedTotal(services, topic, group), n);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "(c) with MinIO down for 30 s mid-stream, the consumer retries, commits nothing meanwhile, and catches up",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("c");
    const n = 1_500;
    const group = `${topic}-lake`;
    const consumer = watch("consumer.ts", [], {
      ...env,
      FLUSH_MAX_AGE_MS: "500",
    });
    const producer = spawn("producer.ts", [
      "--count",
      String(n),
      "--rate",
      "50",
    ], env);
    await waitForCommitted(services, topic, group, 1, 60_000);
    let outage = 0;
    try {
      await stopMinio(servicesSettings().root);
      const started = Date.now();
      // A write has failed and been tried three more times: no commit is in
      // flight.
      await failedAttempt(consumer.lines, 4, 30_000);
      const frozen = await committedTotal(services, topic, group);
      // The outage itself: 30 s in all.
      await sleep(Math.max(0, 30_000 - (Date.now() - started)));
      assert.equal(
        await committedTotal(services, topic, group),
        frozen,
        "committed while the store was down",
      );
      outage = Date.now() - started;
    } finally {
      await startServicesMinio(servicesSettings());
    }
    const restarted = performance.now();
    assertSuccess(await producer.finished, "produce");
    await waitForCommitted(services, topic, group, n, 60_000);
    const recovered = performance.now() - restarted;
    consumer.child.kill("SIGTERM");
    const drained = consumer.lines.drain();
    assert.equal((await consumer.child.status).code, 0);
    await drained;
    assert.ok(outage >= 30_000);

    const { report } = await assertExactlyOnce({ services, topic, env, db }, n);
    record("MinIO down 30 s mid-stream", report, recovered);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "(d) the broker SIGKILLed and restarted while the producer runs: acks=all and idempotence lose and duplicate nothing",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("d");
    const n = 2_000;
    const group = `${topic}-lake`;
    const consumer = spawn("consumer.ts", [], {
      ...env,
      FLUSH_MAX_AGE_MS: "500",
    });
    const producer = spawn("producer.ts", [
      "--count",
      String(n),
      "--rate",
      "100",
    ], env);
    await waitForCommitted(services, topic, group, 1, 60_000);
    const files = daemonFiles(servicesSettings().root, "kafka");
    const pid = await runningPid(files);
    assert.ok(pid, "Kafka is running");
    let restarted = 0;
    try {
      // The outage itself, longer than the consumer's 10 s session: the
      // group forgets it.
      Deno.kill(pid, "SIGKILL");
      await sleep(15_000);
    } finally {
      await startServicesKafka(servicesSettings());
      restarted = performance.now();
    }
    const produced = await producer.finished;
    assertSuccess(produced, "produce across the broker's restart");
    assert.match(produced.stderr, /msg="producer finished" published=2000 /);
    try {
      await waitForCommitted(services, topic, group, n, 90_000);
    } catch (error) {
      try {
        consumer.child.kill("SIGKILL");
      } catch {
        // It has exited already: its output says why.
      }
      const { stderr, code } = await consumer.finished;
      throw new Error(
        `${(error as Error).message}; the consumer (exit ${code}) said:\n${
          stderr.split("\n").filter((l) => !/level=info/.test(l)).slice(-15)
            .join("\n")
        }`,
      );
    }
    const recovered = performance.now() - restarted;
    const stopped = await stopGracefully(consumer);
    assert.equal(stopped.code, 0, stopped.stderr);

    const { report } = await assertExactlyOnce({ services, topic, env, db }, n);
    record(
      "Kafka broker SIGKILLed for 15 s under the producer",
      report,
      recovered,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "(e) the loader SIGKILLed mid-load, then run again, loads every event once",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("e");
    const n = 5_000;
    // A consumer landing a 5 s stream every 200 ms: about 100 objects.
    const consumer = spawn("consumer.ts", [], {
      ...env,
      FLUSH_MAX_AGE_MS: "200",
    });
    assertSuccess(
      await run("producer.ts", ["--count", String(n), "--rate", "1000"], env),
      "produce",
    );
    await waitForCommitted(services, topic, `${topic}-lake`, n, 60_000);
    assert.equal((await stopGracefully(consumer)).code, 0);
    // Small transactions, so the kill lands between two of them or inside one.
    const loader = watch("loader.ts", [], { ...env, LOAD_MAX_FILES: "1" });
    await loader.lines.until(/msg=progress /, 120_000);
    loader.child.kill("SIGKILL");
    await loader.child.status;
    const partial = await count(
      db,
      "select count(*) from raw.source_stock_quotes",
    );
    assert.ok(
      partial > 0 && partial < n,
      `killed mid-load: ${partial} of ${n} rows`,
    );
    const rerun = performance.now();
    assertSuccess(await run("loader.ts", [], env), "load again");
    const recovered = performance.now() - rerun;

    const { report } = await assertExactlyOnce({ services, topic, env, db }, n);
    record("loader SIGKILLed mid-load, run again", report, recovered);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "(f) dbt SIGKILLed mid-build, then built again, puts every quote in silver once",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("f");
    const n = 3_000;
    assertSuccess(
      await run(
        "producer.ts",
        ["--count", String(n), "--rate", "1000000"],
        env,
      ),
      "produce",
    );
    assertSuccess(await run("consumer.ts", ["--drain"], env), "consume");
    assertSuccess(await run("loader.ts", [], env), "load");
    // dbt itself, as lib/transform/dbt.ts runs it, killed once silver has started.
    const dbtDir = join(ROOT, "dbt_stocks");
    const dbt = new Deno.Command(venvBin("dbt"), {
      args: [
        "build",
        "--profiles-dir",
        dbtDir,
        "--project-dir",
        dbtDir,
        "--target",
        "duckdb",
      ],
      cwd: dbtDir,
      env: { DUCKDB_PATH: db, DBT_SEND_ANONYMOUS_USAGE_STATS: "false" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const output = lineReader(dbt.stdout);
    await output.until(
      /START sql incremental model silver\.silver_clean_stock_quotes/,
      120_000,
    );
    dbt.kill("SIGKILL");
    await dbt.status;
    const rebuild = performance.now();
    const { raw, silver } = await loadAndBuild(env, db);
    const recovered = performance.now() - rebuild;
    assert.deepEqual([raw, silver], [n, n]);

    const { report } = await assertExactlyOnce({ services, topic, env, db }, n);
    record("dbt SIGKILLed mid-build, built again", report, recovered);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "(g) a full local lake: the consumer retries, commits nothing meanwhile, and lands everything once space returns",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("g");
    const n = 3_000;
    const group = `${topic}-lake`;
    const lake = join(dir, "lake");
    await Deno.mkdir(lake);
    const mount = (args: string[]) =>
      new Deno.Command("mount", { args, stdout: "null", stderr: "piped" })
        .output();
    const mounted = await mount([
      "-t",
      "tmpfs",
      "-o",
      "size=32k",
      "tmpfs",
      lake,
    ]);
    assert.ok(
      mounted.success,
      `Cannot fill a disk as this test needs root: it mounts a 32 KiB tmpfs as the lake, the one way to make writes fail with ENOSPC (No space left on device) and then free space without touching the machine's own disks; run the faults tier as root (\`sudo deno task test:faults\`) or leave it to CI. mount said: ${
        new TextDecoder().decode(mounted.stderr).trim()
      }`,
    );
    const local = { ...env, S3_BUCKET: "", LAKE_DIR: lake };
    try {
      const consumer = watch("consumer.ts", [], {
        ...local,
        FLUSH_MAX_EVENTS: "50",
        FLUSH_MAX_AGE_MS: "500",
      });
      // 6 s of events landed every 500 ms: far more pages than 32 KiB.
      const producer = spawn("producer.ts", [
        "--count",
        String(n),
        "--rate",
        "500",
      ], local);
      await consumer.lines.until(
        /landing failed; retrying, nothing committed meanwhile.*(No space|ENOSPC|os error 28)/i,
        60_000,
      );
      // A write has failed and been tried three more times: no commit is in
      // flight.
      await failedAttempt(consumer.lines, 4, 60_000);
      const frozen = await committedTotal(services, topic, group);
      // Two more tries later, seconds have passed with the disk full.
      await failedAttempt(consumer.lines, 6, 60_000);
      assert.equal(
        await committedTotal(services, topic, group),
        frozen,
        "committed while the disk was full",
      );
      assert.ok(frozen < n);
      assertSuccess(await producer.finished, "produce");
      const grown = await mount(["-o", "remount,size=64m", lake]);
      assert.ok(grown.success, new TextDecoder().decode(grown.stderr));
      const freed = performance.now();
      await waitForCommitted(services, topic, group, n, 90_000);
      const recovered = performance.now() - freed;
      consumer.child.kill("SIGTERM");
      const drained = consumer.lines.drain();
      assert.equal((await consumer.child.status).code, 0);
      await drained;

      const report = await assertLoadedOnce(local, db, n);
      record("local lake full (32 KiB tmpfs), then grown", report, recovered);
    } finally {
      await mount(["-o", "remount,size=64m", lake]);
      await new Deno.Command("umount", { args: [lake] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "(h) a lake turned read-only: the consumer stops at once with one line, commits nothing, and a consumer started after the fix lands everything",
  sanitizeResources: false,
  async fn() {
    const { services, topic, env, db, dir } = await scenario("h");
    const n = 2_000;
    const group = `${topic}-lake`;
    const lake = join(dir, "lake");
    await Deno.mkdir(lake);
    const mount = (args: string[]) =>
      new Deno.Command("mount", { args, stdout: "null", stderr: "piped" })
        .output();
    const mounted = await mount([
      "-t",
      "tmpfs",
      "-o",
      "size=64m",
      "tmpfs",
      lake,
    ]);
    assert.ok(
      mounted.success,
      `Cannot make the lake read-only as this test needs root: it mounts a tmpfs as the lake and remounts it read-only, the one way to make writes fail with EROFS without touching the machine's own disks; run the faults tier as root (\`sudo deno task test:faults\`) or leave it to CI. mount said: ${
        new TextDecoder().decode(mounted.stderr).trim()
      }`,
    );
    const local = { ...env, S3_BUCKET: "", LAKE_DIR: lake };
    const consumerEnv = { ...local, FLUSH_MAX_AGE_MS: "200" };
    try {
      const consumer = watch("consumer.ts", [], consumerEnv);
      // The producer's own dead letters go to the bucket: only landing writes here.
      const first = await run(
        "producer.ts",
        ["--count", "500", "--rate", "1000"],
        env,
      );
      assertSuccess(first, "produce");
      await waitForCommitted(services, topic, group, 500, 60_000);
      const readOnly = await mount(["-o", "remount,ro", lake]);
      assert.ok(readOnly.success, new TextDecoder().decode(readOnly.stderr));
      const second = await run(
        "producer.ts",
        ["--count", String(n - 500), "--rate", "1000"],
        // Other symbols: their quote times cannot meet the first run's.
        { ...env, SYMBOLS: "IBM,ORCL,INTC,AMD,NVDA" },
      );
      assertSuccess(second, "produce");
      // Retrying would log warnings and never this line.
      await consumer.lines.until(/level=error/, 60_000);
      const status = await consumer.child.status;
      const lines = await consumer.lines.drain();
      assert.equal(status.code, 1, lines.join("\n"));
      const errors = lines.filter((l) => /level=error/.test(l));
      assert.equal(errors.length, 1, lines.join("\n"));
      assert.match(
        errors[0],
        /Cannot write to the lake file:\/\/\S+ as its file system is read-only: Read-only file system \(os error 30\)/,
      );
      assert.ok(
        !lines.some((l) => /retrying/.test(l)),
        "retried a read-only file system",
      );
      assert.equal(await committedTotal(services, topic, group), 500);

      const fixed = await mount(["-o", "remount,rw", lake]);
      assert.ok(fixed.success, new TextDecoder().decode(fixed.stderr));
      const healed = performance.now();
      const again = watch("consumer.ts", [], consumerEnv);
      await waitForCommitted(services, topic, group, n, 60_000);
      const recovered = performance.now() - healed;
      again.child.kill("SIGTERM");
      const drainedAgain = again.lines.drain();
      assert.equal((await again.child.status).code, 0);
      await drainedAgain;
      const report = await assertLoadedOnce(local, db, n);
      record(
        "local lake turned read-only: consumer exits 1, restarted after the fix",
        report,
        recovered,
      );
    } finally {
      await mount(["-o", "remount,rw", lake]);
      await new Deno.Command("umount", { args: [lake] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the fault table: 0 lost and 0 duplicated in every row", () => {
  const header = "| fault | events | lost | duplicated | time to recover |";
  const lines = [
    header,
    "| --- | ---: | ---: | ---: | ---: |",
    ...ROWS.map((r) =>
      `| ${r.fault} | ${
        r.events.toLocaleString("en-US")
      } | ${r.lost} | ${r.duplicated} | ${r.recoverSeconds} s |`
    ),
  ];
  console.log(`\n${lines.join("\n")}\n`);
  assert.equal(ROWS.length, 8, "every fault ran");
  for (const row of ROWS) {
    assert.deepEqual([row.lost, row.duplicated], [0, 0], row.fault);
  }
});
