import assert from "node:assert/strict";
import {
  loadEnvFile,
  onExitNow,
  shutdownSignal,
} from "../../lib/runtime/main.ts";
import { setLogSink } from "../../lib/runtime/log.ts";

/** A shutdown signal on a fake clock, with the signals sent by hand. */
function harness() {
  let clock = 0;
  const handlers = new Map<string, () => void>();
  const exits: number[] = [];
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  const signal = shutdownSignal({
    now: () => clock,
    listen: (name, handler) => handlers.set(name, handler),
    exit: (code) => exits.push(code),
  });
  return {
    signal,
    exits,
    lines,
    restore,
    at(ms: number, name: "SIGINT" | "SIGTERM" = "SIGINT") {
      clock = ms;
      handlers.get(name)!();
    },
  };
}

Deno.test("shutdownSignal(): the first signal stops cleanly; copies within 2 s are ignored", () => {
  const h = harness();
  try {
    assert.equal(h.signal.aborted, false);
    h.at(1_000);
    assert.equal(h.signal.aborted, true);
    // deno task forwards the terminal's SIGINT: the process sees it twice.
    h.at(1_003);
    h.at(2_999, "SIGTERM");
    assert.deepEqual(h.exits, []);
    assert.equal(
      h.lines.filter((l) => /stopping cleanly; press Ctrl-C again/.test(l))
        .length,
      1,
    );
  } finally {
    h.restore();
  }
});

Deno.test("shutdownSignal(): a signal after the grace period runs the exit hooks and exits 130", () => {
  const h = harness();
  const killed: string[] = [];
  const forget = onExitNow(() => killed.push("dbt"));
  const forgotten = onExitNow(() => killed.push("ended child"));
  forgotten(); // that child ended: it is not killed
  const forgetGone = onExitNow(() => {
    throw new Error("already gone");
  });
  try {
    h.at(0);
    h.at(2_500);
    assert.deepEqual(h.exits, [130]);
    assert.deepEqual(killed, ["dbt"]);
    assert.ok(h.lines.some((l) => /level=warn .*stopping at once/.test(l)));
  } finally {
    forget();
    forgetGone();
    h.restore();
  }
});

Deno.test("loadEnvFile() reads .env when it exists, says nothing when it does not, and never overrides the environment", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/.env`;
  const values = new Map<string, string>([["ENV_FILE", file], [
    "SIM_RATE",
    "9",
  ]]);
  const env = {
    get: (key: string) => values.get(key),
    set: (key: string, value: string) => void values.set(key, value),
    has: (key: string) => values.has(key),
  };
  await loadEnvFile(env); // no file yet
  assert.deepEqual([...values.keys()], ["ENV_FILE", "SIM_RATE"]);
  await Deno.writeTextFile(
    file,
    '# local settings\nSYMBOLS="AAPL,MSFT"\nSIM_RATE=2\nexport LOG_LEVEL=warn\n',
  );
  await loadEnvFile(env);
  assert.equal(values.get("SYMBOLS"), "AAPL,MSFT");
  assert.equal(values.get("LOG_LEVEL"), "warn");
  assert.equal(values.get("SIM_RATE"), "9", "the environment wins");
  values.set("ENV_FILE", "");
  values.delete("SYMBOLS");
  await loadEnvFile(env);
  assert.equal(values.get("SYMBOLS"), undefined, "ENV_FILE= reads none");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a task run without .env prints no warning about it", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "produce", "--help"],
    cwd: new URL("../..", import.meta.url).pathname,
    env: { ENV_FILE: `${await Deno.makeTempDir()}/.env` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.doesNotMatch(stderr, /Warning|not found/);
});
