/**
 * A reader of a DuckDB file in a process of its own, as an analyst's session
 * is: {@linkcode startReader} runs this file, which opens the file read-only
 * and keeps it open, answers each SQL line on its stdin with the rows as one
 * JSON line, and closes the file when stdin ends.
 *
 * @module
 */
import { DuckDBInstance } from "@duckdb/node-api";
import { lineReader, ROOT } from "./_helpers.ts";

/** A reader process holding a DuckDB file open. */
export interface Reader {
  /** Its process id, as DuckDB names it to a process it keeps out. */
  pid: number;
  /** Runs a query in the reader and returns its rows (numbers as JSON gives them). */
  query(sql: string): Promise<unknown[][]>;
  /** Closes the file and waits for the process to exit. */
  close(): Promise<void>;
}

/**
 * Starts a reader and waits until it has the file open.
 *
 * @param path A DuckDB file that exists.
 * @returns The reader.
 */
export async function startReader(path: string): Promise<Reader> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(import.meta.url).pathname, path],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child.stdout);
  const writer = child.stdin.getWriter();
  await lines.until(/^open$/, 20_000);
  let queue: Promise<unknown> = Promise.resolve();
  return {
    pid: child.pid,
    query(sql: string) {
      const answer = queue.then(async () => {
        await writer.write(
          new TextEncoder().encode(JSON.stringify(sql) + "\n"),
        );
        const line = await lines.until(/^[[{]/, 20_000);
        const parsed = JSON.parse(line);
        if (!Array.isArray(parsed)) throw new Error(parsed.error);
        return parsed as unknown[][];
      });
      queue = answer.catch(() => {});
      return answer;
    },
    async close() {
      await queue;
      await writer.close();
      await lines.drain();
      await child.status;
    },
  };
}

if (import.meta.main) {
  const instance = await DuckDBInstance.create(Deno.args[0], {
    access_mode: "READ_ONLY",
  });
  const connection = await instance.connect();
  const out = (value: unknown) =>
    console.log(
      JSON.stringify(
        value,
        (_, v) => typeof v === "bigint" ? Number(v) : v,
      ),
    );
  console.log("open");
  const input = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const text of input) {
    buffered += text;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const sql = JSON.parse(buffered.slice(0, newline)) as string;
      buffered = buffered.slice(newline + 1);
      try {
        out((await connection.runAndReadAll(sql)).getRows());
      } catch (error) {
        out({ error: (error as Error).message });
      }
    }
  }
  connection.closeSync();
  instance.closeSync();
}
