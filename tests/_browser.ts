/**
 * Real Chromium for the tests that look at a page: Debian's `chromium`
 * (installed with apt-get when missing, dev/debian.ts), driven by
 * `playwright-core`, which never downloads a browser of its own. Headless,
 * as root needs it without the sandbox, with a new empty profile each
 * launch (Playwright makes one), and without the background traffic a
 * desktop browser starts (updates, sync, QUIC).
 */
import { type Browser, chromium } from "playwright-core";
import { ensureDebianPackages } from "../dev/debian.ts";

/** Chromium's flags for a quiet, self-contained test browser. */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches headless Chromium.
 *
 * @returns The browser; close it in a `finally`.
 * @throws {Error} When Chromium cannot be installed or does not start.
 */
export async function launchChromium(): Promise<Browser> {
  const [executablePath] = await ensureDebianPackages([
    { name: "chromium", program: "/usr/bin/chromium" },
  ]);
  return await chromium.launch({
    executablePath,
    headless: true,
    args: FLAGS,
    timeout: 60_000,
  });
}

/** Where the tests keep their screenshots (git-ignored), created on demand. */
export async function artifactPath(name: string): Promise<string> {
  const dir = new URL("./artifacts/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  return `${dir}${name}`;
}

/**
 * Counts the strongly coloured pixels of a PNG, decoded by the page's own
 * browser: a chart's candles and volume bars are; its background, grid and
 * axis labels (greys) are not.
 *
 * @param page Any page of the browser (it decodes the image).
 * @param png The screenshot.
 * @returns Pixels whose channels differ by more than 60.
 */
export async function colouredPixels(
  page: { evaluate(expression: string): Promise<unknown> },
  png: Uint8Array,
): Promise<number> {
  const base64 = btoa(
    Array.from(png, (byte) => String.fromCharCode(byte)).join(""),
  );
  return Number(
    await page.evaluate(`(async () => {
      const bytes = Uint8Array.from(atob("${base64}"), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext("2d");
      context.drawImage(bitmap, 0, 0);
      const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        const high = Math.max(data[i], data[i + 1], data[i + 2]);
        const low = Math.min(data[i], data[i + 1], data[i + 2]);
        if (high - low > 60) count++;
      }
      return count;
    })()`),
  );
}
