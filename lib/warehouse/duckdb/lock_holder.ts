/**
 * Who holds a DuckDB file's lock, as far as the operating system can tell.
 *
 * When a process cannot lock a DuckDB file, DuckDB asks the operating system
 * which process holds the conflicting lock and names it in its error:
 * `Could not set lock on file "…": Conflicting lock is held in <program>
 * (PID <n>)`. {@linkcode lockHolder} reads the program and PID from that
 * message and, where `/proc/<pid>/cmdline` is readable (Linux), the holder's
 * command line, so a log line or an error can say which process to look at
 * rather than guess. It does not decide what to do about the holder.
 *
 * @module
 */

/** The process holding a DuckDB file's lock. */
export interface LockHolder {
  /** Its process id. */
  pid: number;
  /** Its program, as DuckDB names it (the executable's path). */
  program: string;
  /** Its command line from `/proc/<pid>/cmdline`, when readable. */
  commandLine?: string;
}

/**
 * DuckDB's words when a lock cannot be set, whether or not it could name
 * the holder; any other failure to open a file is not about a lock.
 */
export const LOCK_CONFLICT =
  /Could not set lock on file|Conflicting lock is held/;

const HELD_IN = /Conflicting lock is held in (.+?) \(PID (\d+)\)/;

/** Longest command line kept, in characters: enough to recognise it. */
const MAX_COMMAND_LINE = 300;

/**
 * The holder DuckDB names in a lock error.
 *
 * @param message DuckDB's error message.
 * @returns The holder, or `undefined` when the message names none (another
 * error, or a platform where DuckDB cannot tell).
 *
 * @example A holder named by DuckDB
 * ```ts
 * import { lockHolder } from "./lock_holder.ts";
 * const holder = lockHolder(
 *   'IO Error: Could not set lock on file "/tmp/w.duckdb": Conflicting lock is held in /usr/bin/python3.11 (PID 4242).',
 * );
 * console.log(holder?.pid, holder?.program); // 4242 /usr/bin/python3.11
 * ```
 */
export function lockHolder(message: string): LockHolder | undefined {
  const match = HELD_IN.exec(message);
  if (match === null) return undefined;
  const pid = Number(match[2]);
  const commandLine = readCommandLine(pid);
  return commandLine === undefined
    ? { pid, program: match[1] }
    : { pid, program: match[1], commandLine };
}

/**
 * The holder in a few words for an error message: `PID 4242
 * (/usr/bin/python3.11: python3 -i)`, or `another process` when unknown.
 *
 * @param holder The holder, if known.
 * @returns The description.
 */
export function describeHolder(holder: LockHolder | undefined): string {
  if (holder === undefined) return "another process";
  const command = holder.commandLine ? `: ${holder.commandLine}` : "";
  return `PID ${holder.pid} (${holder.program}${command})`;
}

/**
 * The holder as log fields (`holder_pid`, `holder_program`,
 * `holder_command`), or `holder=unknown` when DuckDB did not name one.
 *
 * @param holder The holder, if known.
 * @returns Fields for a log line.
 */
export function holderFields(
  holder: LockHolder | undefined,
): Record<string, unknown> {
  if (holder === undefined) return { holder: "unknown" };
  return {
    holder_pid: holder.pid,
    holder_program: holder.program,
    holder_command: holder.commandLine,
  };
}

/**
 * `/proc/<pid>/cmdline` on one line (its NUL separators, and any line break
 * in an argument, as spaces), shortened.
 */
function readCommandLine(pid: number): string | undefined {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return undefined; // not Linux, gone, or not ours to read
  }
  const text = new TextDecoder().decode(bytes).replace(/[\0\s]+/g, " ")
    .trim();
  if (text.length === 0) return undefined;
  return text.length > MAX_COMMAND_LINE
    ? `${text.slice(0, MAX_COMMAND_LINE - 1)}…`
    : text;
}
