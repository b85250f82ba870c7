/**
 * `deno task services:up` / `services:down`: native Kafka and MinIO on
 * loopback, without Docker. `up` prints the variables that point the pipeline
 * at them (`KEY=value` lines, also written to `services.env`) and reuses what
 * is already running; `down` stops both and keeps their data.
 *
 * @module
 */
import { logger } from "../lib/runtime/log.ts";
import { runMain } from "../lib/runtime/main.ts";
import {
  formatEnv,
  servicesDown,
  servicesSettings,
  servicesUp,
} from "../dev/services.ts";

const log = logger("services");

await runMain(async () => {
  const command = Deno.args[0];
  const settings = servicesSettings();
  if (command === "up") {
    const started = performance.now();
    const env = await servicesUp(settings);
    log.info("services ready", {
      env_file: settings.envFile,
      logs: settings.root,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    });
    console.log(formatEnv(env).trimEnd());
  } else if (command === "down") {
    const stopped = await servicesDown(settings);
    log.info("services stopped", stopped);
  } else {
    console.error("Usage: deno task services:up | services:down");
    return 2;
  }
});
