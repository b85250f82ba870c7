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
import { fileURLToPath } from "node:url";
import { logger } from "./log.ts";
import { runTool } from "./tool.ts";

/** The project's root directory. */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The virtualenv's directory. */
export const VENV_DIR = join(PROJECT_ROOT, ".venv");

const REQUIREMENTS = join(PROJECT_ROOT, "requirements.txt");
const STAMP = join(VENV_DIR, ".requirements.sha256");
const log = logger("setup");

/** The path of a program installed in the virtualenv, e.g. `dbt`. */
export function venvBin(name: string): string {
  return join(VENV_DIR, "bin", name);
}

/**
 * Creates or updates the virtualenv so it matches `requirements.txt`.
 *
 * @throws {FatalError} When Python is missing or pip fails.
 */
export async function ensureVenv(): Promise<void> {
  const wanted = await sha256(await Deno.readFile(REQUIREMENTS));
  const have = await Deno.readTextFile(STAMP).catch(() => "");
  if (have.trim() === wanted) return;

  const python = Deno.env.get("PYTHON") ?? "python3";
  log.info("creating the Python virtualenv for dbt (once; a few minutes)", {
    dir: VENV_DIR,
  });
  const purpose = "set up dbt";
  await runTool(python, ["-m", "venv", VENV_DIR], {
    purpose,
    missing:
      `Cannot set up dbt as ${python} was not found: install Python 3.9 or newer (set PYTHON to choose one)`,
  });
  await runTool(venvBin("python"), [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "-r",
    REQUIREMENTS,
  ], {
    purpose,
    missing: `Cannot set up dbt as the virtualenv has no python`,
    failure: "pip could not install requirements.txt",
  });
  await Deno.writeTextFile(STAMP, wanted + "\n");
  log.info("virtualenv ready", { dir: VENV_DIR });
}

async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as BufferSource);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
