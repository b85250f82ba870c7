import assert from "node:assert/strict";
import { loadConfig, SETTINGS } from "../../lib/runtime/config.ts";
import { redact, setLogSink } from "../../lib/runtime/log.ts";
import { logger } from "../../lib/runtime/log.ts";

Deno.test("loadConfig() applies the documented defaults", () => {
  const config = loadConfig({});
  assert.deepEqual(config.symbols, ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN"]);
  assert.equal(config.topic, "stock-quotes");
  assert.equal(config.kafkaBrokers, undefined);
  assert.equal(config.s3Bucket, undefined);
  assert.equal(config.lakeDir, "data/lake");
  assert.equal(config.duckdbPath, "data/warehouse.duckdb");
  assert.equal(config.duckdbGoldCopyPath, undefined, "beside DUCKDB_PATH");
  assert.equal(config.duckdbGoldCopyEveryMs, 2000);
  assert.equal(config.partitions, 3);
  assert.equal(config.finnhubCallsPerMinute, 60);
});

Deno.test("loadConfig() rejects invalid values with the variable, the rule and the value", () => {
  assert.throws(
    () => loadConfig({ FLUSH_MAX_EVENTS: "lots" }),
    new RangeError(
      `Cannot read configuration as 'FLUSH_MAX_EVENTS' must be a positive decimal integer: current value is "lots"`,
    ),
  );
  for (const text of ["0x10", "1e3", "0b1", "16.0", "-4"]) {
    assert.throws(
      () => loadConfig({ FLUSH_MAX_EVENTS: text }),
      new RangeError(
        `Cannot read configuration as 'FLUSH_MAX_EVENTS' must be a positive decimal integer: current value is ${
          JSON.stringify(text)
        }`,
      ),
    );
  }
  assert.throws(
    () => loadConfig({ SIM_RATE: "0x10" }),
    /'SIM_RATE' must be a positive decimal number: current value is "0x10"/,
  );
  assert.equal(loadConfig({ SIM_RATE: "2.5" }).simRate, 2.5);
  assert.throws(
    () => loadConfig({ SYMBOLS: "AAPL,../etc" }),
    /'SYMBOLS' must be a comma-separated list of symbols/,
  );
  assert.throws(
    () => loadConfig({ LOG_LEVEL: "chatty" }),
    /'LOG_LEVEL' must be one of debug, info, warn, error/,
  );
  assert.throws(
    () => loadConfig({ SYMBOLS: "AAPL,AAPL" }),
    new RangeError(
      `Cannot read configuration as 'SYMBOLS' must name each symbol once: AAPL is repeated in "AAPL,AAPL"`,
    ),
  );
  assert.deepEqual(loadConfig({ SYMBOLS: " AAPL , MSFT," }).symbols, [
    "AAPL",
    "MSFT",
  ]);
});

Deno.test(".env.example documents every setting with its default", async () => {
  const example = await Deno.readTextFile(
    new URL("../../.env.example", import.meta.url),
  );
  for (const setting of Object.values(SETTINGS)) {
    assert.ok(example.includes(`# ${setting.doc}\n`), `doc of ${setting.key}`);
    assert.ok(
      example.includes(`# ${setting.key}=${setting.fallback ?? ""}\n`),
      `default of ${setting.key}`,
    );
  }
});

Deno.test("loadConfig() registers secrets so no log line can carry them", () => {
  const key = "sentinel-finnhub-key-4f1c2b";
  const secret = "sentinel-s3-secret-9d8e7f";
  loadConfig({ FINNHUB_API_KEY: key, AWS_SECRET_ACCESS_KEY: secret });
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  const log = logger("test");
  log.info(`calling https://example.invalid/quote?token=${key}`, {
    detail: `secret ${secret}`,
  });
  log.warn("failed", {
    error: new Error(`denied for ${key}`),
    apiKey: "plain-value",
  });
  restore();
  const text = lines.join("\n");
  assert.ok(
    !text.includes(key) && !text.includes(secret) &&
      !text.includes("plain-value"),
    text,
  );
  assert.match(text, /token=\*\*\*/);
  assert.match(text, /apiKey=\*\*\*/);
  assert.equal(redact(`x ${key} y`), "x *** y");
});

Deno.test("logger() writes one logfmt line per call, or JSON with LOG_FORMAT=json", () => {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  logger("consumer").info("landed object", {
    key: "stock-quotes/a b",
    events: 3,
  });
  Deno.env.set("LOG_FORMAT", "json");
  logger("consumer").info("landed object", { events: 3 });
  Deno.env.delete("LOG_FORMAT");
  Deno.env.set("LOG_LEVEL", "warn");
  logger("consumer").info("hidden");
  Deno.env.delete("LOG_LEVEL");
  restore();
  assert.equal(lines.length, 2);
  assert.match(
    lines[0],
    /^ts=\S+ level=info component=consumer msg="landed object" key="stock-quotes\/a b" events=3$/,
  );
  assert.deepEqual({ ...JSON.parse(lines[1]), ts: "-" }, {
    ts: "-",
    level: "info",
    component: "consumer",
    msg: "landed object",
    events: 3,
  });
});
