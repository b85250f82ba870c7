/**
 * How the project runs an outside tool (pip, Maven, Go, Java) so that a
 * missing program or a failure gives one clear error.
 *
 * @module
 */
import { FatalError } from "./retry.ts";

/** Options for {@linkcode runTool}. */
export interface RunToolOptions {
  /** What the command is for, completing "Cannot …", e.g. `build MinIO`. */
  purpose: string;
  /** The whole message when the program is not installed. */
  missing: string;
  /** Why it failed, for the message, e.g. `the Go module proxy did not serve X`; defaults to the command line. */
  failure?: string;
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Stops the command; its failure then reads "timed out". */
  signal?: AbortSignal;
}

/**
 * Runs a command to completion.
 *
 * @param command The program.
 * @param args Its arguments.
 * @param options What it is for, and what to say when it is missing or fails.
 * @returns What it printed on stdout.
 * @throws {FatalError} `options.missing` when the program is not installed;
 * otherwise "Cannot <purpose> as <failure> (exited with N):" and the last lines it printed.
 */
export async function runTool(
  command: string,
  args: string[],
  options: RunToolOptions,
): Promise<string> {
  const { purpose, missing, failure, cwd, env, signal } = options;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      cwd,
      env,
      signal,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new FatalError(missing, { cause: error });
    }
    throw new FatalError(
      `Cannot ${purpose} as '${command}' could not run: ${
        (error as Error).message
      }`,
      {
        cause: error,
      },
    );
  }
  if (!output.success) {
    const reason = signal?.aborted ? "timed out" : `exited with ${output.code}`;
    // Some tools (`go mod download -json`) report errors on stdout.
    const text = new TextDecoder();
    const detail = [output.stderr, output.stdout]
      .flatMap((bytes) => text.decode(bytes).trim().split("\n"))
      .filter((line) => line && !line.startsWith("go: downloading "))
      .slice(-15)
      .join("\n");
    throw new FatalError(
      `Cannot ${purpose} as ${
        failure ?? `'${command} ${args.join(" ")}'`
      } (${reason}):\n${detail}`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}
