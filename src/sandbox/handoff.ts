/**
 * What the first image of the process hands to the sandboxed continuation across the two
 * execve calls (src/sandbox/mod.ts): the numbers of the fds it inherits and the API socket's
 * file. Travels as the first command-line argument, `--sandbox-continuation=<JSON>`, ahead of the
 * slirp4netns options, which the continuation parses again unchanged.
 */

/** The API socket as bound before the sandbox (see `ApiSocketFile` in src/api/server.ts). */
export interface HandoffApi {
  fd: number;
  dirFd: number;
  name: string;
  /** dev and ino as decimal strings (64-bit). */
  dev: string;
  ino: string;
}

/** Everything the continuation adopts instead of creating. */
export interface Handoff {
  /** The tap, open and configured. */
  tapFd: number;
  /** The API socket, bound and listening, when `--api-socket` was given. */
  api?: HandoffApi;
  /** The `--pcap` file, open for appending with its header written (src/link/capture.ts). */
  pcapFd?: number;
}

/** The argument prefix that marks the continuation. Never a slirp4netns option. */
export const CONTINUATION_FLAG = "--sandbox-continuation=";

/** The argument that carries `handoff`. */
export function handoffArgument(handoff: Handoff): string {
  return CONTINUATION_FLAG + JSON.stringify(handoff);
}

function isFd(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 1 << 20;
}

function isDecimal(value: unknown): value is string {
  return typeof value === "string" && /^[0-9]{1,20}$/.test(value);
}

/** The handoff in `text` (the part after the flag), or null when it is not one. */
export function parseHandoff(text: string): Handoff | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { tapFd, api, pcapFd } = value as Record<string, unknown>;
  if (!isFd(tapFd)) return null;
  const handoff: Handoff = { tapFd };
  if (pcapFd !== undefined) {
    if (!isFd(pcapFd)) return null;
    handoff.pcapFd = pcapFd;
  }
  if (api === undefined) return handoff;
  if (typeof api !== "object" || api === null) return null;
  const { fd, dirFd, name, dev, ino } = api as Record<string, unknown>;
  if (!isFd(fd) || !isFd(dirFd) || typeof name !== "string" || name === "" || name.includes("/")) {
    return null;
  }
  if (!isDecimal(dev) || !isDecimal(ino)) return null;
  handoff.api = { fd, dirFd, name, dev, ino };
  return handoff;
}

/**
 * Splits a command line into the handoff (when it starts with `CONTINUATION_FLAG`) and the
 * slirp4netns arguments. `handoff` is null for an ordinary start; `error` is set for a flag
 * whose value is not a handoff.
 *
 * @example
 * ```ts
 * import { handoffArgument, takeHandoff } from "./handoff.ts";
 * const argv = [handoffArgument({ tapFd: 5 }), "--enable-sandbox", "1234", "tap0"];
 * takeHandoff(argv); // { handoff: { tapFd: 5 }, args: ["--enable-sandbox", "1234", "tap0"] }
 * ```
 */
export function takeHandoff(
  argv: readonly string[],
): { handoff: Handoff | null; args: string[]; error?: string } {
  const first = argv[0];
  if (first === undefined || !first.startsWith(CONTINUATION_FLAG)) {
    return { handoff: null, args: [...argv] };
  }
  const handoff = parseHandoff(first.slice(CONTINUATION_FLAG.length));
  const args = argv.slice(1);
  if (handoff === null) {
    return { handoff: null, args, error: "sandbox: the continuation's handoff is malformed" };
  }
  return { handoff, args };
}
