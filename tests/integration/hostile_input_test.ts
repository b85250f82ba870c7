/**
 * Hostile input at the stream boundary, through the real consumer, loader
 * and dbt on the embedded defaults: every bad message goes to the
 * dead-letter prefix with its reason and is counted; none stops a service,
 * reaches RAW or silver, or leaks into an object key or a SQL statement; the
 * valid events beside them all arrive, and `deno task reconcile` balances.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../lib/runtime/config.ts";
import { openStream } from "../../lib/app/wiring.ts";
import { decodeLines } from "../../lib/lake/ndjson.ts";
import type { Reconciliation } from "../../lib/ops/reconcile.ts";
import {
  assertSuccess,
  count,
  run,
  stateIn,
  SYMBOLS,
  withWarehouse,
} from "../_helpers.ts";

const NOW = Math.floor(Date.now() / 1000);

/** A quote that passes the contract. */
function quote(symbol: string, i: number): Record<string, unknown> {
  return {
    symbol,
    c: 100 + i,
    d: 1,
    dp: 1,
    h: 500,
    l: 50,
    o: 100,
    pc: 99,
    t: NOW - 60 + i,
    fetched_at: (NOW - 60 + i) * 1000 + 250,
    source: "simulated",
  };
}

/** Messages as a broken or malicious producer could publish them: [key, value, what the reason names]. */
const HOSTILE: [string, string, RegExp][] = [
  ["AAPL", '{"symbol":"AAPL","c":', /must be valid JSON/],
  ["AAPL", "null", /'event' must be/],
  ["AAPL", '"just a string"', /'event' must be/],
  ["AAPL", JSON.stringify({ ...quote("AAPL", 0), c: "101.5" }), /'c' must be/],
  [
    "AAPL",
    JSON.stringify({ ...quote("AAPL", 0), c: undefined }),
    /'c' must be/,
  ],
  ["AAPL", '{"symbol":"AAPL","c":NaN}', /must be valid JSON/],
  ["AAPL", JSON.stringify({ ...quote("AAPL", 0), c: -3 }), /'c' must be/],
  ["AAPL", JSON.stringify({ ...quote("AAPL", 0), h: 1e12 }), /'h' must/],
  [
    "AAPL",
    JSON.stringify({ ...quote("AAPL", 0), l: 600 }),
    /'l' must not exceed h/,
  ],
  ["AAPL", JSON.stringify({ ...quote("AAPL", 0), t: 0 }), /'t' must/],
  ["AAPL", JSON.stringify({ ...quote("AAPL", 0), t: -5 }), /'t' must/],
  [
    "AAPL",
    JSON.stringify({ ...quote("AAPL", 0), t: NOW + 365 * 86_400 }),
    /'t' must/,
  ],
  [
    "AAPL",
    JSON.stringify({ ...quote("AAPL", 0), pad: "x".repeat(5_000) }),
    /4096 bytes/,
  ],
  ["../../etc", JSON.stringify(quote("../../etc", 0)), /'symbol' must/],
  [
    "X",
    JSON.stringify(quote("A'; drop table raw.source_stock_quotes; --", 0)),
    /'symbol' must/,
  ],
  ['A"B', JSON.stringify(quote('A"B', 0)), /'symbol' must/],
  ["ÄPFEL", JSON.stringify(quote("ÄPFEL", 0)), /'symbol' must/],
  ["NUL", JSON.stringify(quote("A\u0000B", 0)), /'symbol' must/],
  ["", JSON.stringify(quote("", 0)), /'symbol' must/],
];

/** Lake keys hold only the characters the key layout uses. */
const SAFE_KEY = /^[A-Za-z0-9][A-Za-z0-9._:=+\/-]*$/;

Deno.test({
  name:
    "hostile messages are dead-lettered with their reason and counted; the valid ones beside them reach gold; keys and SQL stay clean",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const env = stateIn(dir);
    const stream = openStream(loadConfig(env));
    await stream.ensureTopic();
    const producer = await stream.producer();
    const valid = SYMBOLS.flatMap((symbol) =>
      [0, 1, 2, 3].map((i) => ({
        key: symbol,
        value: JSON.stringify(quote(symbol, i)),
      }))
    );
    // Interleaved, so bad messages sit inside batches of good ones.
    const messages = valid.flatMap((message, i) =>
      i < HOSTILE.length
        ? [message, { key: HOSTILE[i][0], value: HOSTILE[i][1] }]
        : [message]
    );
    await producer.send(messages);
    await producer.close();

    const consumed = await run("consumer.ts", ["--drain"], env);
    assertSuccess(consumed, "consume");
    assertSuccess(await run("loader.ts", [], env), "load");
    assertSuccess(
      await run("scripts/transform.ts", ["build"], env),
      "dbt build",
    );

    // Every bad message is a dead letter with the reason its test names.
    const lake = join(dir, "lake");
    const keys: string[] = [];
    const walk = async (path: string) => {
      for await (const entry of Deno.readDir(path)) {
        const child = join(path, entry.name);
        if (entry.isDirectory) await walk(child);
        else keys.push(child.slice(lake.length + 1));
      }
    };
    await walk(lake);
    for (const key of keys) assert.match(key, SAFE_KEY, key);
    const dead: { value: string; reason: { rule: string; field: string } }[] =
      [];
    for (const key of keys.filter((k) => k.startsWith("dead-letter/"))) {
      for (
        const line of await decodeLines(await Deno.readFile(join(lake, key)))
      ) {
        dead.push(JSON.parse(line));
      }
    }
    assert.equal(dead.length, HOSTILE.length);
    for (const [, value, reason] of HOSTILE) {
      const letter = dead.find((d) => d.value === value);
      assert.ok(letter, `dead-lettered: ${value.slice(0, 60)}`);
      assert.match(
        `'${letter.reason.field}' ${letter.reason.rule}`,
        reason,
        value.slice(0, 60),
      );
    }

    // RAW and silver hold the valid events only, and RAW still stands.
    const db = join(dir, "warehouse.duckdb");
    assert.equal(
      await count(db, "select count(*) from raw.source_stock_quotes"),
      valid.length,
    );
    await withWarehouse(db, async (query) => {
      const symbols = (await query(
        "select distinct symbol from silver.silver_clean_stock_quotes order by 1",
      )).map(([symbol]) => symbol);
      assert.deepEqual(symbols, [...SYMBOLS].sort());
      assert.deepEqual(
        await query("select count(*)::integer from gold.gold_latest_kpi"),
        [[SYMBOLS.length]],
      );
    });

    // Reconciled: every message accounted for, the bad ones as quarantined.
    const reconciled = await run("scripts/reconcile.ts", ["--json"], env);
    assert.equal(reconciled.code, 0, reconciled.stderr);
    const report = JSON.parse(reconciled.stdout) as Reconciliation;
    assert.deepEqual(
      [
        report.totals.events,
        report.totals.raw,
        report.totals.quarantined,
        report.totals.lost,
        report.totals.duplicated,
      ],
      [messages.length, valid.length, HOSTILE.length, 0, 0],
    );
    // The consumer said what it refused, one warning per message.
    assert.equal(
      consumed.stderr.split("\n").filter((l) =>
        l.includes('msg="dead-lettered event"')
      ).length,
      HOSTILE.length,
    );
    await Deno.remove(dir, { recursive: true });
  },
});
