/**
 * A small leveled logger. Messages go to stderr, one line each, so stdout stays free for the
 * slirp4netns banner. Callers gate expensive messages with `log.enabled(level)` before building
 * the string.
 */

/** A log level (`--log-level`). */
export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";

/** Severity levels, most severe first. */
export const LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug", "trace"];

const encoder = new TextEncoder();
let threshold = LEVELS.indexOf("info");

/** Sets the most verbose level that is still written. */
export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS.indexOf(level);
}

/** Whether a message at `level` would be written now. */
export function logEnabled(level: LogLevel): boolean {
  return LEVELS.indexOf(level) <= threshold;
}

/** Writes one line to stderr, without any prefix: for the exact lines slirp4netns prints. */
export function writeStderrLine(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

function at(level: LogLevel): (message: string) => void {
  const rank = LEVELS.indexOf(level);
  return (message) => {
    if (rank <= threshold) writeStderrLine(`${level}: ${message}`);
  };
}

/**
 * The logger.
 *
 * @example
 * ```ts
 * import { log, logEnabled } from "./log.ts";
 * log.info("tap reader started");
 * if (logEnabled("trace")) log.trace(`frame of ${60} bytes`);
 * ```
 */
export const log = {
  error: at("error"),
  warn: at("warn"),
  info: at("info"),
  debug: at("debug"),
  trace: at("trace"),
};
