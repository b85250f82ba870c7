/**
 * `deno task setup`: creates the project's Python virtualenv for dbt from
 * `requirements.txt` (a no-op when it is up to date).
 *
 * @module
 */
import { ensureVenv } from "../lib/transform/venv.ts";
import { runMain } from "../lib/runtime/main.ts";

await runMain(ensureVenv);
