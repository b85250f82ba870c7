/**
 * A lake in a local directory, with the same keys as the bucket.
 *
 * Writes are atomic and durable: the body goes to a temporary file in the
 * target directory, is fsynced, hard-linked to the key (which fails if the key
 * exists, so nothing is ever replaced), and the directory is fsynced; a crash
 * leaves no object or the whole object.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { lastingFsError } from "../runtime/fs_errors.ts";
import { FatalError } from "../runtime/retry.ts";
import {
  type Lake,
  type LakeObject,
  ObjectConflictError,
  sameObject,
} from "./lake.ts";

const SAFE_KEY = /^[A-Za-z0-9=+._:-]+(\/[A-Za-z0-9=+._:-]+)*$/;

/** A lake under a local directory. */
export class LocalLake implements Lake {
  /** The lake's root directory, absolute. */
  readonly root: string;
  /** `file://` URL of the root. */
  readonly location: string;

  /**
   * Opens the lake; the directory is created on the first write.
   *
   * @param dir The lake's root directory.
   */
  constructor(dir: string) {
    this.root = resolve(dir);
    this.location = pathToFileURL(this.root).href;
  }

  /**
   * Writes an object atomically and durably, never replacing other content.
   *
   * @throws {FatalError} When the write can never succeed as things stand
   * (a read-only file system, a denied permission, a file in the way); a
   * failure that may heal (a full disk) is thrown as it is, to be retried.
   */
  async put(key: string, body: Uint8Array): Promise<void> {
    const path = this.#path(key);
    const dir = path.slice(0, path.lastIndexOf("/"));
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (error) {
      throw this.#classified(error, true);
    }
    try {
      await this.#write(path, dir, body, key);
    } catch (error) {
      throw this.#classified(error, false);
    }
  }

  /** A lasting failure as a {@linkcode FatalError} with its reason; others as they are. */
  #classified(error: unknown, mkdir: boolean): unknown {
    const reason = lastingFsError(error, mkdir);
    if (reason === undefined) return error;
    return new FatalError(
      `Cannot write to the lake ${this.location} as ${reason}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }

  async #write(
    path: string,
    dir: string,
    body: Uint8Array,
    key: string,
  ): Promise<void> {
    const temp = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      using file = await Deno.open(temp, { write: true, createNew: true });
      let written = 0;
      while (written < body.length) {
        written += await file.write(body.subarray(written));
      }
      await file.sync();
      // A hard link never replaces an existing object, unlike a rename.
      await Deno.link(temp, path);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      if (!await sameObject(await Deno.readFile(path), body)) {
        throw new ObjectConflictError(this.location, key);
      }
    } finally {
      await Deno.remove(temp).catch(() => {});
    }
    using directory = await Deno.open(dir, { read: true });
    await directory.sync();
  }

  /** Reads an object whole. */
  async get(key: string): Promise<Uint8Array> {
    return await Deno.readFile(this.#path(key));
  }

  /** Lists every object under `prefix` in key order. */
  async *list(prefix: string): AsyncIterable<LakeObject> {
    const slash = prefix.lastIndexOf("/");
    const base = slash === -1 ? "" : prefix.slice(0, slash);
    const start = base === "" ? this.root : this.#path(base);
    for (const object of await walk(this.root, start)) {
      if (object.key.startsWith(prefix)) yield object;
    }
  }

  #path(key: string): string {
    if (
      !SAFE_KEY.test(key) ||
      key.split("/").some((part) => part === "." || part === "..")
    ) {
      throw new RangeError(
        `Cannot use the object key as it must be '/'-separated names of letters, digits and =+._:- without '.' or '..' parts: current value is ${
          JSON.stringify(key)
        }`,
      );
    }
    return join(this.root, key);
  }
}

async function walk(root: string, dir: string): Promise<LakeObject[]> {
  const found: LakeObject[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return found;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await walk(root, path));
    else if (entry.isFile && !entry.name.endsWith(".tmp")) {
      const { size } = await Deno.stat(path);
      found.push({ key: path.slice(root.length + 1), size });
    }
  }
  return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
