/**
 * What the compose and Airflow tests share: the Docker Compose CLI run on
 * docker-compose.yml with a copy of .env.example, the model it resolves, and
 * Dockerfiles read instruction by instruction. No Docker engine is used.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerCompose } from "../dev/compose_validator.ts";
import { type Run, runProgram } from "./_helpers.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(
  /\/$/,
  "",
);
export const COMPOSE_FILE = join(ROOT, "docker-compose.yml");
export const EXAMPLE = await Deno.readTextFile(join(ROOT, ".env.example"));

/** What the README tells users to set in their copy of .env.example. */
export const CREDENTIALS = {
  MINIO_ROOT_USER: "sentinel-minio-user-3c1a7e",
  MINIO_ROOT_PASSWORD: "sentinel-minio-password-8f2e4d",
  AIRFLOW_ADMIN_USER: "sentinel-airflow-admin-5b2c",
  AIRFLOW_ADMIN_PASSWORD: "sentinel-airflow-password-7d1e",
  AIRFLOW_DB_PASSWORD: "sentinel-airflow-db-password-2a9f",
  AIRFLOW_JWT_SECRET: "sentinel-airflow-jwt-secret-6c3b",
  AIRFLOW_FERNET_KEY: "sentinel-airflow-fernet-key-4e8a",
};

/** Other required values, not credentials. */
export const REQUIRED = { DOCKER_GID: "998" };

export interface Service {
  image?: string;
  build?: {
    context: string;
    dockerfile?: string;
    dockerfile_inline?: string;
    target?: string;
  };
  command?: string[] | null;
  restart?: string;
  environment?: Record<string, string | null>;
  entrypoint?: string[] | null;
  user?: string;
  group_add?: string[];
  ports?: { target: number; published?: string; host_ip?: string }[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  stop_grace_period?: string;
  volumes?: {
    type: string;
    source?: string;
    target: string;
    read_only?: boolean;
  }[];
}

export interface Project {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

export type { Run };

let validator: Promise<string> | undefined;

/** The Compose CLI; installing it is part of the test, so a failure fails it. */
function composeBinary(): Promise<string> {
  validator ??= dockerCompose();
  return validator;
}

/**
 * Runs `docker-compose` on the project with every profile enabled, an env
 * file and nothing from the caller's environment or Docker configuration.
 */
export async function compose(
  args: string[],
  envFile: string,
  file = COMPOSE_FILE,
): Promise<Run> {
  const binary = await composeBinary();
  const home = await Deno.makeTempDir({ prefix: "compose-test-home-" });
  try {
    return await runProgram(binary, [
      "--project-directory",
      ROOT,
      "--file",
      file,
      "--env-file",
      envFile,
      "--profile",
      "*",
      ...args,
    ], {
      env: {
        HOME: home,
        DOCKER_CONFIG: home,
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      },
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** A copy of .env.example with the given commented variables set, as the README says. */
export async function envFile(values: Record<string, string>): Promise<string> {
  let text = EXAMPLE;
  for (const [name, value] of Object.entries(values)) {
    const line = `# ${name}=\n`;
    assert.ok(text.includes(line), `.env.example documents ${name}`);
    text = text.replace(line, `${name}=${value}\n`);
  }
  const path = await Deno.makeTempFile({
    prefix: "compose-test-",
    suffix: ".env",
  });
  await Deno.writeTextFile(path, text);
  return path;
}

/** Runs compose with .env.example plus the credentials, and parses its JSON output. */
export async function composeJson<T>(args: string[]): Promise<T> {
  const env = await envFile({ ...CREDENTIALS, ...REQUIRED });
  try {
    const run = await compose([...args, "--format", "json"], env);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as T;
  } finally {
    await Deno.remove(env);
  }
}

/** A Dockerfile's instructions, continuation lines joined. */
export async function dockerfile(
  path = join(ROOT, "Dockerfile"),
): Promise<[string, string][]> {
  const text = await Deno.readTextFile(path);
  return text.replace(/\\\n/g, " ").split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const [instruction, ...rest] = line.split(/\s+/);
      return [instruction.toUpperCase(), rest.join(" ")];
    });
}
