/**
 * `deno task consume [--drain]`: lands the stream in the lake (the S3 bucket
 * when `S3_BUCKET` is set, else `LAKE_DIR`), committing offsets only after
 * each object is durable. Runs until SIGINT/SIGTERM; with `--drain`, lands
 * what the stream holds now and exits (a one-shot job).
 *
 * @module
 */
import { parseCommandLine } from "./lib/app/cli.ts";
import { loadConfig } from "./lib/runtime/config.ts";
import { flushLimits, openLake, openStream } from "./lib/app/wiring.ts";
import { startLanding } from "./lib/land/landing.ts";
import { logger } from "./lib/runtime/log.ts";
import { preflight } from "./lib/app/preflight.ts";
import { runMain, shutdownSignal } from "./lib/runtime/main.ts";
import { reportProgress } from "./lib/ops/progress.ts";

const log = logger("consumer");

const USAGE = `Usage: deno task consume [--drain]
Lands the stream in the lake (S3_BUCKET, else LAKE_DIR), committing each
partition's offset only after its objects are durable. Runs until Ctrl-C or
SIGTERM, then lands what it holds and commits.

  --drain   land what the stream holds now, then exit (a one-shot job)`;

await runMain(async () => {
  const values = parseCommandLine("consume", Deno.args, {
    drain: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  await preflight(config, { stream: true, lake: true });
  const shutdown = shutdownSignal();
  const stream = openStream(config);
  const lake = openLake(config);
  const landing = await startLanding({
    stream,
    lake,
    groupId: config.groupId,
    limits: flushLimits(config),
  });
  log.info("consuming", {
    stream: stream.location,
    group: config.groupId,
    lake: lake.location,
  });
  const { stats } = landing.sink;
  const stop = reportProgress(
    () => ({ ...stats }),
    (counts) => log.info("progress", counts),
    { rateOf: "events" },
  );
  try {
    if (values.drain) {
      await Promise.race([landing.drain(), landing.done]);
    } else {
      const stopped = new Promise((resolve) =>
        shutdown.addEventListener("abort", resolve, { once: true })
      );
      await Promise.race([stopped, landing.done]);
    }
  } finally {
    stop();
    await landing.stop();
  }
  await landing.done;
  log.info("consumer finished", { ...stats });
});
