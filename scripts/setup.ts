/**
 * `deno task setup`: creates the project's Python virtualenv for dbt from
 * `requirements.txt` (a no-op when it is up to date).
 *
 * @module
 */
import { ensureVenv } from "../lib/python.ts";
import { runMain } from "../lib/main.ts";

await runMain(ensureVenv);
