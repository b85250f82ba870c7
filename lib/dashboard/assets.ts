/**
 * The page's files: its HTML, style sheet, modules and icon (./static/),
 * and the chart libraries' modules from npm, `lightweight-charts` (with
 * `fancy-canvas`, which it imports) and `d3-hierarchy`, pinned in
 * deno.json, served unchanged from the project's own origin under
 * `/static/vendor/<package>/`, never from a CDN.
 *
 * Every file is imported here as text, the libraries' exported modules
 * included, so they are part of the module graph: `deno task dashboard`
 * installs the npm packages on a fresh clone by itself, and the image's
 * `deno install --entrypoint` checks them. A library module that its entry
 * imports in turn (fancy-canvas' `./size.mjs`) is read from the entry's
 * folder in node_modules when first asked for. The page finds the
 * libraries by their bare names through an import map the server writes
 * into it ({@linkcode pageWithImportMap}).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import page from "./static/index.html" with { type: "text" };
import styles from "./static/dashboard.css" with { type: "text" };
import dashboardModule from "./static/dashboard.js" with { type: "text" };
import formatModule from "./static/format.js" with { type: "text" };
import kpiTableModule from "./static/kpi_table.js" with { type: "text" };
import candlesModule from "./static/candles.js" with { type: "text" };
import treemapModule from "./static/treemap.js" with { type: "text" };
import volatilityModule from "./static/volatility.js" with { type: "text" };
import pipelineModule from "./static/pipeline.js" with { type: "text" };
import icon from "./static/favicon.svg" with { type: "text" };
import lightweightCharts from "lightweight-charts" with { type: "text" };
import fancyCanvas from "fancy-canvas" with { type: "text" };
import d3Hierarchy from "d3-hierarchy" with { type: "text" };

/** A file the server answers with. */
export interface Asset {
  /** Its content. */
  body: string;
  /** Its media type. */
  type: string;
}

const JAVASCRIPT = "text/javascript; charset=utf-8";

/** The page's own files under `/static/`, by path. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/static/dashboard.css", { body: styles, type: "text/css; charset=utf-8" }],
  ["/static/dashboard.js", { body: dashboardModule, type: JAVASCRIPT }],
  ["/static/format.js", { body: formatModule, type: JAVASCRIPT }],
  ["/static/kpi_table.js", { body: kpiTableModule, type: JAVASCRIPT }],
  ["/static/candles.js", { body: candlesModule, type: JAVASCRIPT }],
  ["/static/treemap.js", { body: treemapModule, type: JAVASCRIPT }],
  ["/static/volatility.js", { body: volatilityModule, type: JAVASCRIPT }],
  ["/static/pipeline.js", { body: pipelineModule, type: JAVASCRIPT }],
  ["/static/favicon.svg", { body: icon, type: "image/svg+xml" }],
]);

/** A chart library: its exported module's text and where it lies. */
interface Library {
  /** The module the package exports (as deno.json pins it). */
  entry: string;
  /** That module's file name. */
  file: string;
  /** The folder of that module in node_modules. */
  dir: string;
}

function library(name: string, entry: string): [string, Library] {
  const path = fileURLToPath(import.meta.resolve(name));
  return [name, {
    entry,
    file: path.slice(dirname(path).length + 1),
    dir: dirname(path),
  }];
}

/** The chart libraries, by package name. */
const LIBRARIES: ReadonlyMap<string, Library> = new Map([
  library("lightweight-charts", lightweightCharts),
  library("fancy-canvas", fancyCanvas),
  library("d3-hierarchy", d3Hierarchy),
]);

/** The path under which a library's modules are served. */
const VENDOR = "/static/vendor/";

/** A module of a library: `<package>/<file>.mjs` or `.js`, no folders. */
const VENDOR_PATH = /^\/static\/vendor\/([a-z0-9-]+)\/([\w.-]+\.m?js)$/;

const vendorFiles = new Map<string, Promise<Asset | undefined>>();

/**
 * A module of a chart library, `/static/vendor/<package>/<file>`: the
 * package's exported module, or another module in its folder.
 *
 * @param path The request's path.
 * @returns The module, or `undefined` when the path names none.
 */
export function vendorAsset(path: string): Promise<Asset | undefined> {
  const [, name, file] = VENDOR_PATH.exec(path) ?? [];
  const found = name === undefined ? undefined : LIBRARIES.get(name);
  if (found === undefined) return Promise.resolve(undefined);
  if (file === found.file) {
    return Promise.resolve({ body: found.entry, type: JAVASCRIPT });
  }
  let read = vendorFiles.get(path);
  if (read === undefined) {
    read = Deno.readTextFile(join(found.dir, file)).then(
      (body) => ({ body, type: JAVASCRIPT }),
      () => undefined,
    );
    vendorFiles.set(path, read);
  }
  return read;
}

/** The import map that gives the page the libraries by their bare names. */
function importMap(): string {
  const imports = Object.fromEntries(
    [...LIBRARIES].map((
      [name, { file }],
    ) => [name, `${VENDOR}${name}/${file}`]),
  );
  return JSON.stringify({ imports });
}

/**
 * The page with the libraries' import map written in, and the
 * Content-Security-Policy that goes with it: everything from the page's own
 * origin, the one inline script (the import map) allowed by its hash, and
 * inline styles, as the chart library sets them.
 *
 * @returns The page's HTML and its policy.
 * @throws {Error} When the page has lost the import map's placeholder (an edit of index.html).
 */
export async function pageWithImportMap(): Promise<
  { page: Asset; policy: string }
> {
  const placeholder =
    "<!-- import map of the chart libraries, written in by the server -->";
  if (!page.includes(placeholder)) {
    throw new Error(
      `Cannot serve the dashboard as its page lacks the import map's placeholder ${placeholder}`,
    );
  }
  const map = importMap();
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(map),
  );
  const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
  return {
    page: {
      body: page.replace(
        placeholder,
        `<script type="importmap">${map}</script>`,
      ),
      type: "text/html; charset=utf-8",
    },
    policy: [
      "default-src 'self'",
      `script-src 'self' 'sha256-${hash}'`,
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
      "object-src 'none'",
    ].join("; "),
  };
}
