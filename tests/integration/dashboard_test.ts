/**
 * The dashboard in real Chromium (tests/_browser.ts) on real parts:
 * `deno task demo --continuous --dashboard` as a process of its own, its
 * simulated market going through the embedded stream, the lake, DuckDB and
 * dbt into the gold copy the page reads; and `deno task dashboard` on an
 * empty data directory. Screenshots are kept in tests/artifacts/.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { assertSuccess, spawn, stateIn } from "../_helpers.ts";
import { artifactPath, colouredPixels, launchChromium } from "../_browser.ts";
import { until } from "../_wait.ts";

const SYMBOLS = ["AAPL", "MSFT", "TSLA"];

/** Collects the page's console errors and uncaught exceptions. */
function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/**
 * Waits until an expression holds in the page. Polled from here with
 * `page.evaluate`, as the page's Content-Security-Policy refuses the
 * `eval` that Playwright's own waitForFunction would use.
 */
async function untilInPage(
  page: Page,
  expression: string,
  timeoutMs: number,
  what: string,
): Promise<void> {
  await until(async () => await page.evaluate(expression) === true, {
    timeoutMs,
    intervalMs: 100,
    what,
  });
}

/** Waits until the dashboard at `url` answers its health check. */
async function dashboardUp(url: string, timeoutMs: number): Promise<void> {
  await until(
    async () => {
      try {
        const response = await fetch(`${url}api/health`);
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    },
    { timeoutMs, intervalMs: 100, what: `the dashboard at ${url}` },
  );
}

Deno.test({
  name:
    "demo --continuous --dashboard shows every symbol, draws candles, updates without a reload and fits a phone",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const url = "http://127.0.0.1:59131/";
    const demo = spawn("demo.ts", ["--continuous", "--dashboard"], {
      ...stateIn(dir),
      SYMBOLS: SYMBOLS.join(","),
      DASHBOARD_PORT: "59131",
      DUCKDB_GOLD_COPY_EVERY_MS: "500",
    });
    const browser = await launchChromium();
    try {
      await dashboardUp(url, 60_000);
      const page = await browser.newPage({
        viewport: { width: 1280, height: 800 },
      });
      const errors = pageErrors(page);
      const response = await page.goto(url);
      assert.equal(response?.status(), 200);
      // Set once: a reload would lose it.
      await page.evaluate("globalThis.loadedOnce = true");

      // Every symbol, once the first gold copy is out (the page fills in by itself).
      await untilInPage(
        page,
        `${JSON.stringify(SYMBOLS)}.every((symbol) =>
          document.querySelector('#kpi-table tbody tr[data-symbol="' + symbol + '"]') !== null)`,
        90_000,
        "every symbol in the KPI table",
      );
      const rows = await page.locator("#kpi-table tbody th").allTextContents();
      assert.deepEqual(rows.map((text) => text.trim()), SYMBOLS);
      // Times in New York's zone (US listings), as the exchange's clock says.
      assert.match(
        await page.locator('#kpi-table [data-column="latest"]').first()
          .textContent() ?? "",
        /^\d\d:\d\d:\d\d E[SD]T$/,
      );

      // The 1m chart of the first symbol: candles drawn on the canvas.
      await page.getByRole("button", { name: "1m", exact: true }).click();
      await untilInPage(
        page,
        `document.getElementById("chart-title").textContent === "AAPL candles, 1m"
          && document.querySelector("#candles canvas") !== null`,
        30_000,
        "the 1m chart",
      );
      let coloured = 0;
      await until(async () => {
        const png = await page.locator("#candles").screenshot({
          path: await artifactPath("dashboard-candles.png"),
        });
        coloured = await colouredPixels(page, png);
        return coloured > 200;
      }, { timeoutMs: 30_000, intervalMs: 500, what: "candles on the canvas" });

      // A new gold copy changes the page without a reload.
      const built = await page.locator("#gold-status").textContent();
      await untilInPage(
        page,
        `document.getElementById("gold-status").textContent !== ${
          JSON.stringify(built)
        } && document.getElementById("gold-status").textContent.startsWith("Gold built")`,
        30_000,
        "the next gold build on the page",
      );
      assert.equal(await page.evaluate("globalThis.loadedOnce"), true);
      // The pipeline panel: the stream's partitions, RAW left unread in the
      // demo's own process, and when gold was built.
      await untilInPage(
        page,
        `["quotes 0", "trades 2", "not read by the dashboard", "Gold built"]
          .every((text) => document.getElementById("pipeline").textContent.includes(text))`,
        30_000,
        "the pipeline panel",
      );
      await page.screenshot({
        path: await artifactPath("dashboard-1280x800.png"),
      });

      // A phone's width: nothing wider than the screen.
      await page.setViewportSize({ width: 375, height: 812 });
      // The chart redraws at its new width on its next frame.
      await untilInPage(
        page,
        "document.documentElement.scrollWidth <= innerWidth",
        10_000,
        "a page no wider than the phone's 375 px",
      );
      await page.screenshot({
        path: await artifactPath("dashboard-375.png"),
        fullPage: true,
      });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      demo.child.kill("SIGINT");
      const result = await demo.finished;
      await Deno.remove(dir, { recursive: true });
      assertSuccess(result, "demo --continuous --dashboard");
    }
  },
});

Deno.test({
  name:
    "deno task dashboard on an empty data directory shows 'No data yet' with HTTP 200, and --check finds it healthy",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const url = "http://127.0.0.1:59132/";
    const env = { ...stateIn(dir), DASHBOARD_PORT: "59132" };
    const dashboard = spawn("dashboard.ts", [], env);
    const browser = await launchChromium();
    try {
      await dashboardUp(url, 30_000);
      const page = await browser.newPage({
        viewport: { width: 1280, height: 800 },
      });
      const errors = pageErrors(page);
      const response = await page.goto(url);
      assert.equal(response?.status(), 200);
      const empty = page.locator("#empty");
      await empty.waitFor({ state: "visible", timeout: 10_000 });
      assert.match(await empty.textContent() ?? "", /No data yet/);
      assert.equal(await page.locator("#market").isHidden(), true);
      await page.screenshot({
        path: await artifactPath("dashboard-empty.png"),
      });
      assert.deepEqual(errors, []);

      const check = spawn("dashboard.ts", ["--check"], env);
      const checked = await check.finished;
      assertSuccess(checked, "dashboard --check");
      assert.match(checked.stdout, /"gold":"empty"/);
    } finally {
      await browser.close();
      dashboard.child.kill("SIGTERM");
      const result = await dashboard.finished;
      await Deno.remove(dir, { recursive: true });
      assertSuccess(result, "deno task dashboard");
    }
  },
});

Deno.test("demo --dashboard without --continuous says what it needs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const demo = await spawn("demo.ts", ["--dashboard"], stateIn(dir))
      .finished;
    assert.equal(demo.code, 1);
    assert.match(
      demo.stderr,
      /Cannot serve the dashboard as '--dashboard' needs '--continuous'/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
