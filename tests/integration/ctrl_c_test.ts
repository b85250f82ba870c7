/**
 * Ctrl-C as a person presses it: each task runs under `deno task` in a real
 * pseudo-terminal (tests/pty_driver.py), and a Ctrl-C is typed into the
 * terminal, so the signal reaches every process of the terminal's foreground
 * group, the task runner included, exactly as from a keyboard.
 *
 * One Ctrl-C must always be a clean stop with the task's closing lines; a
 * second one, some seconds later, stops at once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertSuccess,
  lineReader,
  ROOT,
  run as runScript,
  stateIn,
} from "../_helpers.ts";
import { until } from "../_wait.ts";

/** Processes whose environment holds `entry` (e.g. `DUCKDB_PATH=…`). */
async function processesWith(entry: string): Promise<number[]> {
  const found: number[] = [];
  for await (const proc of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(proc.name)) continue;
    const environ = await Deno.readFile(`/proc/${proc.name}/environ`).catch(
      () => new Uint8Array(),
    );
    if (new TextDecoder().decode(environ).split("\0").includes(entry)) {
      found.push(Number(proc.name));
    }
  }
  return found;
}

/** A task running in a pseudo-terminal: its screen, line by line, and a Ctrl-C key. */
function inTerminal(task: string[], env: Record<string, string>) {
  const child = new Deno.Command("python3", {
    args: [
      join(ROOT, "tests", "pty_driver.py"),
      Deno.execPath(),
      "task",
      ...task,
    ],
    cwd: ROOT,
    // Embedded services, whatever the tests' own environment points at.
    env: {
      ENV_FILE: "",
      KAFKA_BROKERS: "",
      S3_BUCKET: "",
      WAREHOUSE: "duckdb",
      ...env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const keys = child.stdin.getWriter();
  return {
    child,
    screen: lineReader(child.stdout),
    ctrlC: () => keys.write(new TextEncoder().encode("ctrl-c\n")),
    /** Waits for the exit; returns the code and everything shown. */
    async finished(timeoutMs: number) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`still running after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        const lines = await Promise.race([this.screen.drain(), timedOut]);
        const { code } = await child.status;
        await keys.close().catch(() => {});
        return { code, text: lines.join("\n") };
      } catch (error) {
        child.kill("SIGKILL");
        await child.status;
        throw new Error(
          `${(error as Error).message}; the screen:\n${
            this.screen.all.slice(-20).join("\n")
          }`,
        );
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** No error line, no Python traceback, and the signal was taken once. */
function assertClean(text: string): void {
  assert.doesNotMatch(text, /level=error|Traceback|KeyboardInterrupt/, text);
  assert.equal(
    text.match(/msg="stopping cleanly; press Ctrl-C again to stop at once"/g)
      ?.length,
    1,
    text,
  );
  assert.doesNotMatch(text, /stopping at once/, text);
}

Deno.test("demo --continuous: one Ctrl-C, while dbt runs, ends with the final build, the gold summary and the freshness", async () => {
  const dir = await Deno.makeTempDir();
  const run = inTerminal(["demo", "--continuous"], {
    ...stateIn(dir),
    LOG_LEVEL: "debug",
  });
  // Twice round the cycle, then press while the third dbt run is under way.
  for (let i = 0; i < 3; i++) {
    await run.screen.until(/component=dbt msg="dbt \w+ started"/, 120_000);
  }
  await run.ctrlC();
  const { code, text } = await run.finished(120_000);
  assert.equal(code, 0, text);
  assertClean(text);
  assert.match(text, /msg="dbt build passed"/);
  assert.match(text, /Freshness over \d+ cycles/);
  assert.match(text, /to its gold_latest_kpi row: +p50/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("demo: one Ctrl-C while producing loads, builds and summarises what was published", async () => {
  const dir = await Deno.makeTempDir();
  const run = inTerminal(["demo", "--duration", "10m", "--rate", "50"], {
    ...stateIn(dir),
    FLUSH_MAX_AGE_MS: "200",
  });
  await run.screen.until(/msg=progress .*landed=[1-9]/, 60_000);
  await run.ctrlC();
  const { code, text } = await run.finished(180_000);
  assert.equal(code, 0, text);
  assertClean(text);
  assert.match(
    text,
    /msg="stopped early: loading and building what was published" published=[1-9]/,
  );
  assert.match(text, /msg="load finished|msg=loaded/);
  assert.match(text, /msg="dbt build passed"/);
  assert.match(text, /AAPL/); // the gold summary's rows
  await Deno.remove(dir, { recursive: true });
});

Deno.test("produce and consume: one Ctrl-C flushes, commits and says so", async () => {
  const dir = await Deno.makeTempDir();
  const state = stateIn(dir);
  const produce = inTerminal(["produce", "--rate", "100"], state);
  await produce.screen.until(/msg=producing/, 60_000);
  await produce.screen.until(/msg=progress .*published=[1-9]/, 60_000);
  await produce.ctrlC();
  const produced = await produce.finished(60_000);
  assert.equal(produced.code, 0, produced.text);
  assertClean(produced.text);
  const published = Number(
    /msg="producer finished" published=(\d+)/.exec(produced.text)?.[1],
  );
  assert.ok(published > 0, produced.text);

  const consume = inTerminal(["consume"], {
    ...state,
    FLUSH_MAX_AGE_MS: "200",
  });
  await consume.screen.until(/msg=progress .*events=[1-9]/, 60_000);
  await consume.ctrlC();
  const consumed = await consume.finished(60_000);
  assert.equal(consumed.code, 0, consumed.text);
  assertClean(consumed.text);
  assert.match(
    consumed.text,
    new RegExp(
      `msg="consumer finished" consumed=${published} events=${published} `,
    ),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a second Ctrl-C seconds after the first stops at once, dbt with it", async () => {
  const dir = await Deno.makeTempDir();
  const state = stateIn(dir);
  // A warehouse with quotes, so that dbt's build takes some seconds.
  assertSuccess(
    await runScript("demo.ts", ["--count", "200", "--rate", "200"], state),
    "demo",
  );
  const run = inTerminal(["transform"], state);
  // dbt's first lines: the build is under way.
  await run.screen.until(/Found \d+ models/, 120_000);
  await run.ctrlC();
  await run.screen.until(/msg="stopping cleanly/, 10_000);
  // The grace period in which copies of the first Ctrl-C are ignored (2 s).
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  await run.ctrlC();
  const { code, text } = await run.finished(60_000);
  assert.equal(code, 130, text);
  assert.match(text, /level=warn component=main msg="stopping at once/);
  assert.doesNotMatch(text, /Completed successfully/, "dbt ran to its end");
  // No dbt of this run is left behind.
  await until(
    async () =>
      (await processesWith(`DUCKDB_PATH=${state.DUCKDB_PATH}`)).length === 0,
    { timeoutMs: 15_000, intervalMs: 200, what: "dbt to stop" },
  );
  await Deno.remove(dir, { recursive: true });
});
