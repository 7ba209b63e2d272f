/**
 * The slirp4netns API socket protocol, without any I/O: one request (bytes) becomes a validated
 * command or the exact error reply slirp4netns gives; replies are built here, compact and without
 * a trailing newline. Read the slirp4netns reference §2 (the API socket protocol) before editing:
 * every string below is matched byte for byte by clients and by the upstream test.
 *
 * Where slirp4netns crashes or misbehaves, an error is answered instead (a missing or non-string
 * `proto` segfaults it; ports are truncated to int and not range-checked there; IPv6 addresses get
 * no explanation); those replies keep slirp4netns's prefix so that clients matching on it still work.
 */
import { formatIpv4, parseIpv4, parseIpv6Groups } from "../wire/address.ts";
import { type JsonObject, type JsonValue, parseFirstJsonValue } from "./json.ts";

/** A request of this many bytes or more is "too large" (slirp4netns reads into 4096 bytes). */
export const MAX_REQUEST_BYTES = 4096;

/** The transport protocol of a forward. */
export type ForwardProto = "tcp" | "udp";

/** What `add_hostfwd` asks for, validated; addresses are 32-bit numbers (see wire/address.ts). */
export interface ForwardSpec {
  proto: ForwardProto;
  /** Where the host listens; 0 (0.0.0.0) for every address. */
  hostAddr: number;
  hostPort: number;
  /** Where connections go in the guest, as given (0.0.0.0 is kept; see HostForwards). */
  guestAddr: number;
  guestPort: number;
}

/** A validated request. */
export type ApiCommand =
  | { execute: "add_hostfwd"; forward: ForwardSpec }
  | { execute: "list_hostfwd" }
  | { execute: "remove_hostfwd"; id: number };

/** A request is either a command to run or already answered with an error reply. */
export type ParsedRequest = { ok: true; command: ApiCommand } | { ok: false; reply: string };

/** The `desc` texts of the errors, exactly as slirp4netns words them (and ours after them). */
export const ERRORS = {
  cannotParse: "bad request: cannot parse JSON",
  notObject: "bad request: json_object() failed",
  noExecute: "bad request: no execute found",
  unknownExecute: "bad request: unknown execute",
  tooLarge: "bad request: too large message",
  proto: "bad request: add_hostfwd: bad arguments.proto",
  hostAddr: "bad request: add_hostfwd: bad arguments.host_addr",
  hostPort: "bad request: add_hostfwd: bad arguments.host_port",
  guestAddr: "bad request: add_hostfwd: bad arguments.guest_addr",
  guestPort: "bad request: add_hostfwd: bad arguments.guest_port",
  addFailed: "bad request: add_hostfwd: slirp_add_hostfwd failed",
  id: "bad request: remove_hostfwd: bad arguments.id",
  /** Ours: an IPv6 address where slirp4netns says only "bad arguments.…". */
  ipv6Suffix: ": IPv6 forwards are not supported yet (they come with IPv6 support)",
} as const;

/**
 * `{"error":{"desc":…}}`, compact.
 *
 * @example
 * ```ts
 * import { errorReply, ERRORS } from "./protocol.ts";
 * errorReply(ERRORS.unknownExecute); // '{"error":{"desc":"bad request: unknown execute"}}'
 * ```
 */
export function errorReply(desc: string): string {
  return JSON.stringify({ error: { desc } });
}

/** The reply to a request of `MAX_REQUEST_BYTES` or more. */
export const TOO_LARGE_REPLY = errorReply(ERRORS.tooLarge);

/**
 * The reply when the host refused the listener, with the reason (slirp4netns gives none).
 *
 * @example
 * ```ts
 * import { addFailedReply } from "./protocol.ts";
 * addFailedReply("Address already in use");
 * // '{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed: Address already in use"}}'
 * ```
 */
export function addFailedReply(reason: string): string {
  return errorReply(`${ERRORS.addFailed}: ${reason}`);
}

/**
 * `{"return":{"id":N}}`.
 *
 * @example
 * ```ts
 * import { addedReply } from "./protocol.ts";
 * addedReply(1); // '{"return":{"id":1}}'
 * ```
 */
export function addedReply(id: number): string {
  return JSON.stringify({ return: { id } });
}

/** `{"return":{}}`, the reply to a successful `remove_hostfwd`. */
export const REMOVED_REPLY = '{"return":{}}';

/** One forward as `list_hostfwd` shows it. */
export interface ListedForward extends ForwardSpec {
  id: number;
}

/**
 * `{"entries":[…]}`: slirp4netns's real reply, not wrapped in "return" (its man page and test say
 * otherwise, but no slirp4netns ever sent that). Keys in slirp4netns's order.
 *
 * @example
 * ```ts
 * import { listReply } from "./protocol.ts";
 * listReply([{ id: 1, proto: "tcp", hostAddr: 0, hostPort: 8080, guestAddr: 0x0a000264, guestPort: 80 }]);
 * // '{"entries":[{"id":1,"proto":"tcp","host_addr":"0.0.0.0","host_port":8080,"guest_addr":"10.0.2.100","guest_port":80}]}'
 * ```
 */
export function listReply(entries: readonly ListedForward[]): string {
  return JSON.stringify({
    entries: entries.map((f) => ({
      id: f.id,
      proto: f.proto,
      host_addr: formatIpv4(f.hostAddr),
      host_port: f.hostPort,
      guest_addr: formatIpv4(f.guestAddr),
      guest_port: f.guestPort,
    })),
  });
}

/** parson's `json_object_dotget_value(root, "arguments.<name>")`: undefined if absent. */
function argument(root: JsonObject, name: string): JsonValue | undefined {
  const args = root.get("arguments");
  if (!(args instanceof Map)) return undefined;
  return args.get(name);
}

function isPort(value: JsonValue | undefined): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/**
 * An address argument: missing, null or "" gives the default; IPv4 text as inet_pton(AF_INET)
 * takes it; anything else is `error` (with our reason for IPv6 text).
 */
function addressArgument(
  value: JsonValue | undefined,
  fallback: number,
  error: string,
): number | { reply: string } {
  if (value === undefined || value === null || value === "") return fallback;
  if (typeof value !== "string") return { reply: errorReply(error) };
  const address = parseIpv4(value);
  if (address !== null) return address;
  const ipv6 = value.includes(":") && parseIpv6Groups(value) !== null;
  return { reply: errorReply(ipv6 ? error + ERRORS.ipv6Suffix : error) };
}

function parseAdd(root: JsonObject, recommendedGuest: number): ParsedRequest {
  // The order of the checks is slirp4netns's: proto, host_addr, host_port, guest_addr, guest_port.
  const proto = argument(root, "proto");
  if (proto !== "tcp" && proto !== "udp") return { ok: false, reply: errorReply(ERRORS.proto) };
  const hostAddr = addressArgument(argument(root, "host_addr"), 0, ERRORS.hostAddr);
  if (typeof hostAddr !== "number") return { ok: false, ...hostAddr };
  const hostPort = argument(root, "host_port");
  if (!isPort(hostPort)) return { ok: false, reply: errorReply(ERRORS.hostPort) };
  const guestAddr = addressArgument(
    argument(root, "guest_addr"),
    recommendedGuest,
    ERRORS.guestAddr,
  );
  if (typeof guestAddr !== "number") return { ok: false, ...guestAddr };
  const guestPort = argument(root, "guest_port");
  if (!isPort(guestPort)) return { ok: false, reply: errorReply(ERRORS.guestPort) };
  return {
    ok: true,
    command: {
      execute: "add_hostfwd",
      forward: { proto, hostAddr, hostPort, guestAddr, guestPort },
    },
  };
}

function parseRemove(root: JsonObject): ParsedRequest {
  const id = argument(root, "id");
  // slirp4netns casts any number to int (1.9 removes forward 1); only a whole id names a forward.
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) {
    return { ok: false, reply: errorReply(ERRORS.id) };
  }
  return { ok: true, command: { execute: "remove_hostfwd", id } };
}

/**
 * Parses one request: the first JSON value in `request` (slirp4netns's parser ignores what follows
 * it, and so do we), which must be an object with a string `execute` naming one of the three
 * commands. `recommendedGuest` is the default `guest_addr` (network + 100). The size limit is the
 * server's: it never passes `MAX_REQUEST_BYTES` or more.
 *
 * @example
 * ```ts
 * import { parseRequest } from "./protocol.ts";
 * const text = '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8080,"guest_port":80}}';
 * const parsed = parseRequest(new TextEncoder().encode(text), 0x0a000264);
 * // { ok: true, command: { execute: "add_hostfwd", forward: { proto: "tcp", hostAddr: 0,
 * //   hostPort: 8080, guestAddr: 0x0a000264, guestPort: 80 } } }
 * parseRequest(new TextEncoder().encode("badjson"), 0x0a000264);
 * // { ok: false, reply: '{"error":{"desc":"bad request: cannot parse JSON"}}' }
 * ```
 */
export function parseRequest(request: Uint8Array, recommendedGuest: number): ParsedRequest {
  const parsed = parseFirstJsonValue(request);
  if (parsed === null) return { ok: false, reply: errorReply(ERRORS.cannotParse) };
  const root = parsed.value;
  if (!(root instanceof Map)) return { ok: false, reply: errorReply(ERRORS.notObject) };
  const execute = root.get("execute");
  if (typeof execute !== "string") return { ok: false, reply: errorReply(ERRORS.noExecute) };
  switch (execute) {
    case "add_hostfwd":
      return parseAdd(root, recommendedGuest);
    case "list_hostfwd":
      return { ok: true, command: { execute: "list_hostfwd" } };
    case "remove_hostfwd":
      return parseRemove(root);
    default:
      return { ok: false, reply: errorReply(ERRORS.unknownExecute) };
  }
}
