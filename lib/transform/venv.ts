/**
 * The project-local Python virtualenv (`.venv`) that runs dbt.
 *
 * {@linkcode ensureVenv} creates it from `requirements.txt` and records the
 * file's hash, so it is rebuilt exactly when the pins change and a warm run
 * costs one file read.
 *
 * @module
 */
import { join } from "node:path";
import { logger } from "../runtime/log.ts";
import { PROJECT_ROOT } from "../runtime/project.ts";
import { runTool } from "../runtime/tool.ts";

/** The virtualenv's directory. */
export const VENV_DIR = join(PROJECT_ROOT, ".venv");

const REQUIREMENTS = join(PROJECT_ROOT, "requirements.txt");
const log = logger("setup");

/** The path of a program installed in the virtualenv, e.g. `dbt`. */
export function venvBin(name: string): string {
  return join(VENV_DIR, "bin", name);
}

/**
 * Creates or updates a virtualenv so it matches a requirements file, keyed on
 * the file's hash (a warm call reads one file).
 *
 * @param dir The virtualenv's directory; the project's `.venv` by default.
 * @param requirements The pinned requirements; `requirements.txt` by default.
 * @throws {FatalError} When Python is missing or pip fails.
 */
export async function ensureVenv(
  dir: string = VENV_DIR,
  requirements: string = REQUIREMENTS,
): Promise<void> {
  const stamp = join(dir, ".requirements.sha256");
  const wanted = await sha256(await Deno.readFile(requirements));
  const have = await Deno.readTextFile(stamp).catch(() => "");
  if (have.trim() === wanted) return;

  const python = Deno.env.get("PYTHON") ?? "python3";
  log.info(
    "creating a Python virtualenv (once, and again when its requirements change)",
    { dir, requirements },
  );
  const started = performance.now();
  const purpose = `set up the virtualenv ${dir}`;
  // --clear: a changed requirements file leaves no package it dropped behind.
  await runTool(python, ["-m", "venv", "--clear", dir], {
    purpose,
    missing:
      `Cannot ${purpose} as ${python} was not found: install Python 3.9 or newer (set PYTHON to choose one)`,
  });
  await runTool(join(dir, "bin", "python"), [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "-r",
    requirements,
  ], {
    purpose,
    missing: `Cannot ${purpose} as it has no python`,
    failure: `pip could not install ${requirements}`,
  });
  await Deno.writeTextFile(stamp, wanted + "\n");
  log.info("virtualenv ready", {
    dir,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  });
}

async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as BufferSource);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
