/**
 * `deno task reconcile` on the embedded defaults, through the entry points:
 * a drained pipeline reconciles with 0 lost and 0 duplicated and exits 0;
 * events on their way are pending, not lost; overlapping objects and dead
 * letters are counted, not lost; an event missing from the lake or from RAW
 * is lost, and the exit code says so.
 */
import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import { join } from "node:path";
import { loadConfig } from "../../lib/runtime/config.ts";
import { openStream } from "../../lib/app/wiring.ts";
import type { Reconciliation } from "../../lib/ops/reconcile.ts";
import {
  assertSuccess,
  type Run,
  run as runScript,
  stateIn,
} from "../_helpers.ts";

function run(script: string, args: string[], dir: string): Promise<Run> {
  return runScript(script, args, stateIn(dir));
}

async function reconcile(dir: string) {
  const result = await run("scripts/reconcile.ts", ["--json"], dir);
  return {
    code: result.code,
    report: JSON.parse(result.stdout) as Reconciliation,
    stderr: result.stderr,
  };
}

/** Every object of the local lake under `prefix`, by path. */
async function objects(dir: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const child = join(path, entry.name);
      if (entry.isDirectory) await walk(child);
      else if (entry.name.endsWith(".ndjson.gz")) found.push(child);
    }
  };
  await walk(join(dir, "lake", prefix));
  return found.sort();
}

Deno.test({
  name:
    "reconcile: a drained run has 0 lost and 0 duplicated; pending, overlap and dead letters are not losses; a missing event is",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    // Produced and landed, not loaded: all pending.
    assertSuccess(
      await run("producer.ts", ["--count", "150", "--rate", "100000"], dir),
      "produce",
    );
    let { code, report } = await reconcile(dir);
    assert.equal(code, 0);
    assert.deepEqual(
      [report.totals.events, report.totals.pending, report.totals.lost],
      [150, 150, 0],
      "not landed yet: pending",
    );
    // One message that breaks the contract: the consumer dead-letters it.
    const stream = openStream(loadConfig(stateIn(dir)));
    const producer = await stream.producer();
    await producer.send([{
      key: "AAPL",
      value: '{"symbol":"AAPL","c":"NaN"}',
    }]);
    await producer.close();
    assertSuccess(await run("consumer.ts", ["--drain"], dir), "consume");
    ({ code, report } = await reconcile(dir));
    assert.deepEqual(
      [
        report.totals.events,
        report.totals.landed,
        report.totals.quarantined,
        report.totals.pending,
        report.totals.lost,
      ],
      [151, 150, 1, 150, 0],
      "landed, not loaded: pending; dead-lettered: quarantined",
    );
    assert.equal(report.silver, null, "silver not built");

    // Loaded and built: every event once, at every stage.
    assertSuccess(await run("loader.ts", [], dir), "load");
    assertSuccess(await run("scripts/transform.ts", ["build"], dir), "dbt");
    ({ code, report } = await reconcile(dir));
    assert.equal(code, 0);
    assert.deepEqual(report.totals, {
      events: 151,
      landed: 150,
      raw: 150,
      quarantined: 1,
      pending: 0,
      lost: 0,
      duplicated: 0,
    });
    assert.equal(report.partitions.length, 3);
    for (const p of report.partitions) {
      assert.equal(p.committed, p.logEnd);
      assert.equal(p.landed + p.deadLettered, p.logEnd - p.logStart);
      assert.equal(p.raw, p.landed);
    }
    assert.deepEqual(report.silver, {
      rows: 150,
      quarantined: 0,
      lost: 0,
      duplicated: 0,
    });
    const table = await run("scripts/reconcile.ts", [], dir);
    assert.equal(table.code, 0);
    assert.match(
      table.stdout,
      /total: 151 events, 150 landed, 150 in RAW, 1 quarantined, 0 pending, 0 lost, 0 duplicated/,
    );

    // An object landed twice under another name (a crash between write and
    // commit): overlap, not a duplicate.
    const [first] = await objects(dir, "stock-quotes");
    const lines = (await new Response(
      (await Deno.open(first)).readable.pipeThrough(
        new DecompressionStream("gzip"),
      ),
    ).text()).trim().split("\n").length;
    await Deno.copyFile(
      first,
      first.replace(/\+(\d+)\.ndjson\.gz$/, "+$1-copy.ndjson.gz"),
    );
    ({ code, report } = await reconcile(dir));
    assert.equal(code, 0);
    assert.equal(
      report.partitions.reduce((n, p) => n + p.overlap, 0),
      lines,
    );
    assert.equal(report.totals.lost, 0);

    // Silver loses two quotes, then holds one twice: silver_reconciliation
    // counts them, and the exit code says so.
    const sql = async (statements: string) => {
      const db = await DuckDBInstance.create(join(dir, "warehouse.duckdb"));
      const connection = await db.connect();
      try {
        await connection.run(statements);
      } finally {
        connection.closeSync();
        db.closeSync();
      }
    };
    const clean = "silver.silver_clean_stock_quotes";
    await sql(`
      create table silver.gone as
        select * from ${clean} order by symbol, quote_ts limit 2;
      delete from ${clean} where (symbol, quote_ts) in (select symbol, quote_ts from silver.gone);`);
    ({ code, report } = await reconcile(dir));
    assert.equal(code, 1);
    assert.deepEqual(report.silver, {
      rows: 148,
      quarantined: 0,
      lost: 2,
      duplicated: 0,
    });
    assert.equal(report.totals.lost, 2);
    await sql(`
      insert into ${clean} select * from silver.gone;
      insert into ${clean} select * from silver.gone order by symbol, quote_ts limit 1;`);
    ({ code, report } = await reconcile(dir));
    assert.equal(code, 1);
    assert.deepEqual(
      [
        report.silver?.lost,
        report.silver?.duplicated,
        report.totals.duplicated,
      ],
      [0, 1, 1],
    );
    await sql(`
      delete from ${clean} where (symbol, quote_ts) in (select symbol, quote_ts from silver.gone);
      insert into ${clean} select * from silver.gone;
      drop table silver.gone;`);
    ({ code, report } = await reconcile(dir));
    assert.equal(code, 0);

    // RAW loses rows of another partition: lost at loading, and the exit
    // code says so.
    const partition = Number(/\+(\d+)\+\d+\+\d+\.ndjson\.gz$/.exec(first)?.[1]);
    const other = (partition + 1) % 3;
    await sql(
      `delete from raw.source_stock_quotes where stream_partition = ${other} and stream_offset < 3`,
    );
    ({ code, report } = await reconcile(dir));
    assert.equal(code, 1);
    assert.equal(report.partitions[other].lost, 3);
    assert.equal(report.totals.lost, 3);

    // The lake loses an object: lost at landing.
    await Deno.remove(first);
    await Deno.remove(
      first.replace(/\+(\d+)\.ndjson\.gz$/, "+$1-copy.ndjson.gz"),
    );
    ({ code, report } = await reconcile(dir));
    assert.equal(code, 1);
    assert.equal(report.partitions[partition].lost, lines);
    assert.equal(report.totals.lost, 3 + lines);
    await Deno.remove(dir, { recursive: true });
  },
});
