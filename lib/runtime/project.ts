/**
 * Where the project lives on disk, for the files its tasks read beside the
 * code (`requirements.txt`, `dbt_stocks/`, `.services/`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The project's root directory, with a trailing slash. */
export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
