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
  type ListOptions,
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

  /** The object's file, absolute. */
  localPath(key: string): string {
    return this.#path(key);
  }

  /**
   * Lists every object under `prefix` in key order, lazily, directory by
   * directory; with `startAfter`, directories whose keys all sort before it
   * are not read at all.
   */
  async *list(
    prefix: string,
    options: ListOptions = {},
  ): AsyncIterable<LakeObject> {
    const base = prefix.slice(0, prefix.lastIndexOf("/") + 1);
    yield* this.#walk(base, prefix, options.startAfter ?? "");
  }

  /** Lists the folders directly under `prefix`, in key order. */
  async *folders(
    prefix: string,
    options: ListOptions = {},
  ): AsyncIterable<string> {
    const after = options.startAfter ?? "";
    for (const entry of await this.#entries(prefix)) {
      if (entry.directory && entry.key > after) yield entry.key;
    }
  }

  async *#walk(
    dirKey: string,
    prefix: string,
    after: string,
  ): AsyncGenerator<LakeObject> {
    for (const { key, directory } of await this.#entries(dirKey)) {
      if (directory) {
        // Every key below starts with `key`: skip the folder when none can
        // match the prefix or sort after `after`.
        const matches = key.startsWith(prefix) || prefix.startsWith(key);
        const before = key < after && !after.startsWith(key);
        if (matches && !before) yield* this.#walk(key, prefix, after);
      } else if (key.startsWith(prefix) && key > after) {
        const { size } = await Deno.stat(join(this.root, key));
        yield { key, size };
      }
    }
  }

  /**
   * The entries of the folder `dirKey` (`""` or ending in `/`) in key order,
   * a folder's key ending in `/`; temporary files of writes in progress are
   * left out.
   */
  async #entries(
    dirKey: string,
  ): Promise<{ key: string; directory: boolean }[]> {
    const dir = dirKey === "" ? this.root : this.#path(dirKey.slice(0, -1));
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    return entries
      .filter((e) => e.isDirectory || (e.isFile && !e.name.endsWith(".tmp")))
      .map((e) => ({
        key: `${dirKey}${e.name}${e.isDirectory ? "/" : ""}`,
        directory: e.isDirectory,
      }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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
