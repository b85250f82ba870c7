/**
 * Background processes for the native development services (Kafka, MinIO):
 * started in their own session so they outlive the command that started them
 * and ignore its Ctrl-C, with a pid file and a log file under `.services/`.
 *
 * @module
 */
import { join } from "node:path";
import { sleep } from "../../lib/runtime/retry.ts";

/** A service's runtime directory: pid file, log file and data. */
export interface DaemonFiles {
  /** Directory of the service, e.g. `.services/kafka`. */
  dir: string;
  /** `<dir>/pid`. */
  pidFile: string;
  /** `<dir>/<name>.log`. */
  logFile: string;
}

/** The files of service `name` under `root`. */
export function daemonFiles(root: string, name: string): DaemonFiles {
  const dir = join(root, name);
  return { dir, pidFile: join(dir, "pid"), logFile: join(dir, `${name}.log`) };
}

/** Options for {@linkcode startDaemon}. */
export interface StartDaemonOptions {
  /** Program to run. */
  command: string;
  /** Its arguments. */
  args: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/**
 * Starts a program detached from this process (its own session), appending
 * its output to the log file, and records its pid.
 *
 * @param files Where the pid and log go.
 * @param options The program.
 * @returns The pid.
 */
export async function startDaemon(
  files: DaemonFiles,
  options: StartDaemonOptions,
): Promise<number> {
  await Deno.mkdir(files.dir, { recursive: true });
  await Deno.writeTextFile(
    files.logFile,
    `--- started ${new Date().toISOString()}\n`,
    { append: true },
  );
  const child = new Deno.Command("setsid", {
    args: [
      "sh",
      "-c",
      'log="$1"; shift; exec "$@" >>"$log" 2>&1 </dev/null',
      "sh",
      files.logFile,
      options.command,
      ...options.args,
    ],
    env: options.env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  await Deno.writeTextFile(files.pidFile, `${child.pid}\n`);
  return child.pid;
}

/** The pid in the pid file, if that process is still running. */
export async function runningPid(files: DaemonFiles): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(files.pidFile)).trim());
  } catch {
    return null;
  }
  return Number.isSafeInteger(pid) && pid > 0 && await alive(pid) ? pid : null;
}

async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // A zombie (state Z) has exited already.
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * Stops the daemon: SIGTERM, then SIGKILL after `graceMs`; removes the pid file.
 *
 * @param files The daemon's files.
 * @param graceMs How long to wait for a clean exit.
 * @returns Whether a running process was stopped.
 */
export async function stopDaemon(
  files: DaemonFiles,
  graceMs = 15_000,
): Promise<boolean> {
  const pid = await runningPid(files);
  if (pid !== null) {
    signal(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (await alive(pid) && Date.now() < deadline) await sleep(100);
    if (await alive(pid)) {
      signal(pid, "SIGKILL");
      while (await alive(pid)) await sleep(50);
    }
  }
  await Deno.remove(files.pidFile).catch(() => {});
  return pid !== null;
}

function signal(pid: number, name: Deno.Signal): void {
  try {
    Deno.kill(pid, name);
  } catch {
    // already gone
  }
}

/**
 * Polls `ready` until it returns true, or fails with the log's tail.
 *
 * @param what The service's name, for the error.
 * @param files Its files (the log's tail goes into the error).
 * @param ready The readiness check.
 * @param timeoutMs How long to wait.
 * @throws {Error} When the service is not ready in time or its process died.
 */
export async function waitUntilReady(
  what: string,
  files: DaemonFiles,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return;
    if (await runningPid(files) === null) {
      throw new Error(
        `Cannot start ${what} as its process exited; the end of ${files.logFile}:\n${await tail(
          files.logFile,
        )}`,
      );
    }
    await sleep(250);
  }
  throw new Error(
    `Cannot start ${what} as it was not ready within ${timeoutMs} ms; the end of ${files.logFile}:\n${await tail(
      files.logFile,
    )}`,
  );
}

async function tail(path: string, lines = 20): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Whether something accepts TCP connections on `127.0.0.1:port`. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port });
    connection.close();
    return true;
  } catch {
    return false;
  }
}
