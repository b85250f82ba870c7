/**
 * What a new user gets wrong first, refused before any work starts: each
 * entry point runs as a subprocess and must exit 1 with one line naming the
 * option, the rule and the value, having written nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { run, stateIn } from "../_helpers.ts";

/** Runs an entry point in a fresh state directory; returns it and the state. */
async function attempt(
  script: string,
  args: string[],
  env: Record<string, string> = {},
) {
  const dir = await Deno.makeTempDir();
  const state = stateIn(dir);
  const result = await run(script, args, { ...state, ...env });
  return { ...result, dir, state };
}

/** The run failed with exactly one log line, an error, that matches `pattern`. */
function assertRefused(
  result: { code: number; stderr: string },
  pattern: RegExp,
): void {
  const lines = result.stderr.trim().split("\n");
  assert.equal(result.code, 1, result.stderr);
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], /level=error/);
  assert.match(lines[0], pattern);
}

async function isEmpty(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(dir)) return false;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
  return true;
}

Deno.test("--file without --source replay is refused, not ignored", async () => {
  const result = await attempt("demo.ts", ["--file", "quotes.ndjson"]);
  assertRefused(
    result,
    /Cannot read '--file' as it needs '--source replay': current values are --source simulated --file quotes.ndjson/,
  );
  assert.ok(await isEmpty(result.state.STREAM_DIR), "published anyway");
});

Deno.test("an unknown or malformed option is named in one line, without the usage text", async () => {
  for (
    const [script, task, args, pattern] of [
      ["demo.ts", "demo", ["--sourec", "replay"], /'--sourec' is not one/],
      ["producer.ts", "produce", ["--rate"], /'--rate' needs a value/],
      ["consumer.ts", "consume", ["--drain=yes"], /'--drain' is a flag/],
      ["loader.ts", "load", ["stock-quotes/"], /'stock-quotes\/' is not an/],
      ["scripts/reconcile.ts", "reconcile", ["--jsn"], /'--jsn' is not one/],
      ["scripts/copy_gold.ts", "copy-gold", ["--to", "x"], /'--to' is not one/],
    ] as const
  ) {
    const result = await attempt(script, [...args]);
    assertRefused(result, pattern);
    assert.match(
      result.stderr,
      new RegExp(
        `Cannot run 'deno task ${task}' as .*: run 'deno task ${task} --help' for its options`,
      ),
    );
    assert.doesNotMatch(result.stderr, /\\n|Usage/);
  }
});

Deno.test("every task answers --help with its usage", async () => {
  for (
    const [script, usage] of [
      ["demo.ts", "Usage: deno task demo"],
      ["producer.ts", "Usage: deno task produce"],
      ["consumer.ts", "Usage: deno task consume"],
      ["loader.ts", "Usage: deno task load"],
      ["scripts/reconcile.ts", "Usage: deno task reconcile"],
      ["scripts/copy_gold.ts", "Usage: deno task copy-gold"],
    ]
  ) {
    const result = await attempt(script, ["--help"]);
    assert.equal(result.code, 0, `${script}: ${result.stderr}`);
    assert.ok(result.stdout.startsWith(usage), `${script}: ${result.stdout}`);
    assert.equal(result.stderr, "", script);
  }
});

Deno.test("a repeated symbol and a number that is not plain decimal are refused", async () => {
  assertRefused(
    await attempt("producer.ts", ["--count", "1"], { SYMBOLS: "AAPL,AAPL" }),
    /'SYMBOLS' must name each symbol once: AAPL is repeated in \\"AAPL,AAPL\\"/,
  );
  assertRefused(
    await attempt("consumer.ts", ["--drain"], { FLUSH_MAX_EVENTS: "0x10" }),
    /'FLUSH_MAX_EVENTS' must be a positive decimal integer: current value is \\"0x10\\"/,
  );
});

Deno.test("a bad DUCKDB_PATH is refused before anything is produced, naming the variable", async () => {
  const scratch = await Deno.makeTempDir();
  const notDuckDB = join(scratch, "notes.duckdb");
  await Deno.writeTextFile(notDuckDB, "these are my notes, not a database\n");
  for (
    const [value, rule] of [
      [scratch, "it must be a DuckDB database file, not a directory"],
      [notDuckDB, "it must be a DuckDB database file and this file is not one"],
      [
        join(notDuckDB, "warehouse.duckdb"),
        "a part of its path is a file, not a directory",
      ],
    ]
  ) {
    const result = await attempt("demo.ts", ["--count", "5"], {
      DUCKDB_PATH: value,
    });
    assertRefused(
      result,
      new RegExp(
        `Cannot use 'DUCKDB_PATH' as ${rule}: current value is \\\\"${value}\\\\"`,
      ),
    );
    assert.ok(await isEmpty(result.state.STREAM_DIR), "produced first");
    assert.equal(
      await Deno.readTextFile(notDuckDB),
      "these are my notes, not a database\n",
    );
  }
});

Deno.test("a replay whose every line is rejected fails, naming the first reason", async () => {
  const scratch = await Deno.makeTempDir();
  const file = join(scratch, "prices.csv");
  await Deno.writeTextFile(
    file,
    "symbol,c,t\nAAPL,abc,1767225600\nMSFT,-1,1767225600\n",
  );
  const result = await attempt("producer.ts", [
    "--source",
    "replay",
    "--file",
    file,
  ]);
  assert.equal(result.code, 1, result.stderr);
  const error = result.stderr.split("\n").find((l) => /level=error/.test(l));
  assert.match(
    error ?? "",
    new RegExp(
      `Cannot publish from replay as every one of its 2 inputs was rejected, the first at ${file}:2: 'c' must be a finite number > 0: current value is \\\\"abc\\\\"`,
    ),
  );
  // The rejects are kept with their reasons.
  assert.ok(!await isEmpty(join(result.state.LAKE_DIR, "dead-letter")));
});
