/**
 * The validator of `docker-compose.yml`: the Docker Compose CLI itself, built
 * once from the Go module proxy and cached under the user cache.
 *
 * Why this validator: `docker compose config` runs the same loader that
 * `docker compose up` runs before it talks to an engine: the Compose
 * Specification's JSON schema, interpolation with `${VAR:?message}`, YAML
 * merge keys, normalisation, and the consistency checks (undeclared volumes,
 * `depends_on` targets). It needs no engine. A JSON-schema validator from the
 * npm registry or PyPI checks only the shape, not interpolation; a small
 * program on compose-go (about 15 s to build here) would be our own code. The
 * Compose CLI is not published as a binary on any registry this project
 * reaches, but the Go module proxy serves its source: measured on the 2-core
 * machine, a cold build takes about 80 s (11 s of downloads), and the cached
 * binary answers in about 40 ms.
 *
 * Why v5.5.1: v5.6.0 and later require a `github.com/DefangLabs/secret-detector`
 * pseudo-version that the Go proxy refuses (403), and v5.7.0 needs Go 1.26.10.
 * v5.5.1 builds with every dependency at the version its own go.mod names
 * (its `exclude` directives are copied into the wrapper module, since
 * `go install module@version` refuses modules that have them).
 *
 * Run directly, it passes its arguments to the cached `docker-compose`:
 *
 * ```sh
 * deno run --allow-all dev/compose_validator.ts config --quiet
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { logger } from "../lib/runtime/log.ts";
import { runMain } from "../lib/runtime/main.ts";
import { FatalError } from "../lib/runtime/retry.ts";
import { userCache } from "./cache.ts";
import { runTool } from "../lib/runtime/tool.ts";

/** Version of the Docker Compose CLI the tests validate with. */
export const COMPOSE_VERSION = "v5.5.1";

/** Go module of the Docker Compose CLI. */
export const COMPOSE_MODULE = "github.com/docker/compose/v5";

/** Oldest Go that builds {@linkcode COMPOSE_VERSION} (its go.mod's `go` line). */
const GO_DIRECTIVE = "1.26.3";

const log = logger("compose-validator");

/** Options of {@linkcode dockerCompose}. */
export interface DockerComposeOptions {
  /**
   * Directory the binary is cached under.
   *
   * @default {"${XDG_CACHE_HOME:-$HOME/.cache}/stocks-pipeline"}
   */
  cacheDir?: string;
  /**
   * Go command that builds it; `go` on the PATH, else `/usr/local/go/bin/go`.
   *
   * @default {undefined}
   */
  go?: string;
  /**
   * Aborts a build that has not finished.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Time a build may take before it fails (milliseconds).
   *
   * @default {1200000}
   */
  timeoutMs?: number;
}

/**
 * Returns the path of the cached `docker-compose` binary, building it first
 * when it is missing.
 *
 * @param options Where to cache it and which Go builds it.
 * @returns The binary's absolute path.
 * @throws {RangeError} When `timeoutMs` is not a positive number.
 * @throws {FatalError} When Go is missing or the download or build fails.
 */
export async function dockerCompose(
  options: DockerComposeOptions = {},
): Promise<string> {
  const { cacheDir = userCache(), timeoutMs = 20 * 60_000 } = options;
  if (!(timeoutMs > 0)) {
    throw new RangeError(
      `Cannot build the Compose validator as 'timeoutMs' must be a positive number: current value is ${timeoutMs}`,
    );
  }
  const dir = join(cacheDir, `docker-compose-${COMPOSE_VERSION}`);
  const binary = join(dir, "docker-compose");
  if (await runs(binary)) return binary;

  const go = options.go ?? await findGo();
  await Deno.mkdir(cacheDir, { recursive: true });
  const work = await Deno.makeTempDir({
    dir: cacheDir,
    prefix: `.build-docker-compose-${COMPOSE_VERSION}-`,
  });
  const started = Date.now();
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new Error(`timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeout.signal])
    : timeout.signal;
  log.info(
    "building the Compose validator from the Go module proxy (once; about 1.5 min)",
    { module: `${COMPOSE_MODULE}@${COMPOSE_VERSION}`, dir },
  );
  try {
    await build(go, work, signal);
    await Deno.mkdir(dir, { recursive: true });
    for (const name of ["go.mod", "go.sum"]) {
      await Deno.copyFile(join(work, "src", name), join(dir, name));
    }
    await Deno.rename(join(work, "docker-compose"), binary);
  } finally {
    clearTimeout(timer);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  log.info("Compose validator ready", {
    binary,
    seconds: Math.round((Date.now() - started) / 1000),
  });
  return binary;
}

/** Builds the CLI in `work` (a wrapper module, its own module and build caches). */
async function build(go: string, work: string, signal: AbortSignal) {
  const src = join(work, "src");
  await Deno.mkdir(src);
  const env = {
    GOMODCACHE: join(work, "mod"),
    GOCACHE: join(work, "cache"),
    GOPATH: join(work, "gopath"),
    // Writable module cache, so the work directory can be removed.
    GOFLAGS: "-modcacherw",
    GOWORK: "off",
    GO111MODULE: "on",
    CGO_ENABLED: "0",
  };
  const goRun = (args: string[], failure: string) =>
    runTool(go, args, {
      purpose: "build the Compose validator",
      missing: `Cannot build the Compose validator as ${go} was not found`,
      failure,
      cwd: src,
      env,
      signal,
    });

  await Deno.writeTextFile(
    join(src, "go.mod"),
    `module stocks-pipeline/compose-validator\n\ngo ${GO_DIRECTIVE}\n`,
  );
  const info = JSON.parse(
    await goRun(
      ["mod", "download", "-json", `${COMPOSE_MODULE}@${COMPOSE_VERSION}`],
      `the Go module proxy did not serve ${COMPOSE_MODULE}@${COMPOSE_VERSION}`,
    ),
  ) as { GoMod?: string };
  if (!info.GoMod) {
    throw new FatalError(
      `Cannot build the Compose validator as 'go mod download' named no go.mod for ${COMPOSE_MODULE}@${COMPOSE_VERSION}`,
    );
  }
  const directives = moduleDirectives(await Deno.readTextFile(info.GoMod));
  await Deno.writeTextFile(
    join(src, "go.mod"),
    `module stocks-pipeline/compose-validator\n\ngo ${GO_DIRECTIVE}\n\nrequire ${COMPOSE_MODULE} ${COMPOSE_VERSION}\n${directives}`,
  );
  await goRun(
    ["get", `${COMPOSE_MODULE}/cmd@${COMPOSE_VERSION}`],
    "its dependencies could not be fetched from the Go module proxy",
  );
  // The flags of the project's own release build (Makefile: GO_LDFLAGS).
  await goRun([
    "build",
    "-trimpath",
    "-ldflags",
    `-s -w -X ${COMPOSE_MODULE}/internal.Version=${COMPOSE_VERSION}`,
    "-o",
    join(work, "docker-compose"),
    `${COMPOSE_MODULE}/cmd`,
  ], "go build failed");
  if (!await runs(join(work, "docker-compose"))) {
    throw new FatalError(
      "Cannot build the Compose validator as the built docker-compose does not run",
    );
  }
}

/**
 * The `exclude` and `replace` directives of a go.mod, which apply only to the
 * main module and so must be repeated in the wrapper to get the same build.
 */
export function moduleDirectives(goMod: string): string {
  const kept: string[] = [];
  let block: string | undefined;
  for (const line of goMod.split("\n")) {
    const trimmed = line.trim();
    if (block !== undefined) {
      if (trimmed === ")") {
        kept.push(")");
        block = undefined;
      } else if (trimmed && !trimmed.startsWith("//")) {
        kept.push(`\t${trimmed}`);
      }
    } else if (/^(exclude|replace)\s*\($/.test(trimmed)) {
      block = trimmed;
      kept.push(`\n${trimmed}`);
    } else if (/^(exclude|replace)\s/.test(trimmed)) {
      kept.push(`\n${trimmed}`);
    }
  }
  return kept.length ? kept.join("\n") + "\n" : "";
}

async function findGo(): Promise<string> {
  for (const candidate of ["go", "/usr/local/go/bin/go"]) {
    try {
      const output = await new Deno.Command(candidate, {
        args: ["version"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (output.success) return candidate;
    } catch {
      // Not there; try the next one.
    }
  }
  throw new FatalError(
    `Cannot build the Compose validator as no Go toolchain was found: install Go ${GO_DIRECTIVE} or newer (it builds ${COMPOSE_MODULE}@${COMPOSE_VERSION} from the Go module proxy)`,
  );
}

async function runs(binary: string): Promise<boolean> {
  try {
    const output = await new Deno.Command(binary, {
      args: ["version", "--short"],
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  await runMain(async () => {
    const binary = await dockerCompose();
    const { code } = await new Deno.Command(binary, {
      args: Deno.args,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    return code;
  });
}
