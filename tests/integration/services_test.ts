/**
 * The native services' set-up: clear errors when a tool is missing, and reuse
 * of what is already running.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { formatEnv, servicesSettings, servicesUp } from "../../dev/services.ts";
import { startKafka } from "../../dev/services/kafka.ts";
import { startMinio } from "../../dev/services/minio.ts";
import { FatalError } from "../../lib/runtime/retry.ts";

/** Runs `work` with PATH holding only the named programs (linked from the real PATH). */
async function withOnly<T>(
  programs: string[],
  work: () => Promise<T>,
): Promise<T> {
  const bin = await Deno.makeTempDir();
  for (const program of programs) {
    const found = new TextDecoder().decode(
      (await new Deno.Command("sh", {
        args: ["-c", `command -v ${program}`],
        stdout: "piped",
      }).output()).stdout,
    ).trim();
    await Deno.symlink(found, join(bin, program));
  }
  const path = Deno.env.get("PATH")!;
  Deno.env.set("PATH", bin);
  try {
    return await work();
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(bin, { recursive: true });
  }
}

async function scratch() {
  const root = await Deno.makeTempDir();
  return { root, cache: join(root, "cache") };
}

Deno.test("startKafka() says to install Java when java is missing", async () => {
  const { root, cache } = await scratch();
  await assert.rejects(
    () =>
      withOnly(
        ["setsid", "sh"],
        () => startKafka({ root, cache, port: 29092, controllerPort: 29093 }),
      ),
    new FatalError(
      "Cannot start Kafka as Java was not found: install a JDK or JRE 17+ (Debian: apt-get install openjdk-17-jre-headless)",
    ),
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("startKafka() says to install Maven when Kafka's jars are not cached and mvn is missing", async () => {
  const { root, cache } = await scratch();
  await assert.rejects(
    () =>
      withOnly(
        ["setsid", "sh", "java"],
        () => startKafka({ root, cache, port: 29092, controllerPort: 29093 }),
      ),
    new FatalError(
      "Cannot fetch Kafka as Maven (mvn) was not found: install Maven 3 (Debian: apt-get install maven)",
    ),
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("startMinio() says to install Go when MinIO is not built and go is missing", async () => {
  const { root, cache } = await scratch();
  await assert.rejects(
    () =>
      withOnly(
        ["setsid", "sh"],
        () => startMinio({ root, cache, port: 29000, consolePort: 29001 }),
      ),
    /^FatalError: Cannot build MinIO as Go was not found: install Go/,
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test({
  name:
    "servicesUp() reuses the running services and writes the same variables to services.env",
  sanitizeResources: false,
  async fn() {
    const first = await servicesUp();
    const second = await servicesUp();
    assert.deepEqual(second, first);
    assert.deepEqual(Object.keys(first), [
      "KAFKA_BROKERS",
      "S3_ENDPOINT",
      "S3_BUCKET",
      "S3_REGION",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
    ]);
    assert.equal(
      await Deno.readTextFile(servicesSettings().envFile),
      formatEnv(first),
    );
    assert.equal(
      (await Deno.stat(servicesSettings().envFile)).mode! & 0o777,
      0o600,
    );
  },
});
