import assert from "node:assert/strict";
import {
  goldCopyPath,
  type SqlSession,
  writeGoldCopy,
} from "../../lib/warehouse/duckdb/gold_copy.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";
import { startReader } from "../_reader.ts";

/** A warehouse whose gold holds `n` quotes, with a silver table and a gold view beside. */
async function warehouseWithGold(dir: string, n: number) {
  const warehouse = await DuckDBWarehouse.open(`${dir}/warehouse.duckdb`);
  await warehouse.query(`
    create schema gold;
    create schema silver;
    create table silver.silver_clean_stock_quotes as select 1 as quote;
    create table gold.gold_latest_kpi as
      select 'S' || i as symbol, (100 + i)::double as price from range(${n}) r(i);
    create table gold.gold_candles as
      select 'S' || i as symbol, '1m' as timeframe from range(${n}) r(i);
    create view gold.gold_expensive as
      select * from gold.gold_latest_kpi where price > 101`);
  return warehouse;
}

/** The files of `dir` that are not the warehouse's: the copy, and any temporary file or log left. */
async function copyFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.startsWith("warehouse.duckdb")) names.push(entry.name);
  }
  return names.sort();
}

Deno.test("writeGoldCopy() copies gold's tables, and its views' rows as tables, under their own names, into a read-only file", async () => {
  const dir = await Deno.makeTempDir();
  const warehouse = await warehouseWithGold(dir, 3);
  const path = `${dir}/gold_copy.duckdb`;
  try {
    const copy = await writeGoldCopy(warehouse, path, {
      source: warehouse.location,
    });
    assert.deepEqual(copy.tables, [
      "gold.gold_candles",
      "gold.gold_expensive",
      "gold.gold_latest_kpi",
    ]);
    assert.equal(copy.rows, 7);
    assert.equal(copy.path, path);
    assert.ok(copy.bytes > 0 && copy.ms >= 0);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o444);
    assert.deepEqual(await copyFiles(dir), ["gold_copy.duckdb"]);
    const reader = await startReader(path);
    try {
      assert.deepEqual(
        await reader.query(
          "select symbol, price from gold.gold_latest_kpi order by symbol",
        ),
        [["S0", 100], ["S1", 101], ["S2", 102]],
      );
      assert.deepEqual(
        await reader.query(
          "select schema_name, table_name from duckdb_tables() order by all",
        ),
        [
          ["gold", "gold_candles"],
          ["gold", "gold_expensive"],
          ["gold", "gold_latest_kpi"],
          ["main", "published"],
        ],
        "the view as a table; no silver",
      );
      assert.deepEqual(
        await reader.query("select symbol, price from gold.gold_expensive"),
        [["S2", 102]],
      );
      assert.deepEqual(
        await reader.query(
          "select warehouse, array_to_string(tables, ' '), published_at <= now() from main.published",
        ),
        [[
          warehouse.location,
          "gold.gold_candles gold.gold_expensive gold.gold_latest_kpi",
          true,
        ]],
      );
    } finally {
      await reader.close();
    }
  } finally {
    await warehouse.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeGoldCopy() replaces the copy at once: a reader keeps the copy it has open, the next reader sees the new one, and neither waits", async () => {
  const dir = await Deno.makeTempDir();
  const warehouse = await warehouseWithGold(dir, 3);
  const path = `${dir}/gold_copy.duckdb`;
  const kpis = "select count(*) from gold.gold_latest_kpi";
  try {
    await writeGoldCopy(warehouse, path);
    const before = await startReader(path);
    try {
      // dbt adds a symbol, and the copy is written again while the reader holds the old one.
      await warehouse.query(
        "insert into gold.gold_latest_kpi values ('S3', 103.0)",
      );
      const copy = await writeGoldCopy(warehouse, path);
      assert.equal(copy.rows, 9);
      assert.deepEqual(await before.query(kpis), [[3]], "the copy it opened");
      const after = await startReader(path);
      try {
        assert.deepEqual(await after.query(kpis), [[4]], "the new copy");
      } finally {
        await after.close();
      }
      assert.deepEqual(await before.query(kpis), [[3]]);
    } finally {
      await before.close();
    }
    assert.deepEqual(await copyFiles(dir), ["gold_copy.duckdb"]);
  } finally {
    await warehouse.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeGoldCopy() leaves the previous copy, and no temporary file, when it fails", async () => {
  const dir = await Deno.makeTempDir();
  const warehouse = await warehouseWithGold(dir, 3);
  const path = `${dir}/gold_copy.duckdb`;
  try {
    await writeGoldCopy(warehouse, path);
    const previous = await Deno.readFile(path);
    await warehouse.query("insert into gold.gold_latest_kpi values ('S3', 1)");
    // The disk fills up as the copy is being written, say.
    const failing: SqlSession = {
      query(sql) {
        if (/^create table gold_copy\.main\.published/.test(sql)) {
          return Promise.reject(new Error("IO Error: No space left on device"));
        }
        return warehouse.query(sql);
      },
    };
    await assert.rejects(
      () => writeGoldCopy(failing, path),
      /No space left on device/,
    );
    assert.deepEqual(await Deno.readFile(path), previous);
    assert.deepEqual(await copyFiles(dir), ["gold_copy.duckdb"]);
    // The warehouse is as it was: nothing attached, no transaction open.
    assert.deepEqual(
      await warehouse.query(
        "select count(*)::integer from duckdb_databases() where database_name = 'gold_copy'",
      ),
      [[0]],
    );
    const copy = await writeGoldCopy(warehouse, path);
    assert.equal(copy.rows, 8);
  } finally {
    await warehouse.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeGoldCopy() refuses a warehouse dbt has not built yet", async () => {
  const dir = await Deno.makeTempDir();
  const warehouse = await DuckDBWarehouse.open(`${dir}/warehouse.duckdb`);
  try {
    await assert.rejects(
      () => writeGoldCopy(warehouse, `${dir}/gold_copy.duckdb`),
      new Error(
        `Cannot publish the gold copy ${dir}/gold_copy.duckdb as the warehouse has no table in gold: run dbt build first`,
      ),
    );
    assert.deepEqual(await copyFiles(dir), []);
  } finally {
    await warehouse.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("goldCopyPath() puts the copy beside the warehouse unless configured, and never on it or under a schema's name", () => {
  assert.equal(
    goldCopyPath("/srv/stocks/warehouse.duckdb"),
    "/srv/stocks/gold_copy.duckdb",
  );
  assert.equal(
    goldCopyPath("/srv/stocks/warehouse.duckdb", "/srv/share/analytics.duckdb"),
    "/srv/share/analytics.duckdb",
  );
  assert.throws(
    () => goldCopyPath("/srv/w.duckdb", "/srv/w.duckdb"),
    new RangeError(
      `Cannot publish the gold copy as 'DUCKDB_GOLD_COPY_PATH' must differ from the warehouse file (DUCKDB_PATH): current value is "/srv/w.duckdb"`,
    ),
  );
  assert.throws(
    () => goldCopyPath("/srv/w.duckdb", "/srv/gold.duckdb"),
    /'DUCKDB_GOLD_COPY_PATH' must not name a file after a schema it holds \(gold\.<table> would be ambiguous to its readers\): current value is "\/srv\/gold\.duckdb"/,
  );
});
