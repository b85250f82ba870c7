/**
 * The DuckDB warehouse's inventory of RAW, which reconcile reads: runs of
 * offsets per partition, queried a window of offsets at a time, must come
 * out as if read whole, across window edges, duplicates and gaps.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { OffsetRanges } from "../../lib/ops/offset_ranges.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";

Deno.test("inventory() gives RAW's runs and rows per partition, whole across its query windows", async () => {
  const dir = await Deno.makeTempDir();
  const warehouse = await DuckDBWarehouse.open(join(dir, "w.duckdb"));
  try {
    const insert = (
      streamId: string,
      partition: number,
      offsets: string,
    ) =>
      warehouse.query(
        `insert into raw.source_stock_quotes
         select '{}', $1, 'stock-quotes', $2::integer, o, now(), 'f', now()
         from (${offsets}) t(o)`,
        [streamId, partition],
      );
    // Partition 0: 0..2,500,000 without 1,000,005, with 999,999 and
    // 1,000,000 twice, so runs, a gap and duplicates meet a window's edge.
    await insert(
      "embedded:a",
      0,
      "select * from range(0, 2500001) r(o) where o <> 1000005",
    );
    await insert("embedded:a", 0, "values (999999), (1000000)");
    await insert("embedded:a", 1, "values (5), (6), (7), (9)");
    // Another log's rows are not this one's.
    await insert("embedded:b", 0, "values (1000005)");

    const { raw } = await warehouse.inventory("embedded:a", "stock-quotes");
    const zero = raw.get(0)!;
    assert.deepEqual(new OffsetRanges(zero.runs).runs(), [
      [0, 1_000_004],
      [1_000_006, 2_500_000],
    ]);
    assert.equal(zero.rows, 2_500_000 + 2);
    assert.deepEqual(new OffsetRanges(raw.get(1)!.runs).runs(), [
      [5, 7],
      [9, 9],
    ]);
    assert.equal(raw.get(1)!.rows, 4);
    assert.equal(raw.size, 2);
  } finally {
    await warehouse.close();
    await Deno.remove(dir, { recursive: true });
  }
});
