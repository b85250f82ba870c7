/**
 * kafkajs's own log lines, written through the pipeline's logger.
 *
 * @module
 */
import process from "node:process";
import { type logCreator, logLevel } from "kafkajs";
import { type Level, type Logger, logger } from "../../runtime/log.ts";

const log = logger("kafka");

/** Our log levels as kafkajs's. */
export const TO_KAFKAJS_LEVEL: Record<Level, logLevel> = {
  debug: logLevel.DEBUG,
  info: logLevel.INFO,
  warn: logLevel.WARN,
  error: logLevel.ERROR,
};

/**
 * A kafkajs `logCreator` writing kafkajs's lines through our logger, with
 * kafkajs's namespace and fields (stack traces left out), one step quieter
 * than kafkajs: its errors are mostly faults it retries (a failure that
 * outlasts the retries reaches the caller as a thrown error), so they become
 * warnings, and its info lines (every connect and join) become debug lines.
 *
 * @param target The logger to write to.
 * @returns The log creator to pass as kafkajs's `logCreator`.
 */
export function kafkaLogCreator(target: Logger = log): logCreator {
  return () => ({ namespace, level, log: entry }) => {
    const {
      message,
      timestamp: _timestamp,
      stack: _stack,
      logger: _logger,
      ...fields
    } = entry;
    const line = { namespace, ...fields };
    switch (level) {
      case logLevel.ERROR:
      case logLevel.WARN:
        return target.warn(message, line);
      default:
        return target.debug(message, line);
    }
  };
}

let timerWarningMuted = false;

/**
 * Keeps one known kafkajs 2.2.4 fault off the terminal: its request queue
 * arms a timer with a negative delay when it is not throttled, which the
 * runtime takes as a 1 ms delay (what kafkajs means) and reports with a
 * `TimeoutNegativeWarning` on stderr at every start. Every other process
 * warning still reaches the runtime's own listeners.
 */
export function muteKafkajsTimerWarning(): void {
  if (timerWarningMuted) return;
  timerWarningMuted = true;
  const listeners = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", (warning: Error) => {
    if (warning.name === "TimeoutNegativeWarning") return;
    for (const listener of listeners) listener(warning);
  });
}
