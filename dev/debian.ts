/**
 * Debian packages the tests drive for real (Chromium, Prometheus): installed
 * with apt-get when their program is missing, once per machine. Development
 * only; the pipeline itself needs none of them.
 *
 * @module
 */
import { FatalError } from "../lib/runtime/retry.ts";

/** A Debian package and the program it puts on the machine. */
export interface DebianPackage {
  /** The package's name, `chromium`. */
  name: string;
  /** The program's absolute path once installed, `/usr/bin/chromium`. */
  program: string;
}

/**
 * Installs the packages whose program is missing, with `apt-get update` and
 * `apt-get install -y --no-install-recommends`, in one call. A no-op when
 * every program is there.
 *
 * @param packages The packages needed.
 * @returns The programs' paths, in the order given.
 * @throws {FatalError} When apt-get fails (not root, no registry), with its
 * last lines, or a program is still missing after the install.
 */
export async function ensureDebianPackages(
  packages: readonly DebianPackage[],
): Promise<string[]> {
  const missing = [];
  for (const pkg of packages) {
    if (!(await isFile(pkg.program))) missing.push(pkg);
  }
  if (missing.length > 0) {
    const names = missing.map((pkg) => pkg.name);
    await aptGet(["update", "-q"], names);
    await aptGet(
      ["install", "-y", "-q", "--no-install-recommends", ...names],
      names,
    );
    for (const pkg of missing) {
      if (!(await isFile(pkg.program))) {
        throw new FatalError(
          `Cannot find ${pkg.program} after installing the Debian package ${pkg.name}`,
        );
      }
    }
  }
  return packages.map((pkg) => pkg.program);
}

/** Runs apt-get non-interactively, failing with its last lines. */
async function aptGet(args: string[], names: string[]): Promise<void> {
  const { success, stdout, stderr } = await new Deno.Command("apt-get", {
    args,
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error) => {
    throw new FatalError(
      `Cannot install the Debian packages ${
        names.join(", ")
      } as apt-get cannot run: ${error}`,
    );
  });
  if (!success) {
    const text = new TextDecoder().decode(stderr) ||
      new TextDecoder().decode(stdout);
    const tail = text.trim().split("\n").slice(-5).join("\n");
    throw new FatalError(
      `Cannot install the Debian packages ${names.join(", ")} as apt-get ${
        args[0]
      } failed:\n${tail}`,
    );
  }
}

/** Whether `path` is an existing file. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
