/**
 * Secrets never leave the environment: a whole run (Finnhub source on the
 * local fake, stream, lake, warehouse, dbt) at LOG_LEVEL=debug, with a
 * sentinel in every secret setting, and then a failing run that prints its
 * error. No sentinel may appear in any output or in any file the run wrote.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SETTINGS } from "../../lib/runtime/config.ts";
import { finnhubQuote, startFakeFinnhub } from "../fake_finnhub.ts";
import {
  assertSuccess,
  files,
  holds,
  ROOT,
  run,
  stateIn,
  SYMBOLS,
} from "../_helpers.ts";

Deno.test({
  name:
    "no secret reaches a log line or a written file, in a full debug run and in a failing one",
  sanitizeResources: false,
  async fn() {
    const secrets = Object.values(SETTINGS).filter((s) =>
      "secret" in s && s.secret
    ).map((s) => s.key);
    assert.ok(secrets.length >= 4, `secret settings: ${secrets.join(", ")}`);
    const sentinel = (key: string) =>
      `sentinel-${key.toLowerCase().replaceAll("_", "-")}-0b7f`;
    const env: Record<string, string> = Object.fromEntries(
      secrets.map((key) => [key, sentinel(key)]),
    );
    const dir = await Deno.makeTempDir();
    const t = Math.floor(Date.now() / 1000) - 60;
    await using fake = await startFakeFinnhub({
      apiKey: env.FINNHUB_API_KEY,
      scripts: Object.fromEntries(
        SYMBOLS.map((s, i) => [s, [
          { body: finnhubQuote({ c: 100 + i, t }) },
          { body: finnhubQuote({ c: 101 + i, t: t + 5 }) },
        ]]),
      ),
    });
    const runEnv = {
      ...stateIn(dir),
      ...env,
      FINNHUB_BASE_URL: fake.baseUrl,
      LOG_LEVEL: "debug",
    };
    const outputs: string[] = [];
    const demo = await run(
      "demo.ts",
      ["--source", "finnhub", "--count", "10"],
      runEnv,
    );
    assertSuccess(demo, "demo");
    outputs.push(demo.stdout, demo.stderr);
    // A failing run prints its error: the wrong key, named but not shown.
    const denied = await run(
      "producer.ts",
      ["--source", "finnhub", "--count", "1"],
      { ...runEnv, FINNHUB_API_KEY: "sentinel-wrong-key-0b7f" },
    );
    assert.equal(denied.code, 1);
    outputs.push(denied.stdout, denied.stderr);
    // The fake saw the key, in its header: the run did use it.
    assert.ok(
      fake.requests.some((r) => r.authorized && r.tokenVia === "header"),
    );

    for (const value of [...Object.values(env), "sentinel-wrong-key-0b7f"]) {
      for (const output of outputs) {
        assert.ok(!output.includes(value), `${value} in the output`);
      }
      for await (const path of files(dir)) {
        assert.ok(!await holds(path, value), `${value} in ${path}`);
      }
      for (const sub of ["logs", "target"]) {
        for await (const path of files(join(ROOT, "dbt_stocks", sub))) {
          if (path.endsWith(".log") || path.endsWith(".json")) {
            assert.ok(!await holds(path, value), `${value} in ${path}`);
          }
        }
      }
    }
    await Deno.remove(dir, { recursive: true });
  },
});
