/**
 * The strict command-line parser every entry point uses: declared options
 * only, one line naming the option and the task on a mistake. Kept apart
 * from ./cli.ts, whose source options load the sources, so that a light
 * entry point (`deno task follow --status`, a healthcheck) loads no more
 * than it needs.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { EVENT_KINDS, type EventKind, parseKind } from "../contract/kinds.ts";

/** One option of {@linkcode parseCommandLine}. */
export interface OptionSpec {
  /** A flag, or an option that takes a value. */
  type: "boolean" | "string";
  /** Whether it may be given more than once. */
  multiple?: boolean;
  /** Value when absent. */
  default?: string | string[];
}

/**
 * Parses a task's command line strictly: every option must be declared, and
 * `--help`/`-h` always is. A mistake is one line naming the option and the
 * task, never the whole usage text.
 *
 * @param command The task, e.g. `demo`, as the message names it.
 * @param args Command-line arguments.
 * @param options The task's options.
 * @returns The values by option name (flags absent are `undefined`).
 * @throws {RangeError} On an unknown option, a missing value, a value given
 * to a flag, or a positional argument.
 */
export function parseCommandLine(
  command: string,
  args: string[],
  options: Record<string, OptionSpec>,
): Record<string, string | string[] | boolean | undefined> {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...options,
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    const { code, message } = error as Error & { code?: string };
    const what = /'([^']+)'/.exec(message)?.[1]?.split(" ")[0] ??
      args.join(" ");
    const reason = code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
      ? "is not one of its options"
      : code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"
      ? "is not an option (options start with --)"
      : /argument missing/.test(message)
      ? "needs a value"
      : /does not take an argument/.test(message)
      ? "is a flag and takes no value"
      : `is not valid (${message})`;
    throw new RangeError(
      `Cannot run 'deno task ${command}' as '${what}' ${reason}: run 'deno task ${command} --help' for its options`,
    );
  }
}

/**
 * The kinds of event a task works on: the one `--kind` names, or every kind
 * when it is absent or empty.
 *
 * @param value The option's value.
 * @returns The kinds, quotes first.
 * @throws {RangeError} When it names no kind.
 */
export function selectedKinds(value: unknown): EventKind[] {
  if (typeof value !== "string" || value.trim() === "") return [...EVENT_KINDS];
  return [parseKind(value.trim())];
}
