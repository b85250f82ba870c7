/**
 * Runs one of the pipeline's entry points as its own process, as
 * `deno task` would, and samples its peak resident memory.
 *
 * @module
 */
import { PROJECT_ROOT } from "../lib/runtime/project.ts";
import { round } from "./report.ts";

/** A finished entry-point process: its JSON log records and peak memory. */
export interface ProcessRun {
  seconds: number;
  /** Peak resident set (VmHWM), MiB. */
  peakRssMiB: number;
  /** Resident set (VmRSS) sampled every 100 ms: seconds since start, MiB. */
  rss: [seconds: number, mib: number][];
  logs: Record<string, unknown>[];
  stdout: string;
}

/**
 * Runs one of the pipeline's entry points as its own process (as `deno
 * task` would), with JSON logs, sampling its peak resident memory.
 */
export async function runEntryPoint(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<ProcessRun> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, ...args],
    cwd: PROJECT_ROOT,
    env: { ...env, LOG_FORMAT: "json" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peakKiB = 0;
  const rss: [number, number][] = [];
  const sampler = setInterval(async () => {
    const status = await Deno.readTextFile(`/proc/${child.pid}/status`)
      .catch(() => "");
    const hwm = Number(status.match(/^VmHWM:\s*(\d+)/m)?.[1] ?? 0);
    const now = Number(status.match(/^VmRSS:\s*(\d+)/m)?.[1] ?? 0);
    if (now > 0) {
      rss.push([(performance.now() - started) / 1000, round(now / 1024, 1)]);
    }
    peakKiB = Math.max(peakKiB, hwm);
  }, 100);
  const output = await child.output();
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(output.stderr);
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `${script} ${args.join(" ")} exited ${output.code}\n${
        stderr.slice(-4000)
      }`,
    );
  }
  const logs = stderr.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line)];
    } catch {
      return [];
    }
  });
  return {
    seconds,
    peakRssMiB: round(peakKiB / 1024, 1),
    rss,
    logs,
    stdout,
  };
}
