/**
 * A fresh clone's first run on embedded defaults: Deno installs the npm
 * packages the run's own modules reach, not every package of the lockfile,
 * so Snowflake's driver (about 160 packages) waits until WAREHOUSE=snowflake
 * asks for it.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { ROOT } from "../_helpers.ts";

Deno.test({
  name:
    "a fresh clone's first demo installs no package of the Snowflake driver",
  sanitizeResources: false,
  async fn() {
    // The project's files as they are now, without its node_modules.
    const clone = await Deno.makeTempDir();
    const listed = await new Deno.Command("git", {
      args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      cwd: ROOT,
      stdout: "piped",
    }).output();
    assert.ok(listed.success);
    for (const file of new TextDecoder().decode(listed.stdout).split("\0")) {
      if (file === "") continue;
      await Deno.mkdir(dirname(join(clone, file)), { recursive: true });
      await Deno.copyFile(join(ROOT, file), join(clone, file)).catch(
        (error) => {
          // a file deleted but not yet committed
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        },
      );
    }
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "demo.ts", "--help"],
      cwd: clone,
      env: { ENV_FILE: "" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.ok(run.success, stderr);
    const installed = (await Array.fromAsync(
      Deno.readDir(join(clone, "node_modules", ".deno")),
    )).map((entry) => entry.name);
    assert.ok(installed.some((name) => name.startsWith("@duckdb+node-api@")));
    assert.deepEqual(
      installed.filter((name) => /snowflake|azure|google-auth/.test(name)),
      [],
    );
    assert.ok(installed.length < 60, `${installed.length} packages`);
    await Deno.remove(clone, { recursive: true });
  },
});
