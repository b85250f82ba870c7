/**
 * Where the development tooling keeps its downloads and builds (Kafka's
 * jars, MinIO, the Snowflake emulator's virtualenv), across clones.
 *
 * @module
 */
import { join } from "node:path";
import { FatalError } from "../lib/runtime/retry.ts";

/**
 * The cache of downloads and builds, kept across clones:
 * `$XDG_CACHE_HOME/stocks-pipeline`, or `~/.cache/stocks-pipeline`.
 *
 * @throws {FatalError} When neither an absolute `XDG_CACHE_HOME` nor `HOME` is set.
 */
export function userCache(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg?.startsWith("/")) return join(xdg, "stocks-pipeline");
  const home = Deno.env.get("HOME");
  if (!home) {
    throw new FatalError(
      "Cannot find the user cache as neither XDG_CACHE_HOME nor HOME is set",
    );
  }
  return join(home, ".cache", "stocks-pipeline");
}

/**
 * The virtualenv of a test-only Python tool (`airflow`, `snowflake`), kept in
 * the user cache so that a fresh clone reuses it; `ensureVenv` rebuilds it
 * when its requirements file changes.
 *
 * @param name The tool's name.
 * @returns The virtualenv's directory.
 */
export function toolVenv(name: string): string {
  return join(userCache(), `venv-${name}`);
}
