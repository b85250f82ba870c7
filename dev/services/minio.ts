/**
 * A native MinIO for development and CI: the real S3 server, built from
 * source with `go install` at a pinned version and cached in the user cache,
 * serving a private bucket on loopback.
 *
 * The Go module proxy does not serve MinIO's `RELEASE.*` tags (they are not
 * semantic versions), so the pin is the pseudo-version of a commit on MinIO's
 * main branch.
 *
 * @module
 */
import { join } from "node:path";
import { S3Lake } from "../../lib/lake/s3.ts";
import { runTool } from "../../lib/runtime/tool.ts";
import {
  daemonFiles,
  portOpen,
  runningPid,
  startDaemon,
  stopDaemon,
  waitUntilReady,
} from "./daemon.ts";

/** MinIO's module version (commit 7aac2a2c5b7c of 2026-02-12). */
export const MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c";

/** Options for {@linkcode startMinio}. */
export interface MinioServiceOptions {
  /** Directory of the services' runtime files (`.services`). */
  root: string;
  /** Directory of cached builds (the user cache). */
  cache: string;
  /**
   * S3 API port on 127.0.0.1.
   *
   * @default {19000}
   */
  port?: number;
  /**
   * Web console port on 127.0.0.1.
   *
   * @default {19001}
   */
  consolePort?: number;
  /**
   * Bucket to create (private) if missing.
   *
   * @default {"stock-quotes"}
   */
  bucket?: string;
}

/** A running MinIO and how to reach it. */
export interface MinioService {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** The bucket, created if it was missing. */
  bucket: string;
  /** Root access key. */
  accessKeyId: string;
  /** Root secret key. */
  secretAccessKey: string;
  /** Its pid. */
  pid: number;
  /** Whether this call started it (false: it was running already). */
  started: boolean;
}

/** The MinIO binary, built with `go install` on first use. */
export async function buildMinio(cache: string): Promise<string> {
  const bin = join(cache, `minio-${MINIO_VERSION}`);
  const binary = join(bin, "minio");
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // not built yet
  }
  await runTool(
    "go",
    ["install", `github.com/minio/minio@${MINIO_VERSION}`],
    {
      purpose: "build MinIO",
      missing:
        "Cannot build MinIO as Go was not found: install Go 1.24+ (https://go.dev/doc/install, or Debian: apt-get install golang)",
      env: { GOBIN: bin, GOFLAGS: "-buildvcs=false" },
    },
  );
  return binary;
}

/**
 * Starts MinIO unless it is running already (then it is reused), and makes
 * sure the bucket exists. Credentials are generated once and kept beside its
 * data.
 *
 * @param options Directories, ports and bucket.
 * @returns How to reach it.
 * @throws {Error} When Go is missing, the build fails or MinIO does not start.
 */
export async function startMinio(
  options: MinioServiceOptions,
): Promise<MinioService> {
  const {
    root,
    cache,
    port = 19000,
    consolePort = 19001,
    bucket = "stock-quotes",
  } = options;
  const files = daemonFiles(root, "minio");
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = await loadCredentials(files.dir);
  let pid = await runningPid(files);
  const started = pid === null;
  if (pid === null) {
    if (await portOpen(port)) {
      throw new Error(
        `Cannot start MinIO as port ${port} on 127.0.0.1 is taken by another process; stop it or set SERVICES_MINIO_PORT`,
      );
    }
    const binary = await buildMinio(cache);
    pid = await startDaemon(files, {
      command: binary,
      args: [
        "server",
        join(files.dir, "data"),
        "--address",
        `127.0.0.1:${port}`,
        "--console-address",
        `127.0.0.1:${consolePort}`,
        "--quiet",
      ],
      env: {
        MINIO_ROOT_USER: credentials.accessKeyId,
        MINIO_ROOT_PASSWORD: credentials.secretAccessKey,
        MINIO_BROWSER: "on",
        MINIO_UPDATE: "off",
      },
    });
  }
  await waitUntilReady("MinIO", files, async () => {
    const response = await fetch(`${endpoint}/minio/health/ready`);
    await response.body?.cancel();
    return response.ok;
  }, 60_000);
  const lake = new S3Lake({ bucket, endpoint, ...credentials });
  try {
    await lake.ensureBucket();
  } finally {
    lake.close();
  }
  return { endpoint, bucket, ...credentials, pid, started };
}

/** Stops MinIO if it runs; its data and credentials stay for the next start. */
export async function stopMinio(root: string): Promise<boolean> {
  return await stopDaemon(daemonFiles(root, "minio"));
}

async function loadCredentials(
  dir: string,
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const path = join(dir, "credentials.json");
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    const random = (bytes: number) =>
      Array.from(
        crypto.getRandomValues(new Uint8Array(bytes)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
    const credentials = {
      accessKeyId: `pipeline-${random(6)}`,
      secretAccessKey: random(20),
    };
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(path, JSON.stringify(credentials) + "\n", {
      mode: 0o600,
    });
    return credentials;
  }
}
