/**
 * The test tiers of `deno task test`, after `deno task check` and the
 * virtualenv: unit, integration and Airflow in one `deno test`, and beside
 * it the fault tier, which stops and kills its services, on a set of
 * services of its own (`.services/faults/`, Kafka on 39092, MinIO on 39000)
 * so that the two never meet. Its lines are prefixed with `faults │`. The
 * type checks ran in `deno task check`, so neither run checks again.
 *
 * Exits 1 when either run fails.
 *
 * @module
 */
import { join } from "node:path";
import { servicesSettings, servicesUp } from "../dev/services.ts";
import { logger } from "../lib/runtime/log.ts";
import { runMain } from "../lib/runtime/main.ts";
import { PROJECT_ROOT } from "../lib/runtime/project.ts";

const log = logger("test");

/** The fault tier's own services. */
const FAULT_SERVICES = {
  SERVICES_DIR: join(PROJECT_ROOT, ".services", "faults"),
  SERVICES_KAFKA_PORT: "39092",
  SERVICES_MINIO_PORT: "39000",
};

/** One `deno test` run and how it ended. */
interface TierRun {
  name: string;
  code: number;
  seconds: number;
}

/** Runs `deno test` on `paths`; `prefix` marks each of its lines, else they pass through. */
async function denoTest(
  name: string,
  paths: string[],
  env: Record<string, string>,
  prefix?: string,
): Promise<TierRun> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--no-check", ...paths],
    cwd: PROJECT_ROOT,
    // A contributor's own .env must not change what the tests run against.
    env: { ENV_FILE: "", ...env },
    stdin: "null",
    stdout: prefix ? "piped" : "inherit",
    stderr: prefix ? "piped" : "inherit",
  }).spawn();
  const relay = async (stream: ReadableStream<Uint8Array> | null) => {
    if (!stream || !prefix) return;
    const encoder = new TextEncoder();
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        await Deno.stdout.write(encoder.encode(`${prefix}${line}\n`));
      }
    }
    if (rest) await Deno.stdout.write(encoder.encode(`${prefix}${rest}\n`));
  };
  const [status] = await Promise.all([
    child.status,
    relay(prefix ? child.stdout : null),
    relay(prefix ? child.stderr : null),
  ]);
  return {
    name,
    code: status.code,
    seconds: Math.round((performance.now() - started) / 1000),
  };
}

await runMain(async () => {
  const faultEnv = { ...Deno.env.toObject(), ...FAULT_SERVICES };
  const faultSettings = servicesSettings(faultEnv);
  log.info("starting the services", {
    default: servicesSettings().root,
    faults: faultSettings.root,
  });
  await Promise.all([servicesUp(), servicesUp(faultSettings)]);
  const runs = await Promise.all([
    denoTest(
      "unit, integration, airflow",
      ["tests/unit/", "tests/integration/", "tests/airflow/"],
      Deno.env.toObject(),
    ),
    denoTest("faults", ["tests/faults/"], faultEnv, "faults │ "),
  ]);
  for (const run of runs) {
    const fields = {
      tier: run.name,
      exit_code: run.code,
      seconds: run.seconds,
    };
    if (run.code === 0) log.info("tier passed", fields);
    else log.error("tier failed", fields);
  }
  return runs.every((run) => run.code === 0) ? 0 : 1;
});
