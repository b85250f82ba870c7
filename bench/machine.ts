/**
 * The machine a benchmark ran on, for its results: CPU, cores, memory, load
 * average, and the versions of Deno and of the Python side (dbt, DuckDB).
 *
 * @module
 */
import { venvBin } from "../lib/python.ts";

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** What a command prints, trimmed, or `unknown` when it cannot run. */
export async function commandOutput(
  cmd: string,
  args: string[],
): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped" })
      .output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "unknown";
  }
}

/**
 * Describes this machine.
 *
 * @param loadAtStart `Deno.loadavg()` when the benchmark started.
 * @returns Name → description, in display order.
 */
export async function machine(
  loadAtStart: number[],
): Promise<Record<string, string>> {
  const cpuInfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const cpuModel = cpuInfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown";
  const memInfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKb = Number(memInfo.match(/^MemTotal:\s*(\d+)/m)?.[1] ?? 0);
  const dbtVersion = await commandOutput(venvBin("dbt"), ["--version"]);
  const duckdbVersion = await commandOutput(venvBin("python"), [
    "-c",
    "import duckdb; print(duckdb.__version__)",
  ]);
  return {
    os: `${Deno.build.os} ${Deno.build.arch}`,
    cpu: cpuModel,
    nproc: String(navigator.hardwareConcurrency),
    memory: `${round(memKb / 1024 / 1024, 1)} GiB`,
    deno: Deno.version.deno,
    dbt_core: dbtVersion.match(/installed:\s*(\S+)/)?.[1] ?? "unknown",
    dbt_duckdb: dbtVersion.match(/duckdb:\s*(\S+)/)?.[1] ?? "unknown",
    duckdb: duckdbVersion,
    dbt_threads: "2 (profiles.yml)",
    load_average_1_5_15_min_at_start: loadAtStart.map((l) => round(l)).join(
      ", ",
    ),
    load_average_1_5_15_min_at_end: Deno.loadavg().map((l) => round(l)).join(
      ", ",
    ),
  };
}
