/**
 * What a benchmark reports besides its own figures: the machine it ran on
 * (CPU, cores, memory, load average, the versions of Deno and of the Python
 * side), and its results files.
 *
 * @module
 */
import { join } from "node:path";
import { venvBin } from "../lib/transform/venv.ts";

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

/** The machine as the closing lines of a markdown report. */
export function machineSection(host: Record<string, string>): string[] {
  return [
    "Machine:",
    "",
    ...Object.entries(host).map(([k, v]) => `- ${k}: ${v}`),
    "",
  ];
}

/**
 * Writes `<name>.md` and `<name>.json` into `dir`, formatted as `deno fmt`
 * (part of `deno task test`) wants the committed files.
 *
 * @returns The two paths.
 */
export async function writeResults(
  dir: string,
  name: string,
  markdown: string,
  json: unknown,
): Promise<[string, string]> {
  await Deno.mkdir(dir, { recursive: true });
  const md = join(dir, `${name}.md`);
  const data = join(dir, `${name}.json`);
  await Deno.writeTextFile(md, markdown);
  await Deno.writeTextFile(data, JSON.stringify(json, null, 2) + "\n");
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", md, data],
  }).output();
  return [md, data];
}
