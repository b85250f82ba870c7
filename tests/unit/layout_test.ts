/**
 * The house rules of lib/, read from the code's own imports (type imports
 * included): folders by stage, imports that run one way from lib/dashboard/
 * and lib/app/ down to lib/contract/, no cycle, nothing from the development tooling, and no
 * file too long to read.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LIB = join(ROOT, "lib");

/**
 * Each stage's floor: a file may import from its own folder or from a folder
 * on a lower floor, never from one above or beside it.
 */
const FLOORS: Record<string, number> = {
  contract: 0,
  runtime: 1,
  stream: 2,
  lake: 2,
  transform: 2,
  produce: 3,
  land: 3,
  warehouse: 3,
  load: 4,
  ops: 4,
  app: 5,
  dashboard: 6,
};

const MAX_LINES = 600;
const MAX_TOP_LEVEL_FILES = 12;

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}

/** Every relative module a file names: import, export … from, import(). */
function relativeImports(source: string): string[] {
  const specifiers = [
    ...source.matchAll(/\bfrom\s+"(\.{1,2}\/[^"]+)"/g),
    ...source.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g),
  ].map((match) => match[1]);
  return [...new Set(specifiers)];
}

interface Module {
  lines: number;
  imports: string[];
}

async function readLib(): Promise<Map<string, Module>> {
  const modules = new Map<string, Module>();
  for await (const path of walk(LIB)) {
    if (!path.endsWith(".ts")) continue;
    const source = await Deno.readTextFile(path);
    modules.set(relative(ROOT, path), {
      lines: source.split("\n").length - (source.endsWith("\n") ? 1 : 0),
      // A module's doc example may import the module itself.
      imports: relativeImports(source)
        .map((specifier) => relative(ROOT, resolve(dirname(path), specifier)))
        .filter((target) => target !== relative(ROOT, path)),
    });
  }
  return modules;
}

/** The stage folder of a lib/ path: `lib/<stage>/…`. */
function stage(path: string): string | undefined {
  const parts = path.split("/");
  return parts[0] === "lib" && parts.length > 2 ? parts[1] : undefined;
}

/** One import cycle among the modules, as a path, or null. */
function findCycle(modules: Map<string, Module>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (name: string): string[] | null => {
    if (state.get(name) === "done") return null;
    if (state.get(name) === "open") {
      return [...path.slice(path.indexOf(name)), name];
    }
    state.set(name, "open");
    path.push(name);
    for (const next of modules.get(name)?.imports ?? []) {
      if (!modules.has(next)) continue;
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(name, "done");
    return null;
  };
  for (const name of modules.keys()) {
    const cycle = visit(name);
    if (cycle) return cycle;
  }
  return null;
}

Deno.test("lib/ has no import cycle, type imports included", async () => {
  const cycle = findCycle(await readLib());
  assert.equal(cycle, null, `cycle: ${cycle?.join(" -> ")}`);
});

Deno.test("lib/ imports run one way, from lib/dashboard/ and lib/app/ down to lib/contract/", async () => {
  const wrong: string[] = [];
  for (const [name, module] of await readLib()) {
    const from = stage(name);
    assert.ok(
      from !== undefined && from in FLOORS,
      `${name} lies outside the stage folders ${Object.keys(FLOORS)}`,
    );
    for (const target of module.imports) {
      const to = stage(target);
      if (to === undefined || !(to in FLOORS)) {
        wrong.push(`${name} imports ${target}, outside lib/'s stages`);
      } else if (to !== from && FLOORS[to] >= FLOORS[from]) {
        wrong.push(`${name} (${from}) imports ${target} (${to})`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test(`no lib/ file is longer than ${MAX_LINES} lines`, async () => {
  const long = [...await readLib()]
    .filter(([, module]) => module.lines > MAX_LINES)
    .map(([name, module]) => `${name}: ${module.lines} lines`);
  assert.deepEqual(long, []);
});

Deno.test(`lib/ holds at most ${MAX_TOP_LEVEL_FILES} files directly, and every stage folder is known`, async () => {
  const files: string[] = [];
  for await (const entry of Deno.readDir(LIB)) {
    if (entry.isFile) files.push(entry.name);
    else assert.ok(entry.name in FLOORS, `unknown folder lib/${entry.name}`);
  }
  assert.ok(files.length <= MAX_TOP_LEVEL_FILES, `lib/ holds ${files}`);
});

Deno.test("the layout check finds a cycle and an import that runs upwards", () => {
  const modules = new Map<string, Module>([
    ["lib/lake/a.ts", { lines: 1, imports: ["lib/lake/b.ts"] }],
    ["lib/lake/b.ts", { lines: 1, imports: ["lib/lake/a.ts"] }],
  ]);
  assert.deepEqual(findCycle(modules), [
    "lib/lake/a.ts",
    "lib/lake/b.ts",
    "lib/lake/a.ts",
  ]);
  assert.ok(FLOORS[stage("lib/app/cli.ts")!] > FLOORS[stage("lib/lake/x.ts")!]);
  assert.deepEqual(
    relativeImports(
      'import type { A } from "../a.ts";\nexport { b } from "./b.ts";\nawait import("../c/d.ts");',
    ),
    ["../a.ts", "./b.ts", "../c/d.ts"],
  );
});
