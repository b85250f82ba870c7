/**
 * Helpers shared by the end-to-end tests: running the entry points as
 * subprocesses, and reading the DuckDB warehouse.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";

/** The project's root directory. */
export const ROOT = new URL("..", import.meta.url).pathname;

/** The default symbols. */
export const SYMBOLS = ["AAPL", "MSFT", "TSLA", "GOOGL", "AMZN"];

/** What a finished subprocess printed. */
export interface Run {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error (the logs). */
  stderr: string;
}

/** The pipeline's state under `dir`: embedded stream, local lake, warehouse. */
export function stateIn(dir: string): Record<string, string> {
  return {
    STREAM_DIR: `${dir}/stream`,
    LAKE_DIR: `${dir}/lake`,
    DUCKDB_PATH: `${dir}/warehouse.duckdb`,
  };
}

function command(
  script: string,
  args: string[],
  env: Record<string, string>,
  stdin = false,
) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, ...args],
    cwd: ROOT,
    env: { ENV_FILE: "", ...env },
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs an entry point (e.g. `demo.ts`) to completion. */
export async function run(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<Run> {
  const output = await command(script, args, env).output();
  return {
    code: output.code,
    stdout: decode(output.stdout),
    stderr: decode(output.stderr),
  };
}

/**
 * Runs a program to completion in a clean environment: only `env`, nothing
 * inherited from the test's own.
 */
export async function runProgram(
  program: string,
  args: string[],
  options: { cwd?: string; env: Record<string, string> },
): Promise<Run> {
  const output = await new Deno.Command(program, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decode(output.stdout),
    stderr: decode(output.stderr),
  };
}

/** A running entry point whose output is collected until it exits. */
export interface Spawned {
  /** The child process. */
  child: Deno.ChildProcess;
  /** Resolves with what it printed once it exits. */
  finished: Promise<Run>;
}

/** Starts an entry point in the background, collecting its output. */
export function spawn(
  script: string,
  args: string[],
  env: Record<string, string>,
): Spawned {
  const child = command(script, args, env).spawn();
  const finished = (async () => {
    const [status, stdout, stderr] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    return { code: status.code, stdout, stderr };
  })();
  return { child, finished };
}

/** Asserts a run exited 0, showing its output otherwise. */
export function assertSuccess(result: Run, what: string): void {
  assert.equal(
    result.code,
    0,
    `${what} failed:\n${result.stderr}\n${result.stdout}`,
  );
}

/** Runs queries on the warehouse opened read-only, closing it after. */
export async function withWarehouse<T>(
  path: string,
  work: (query: (sql: string) => Promise<unknown[][]>) => Promise<T>,
): Promise<T> {
  const instance = await DuckDBInstance.create(path, {
    access_mode: "READ_ONLY",
  });
  const connection = await instance.connect();
  try {
    return await work(async (sql) =>
      (await connection.runAndReadAll(sql)).getRows()
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The first column of the first row of a query, as a number. */
export async function count(path: string, sql: string): Promise<number> {
  return await withWarehouse(
    path,
    async (query) => Number((await query(sql))[0][0]),
  );
}

/** Every row of each table as text, sorted: equal snapshots mean equal tables. */
export async function snapshot(
  path: string,
  tables: string[],
): Promise<Record<string, string[]>> {
  return await withWarehouse(path, async (query) => {
    const out: Record<string, string[]> = {};
    for (const table of tables) {
      out[table] = (await query(`select * from ${table}`))
        .map((row) =>
          JSON.stringify(row, (_, v) => typeof v === "bigint" ? String(v) : v)
        )
        .sort();
    }
    return out;
  });
}

/** Starts an entry point whose stderr is read line by line. */
export function watch(
  script: string,
  args: string[],
  env: Record<string, string>,
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, ...args],
    cwd: ROOT,
    env: { ENV_FILE: "", ...env },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return { child, lines: lineReader(child.stderr) };
}

/**
 * Reads a stream line by line: `until` resolves with the first line not
 * consumed yet that matches, waiting for it up to a deadline; `seen` holds
 * the lines read and not consumed by an `until` yet; `all` every line read.
 */
export function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const seen: string[] = [];
  const all: string[] = [];
  let reading: Promise<ReadableStreamReadResult<string>> | undefined;
  return {
    seen,
    all,
    async until(pattern: RegExp, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = seen.findIndex((line) => pattern.test(line));
        if (index >= 0) return seen.splice(0, index + 1).at(-1)!;
        const left = deadline - Date.now();
        assert.ok(
          left > 0,
          `no line matching ${pattern} within ${timeoutMs} ms; the last lines:\n${
            all.slice(-10).join("\n")
          }`,
        );
        reading ??= reader.read();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const result = await Promise.race([
          reading,
          new Promise<null>((resolve) => {
            timer = setTimeout(() => resolve(null), left);
          }),
        ]);
        clearTimeout(timer);
        if (result === null) continue;
        reading = undefined;
        assert.ok(
          !result.done,
          `ended before a line matching ${pattern}; the last lines:\n${
            all.slice(-10).join("\n")
          }`,
        );
        buffer += result.value;
        const parts = buffer.split("\n");
        buffer = parts.pop() ?? "";
        seen.push(...parts);
        all.push(...parts);
      }
    },
    /** Reads to the end, keeping the lines in `seen` and `all`; returns `all`. */
    async drain(): Promise<string[]> {
      for (;;) {
        const { done, value } = await (reading ?? reader.read());
        reading = undefined;
        if (done) break;
        buffer += value;
        const parts = buffer.split("\n");
        buffer = parts.pop() ?? "";
        seen.push(...parts);
        all.push(...parts);
      }
      if (buffer !== "") {
        seen.push(buffer);
        all.push(buffer);
        buffer = "";
      }
      return all;
    },
  };
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Every file under `dir`, recursively. */
export async function* files(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* files(path);
    else if (entry.isFile) yield path;
  }
}

/** Whether a file holds `text`, as bytes (gzip objects are read decompressed too). */
export async function holds(path: string, text: string): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  const decoder = new TextDecoder("latin1");
  if (decoder.decode(bytes).includes(text)) return true;
  if (path.endsWith(".gz")) {
    const plain = await new Response(
      new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).arrayBuffer();
    return decoder.decode(plain).includes(text);
  }
  return false;
}
