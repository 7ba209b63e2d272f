/**
 * The slirp4netns API socket protocol, without any I/O: one request (bytes) becomes a validated
 * command or the exact error reply slirp4netns gives; replies are built here, compact and without
 * a trailing newline. Read the slirp4netns reference §2 (the API socket protocol) before editing:
 * every string below is matched byte for byte by clients and by the upstream test.
 *
 * Where slirp4netns crashes or misbehaves, an error is answered instead (a missing or non-string
 * `proto` segfaults it; ports are truncated to int and not range-checked there); those replies
 * keep slirp4netns's prefix so that clients matching on it still work. IPv6 addresses, which
 * slirp4netns refuses ("bad arguments.host_addr"), are ours: `host_addr` of either family
 * (`::` listens on IPv6 only, so that `0.0.0.0` and `::` forwards of one port coexist), and
 * `guest_addr` IPv6 with `-6`, by default the guest's global address learned on the link when
 * `host_addr` is IPv6.
 */
import { formatIp, type IpAddress, parseIpv4, parseIpv6 } from "../wire/address.ts";
import { type JsonObject, type JsonValue, parseFirstJsonValue } from "./json.ts";

/** A request of this many bytes or more is "too large" (slirp4netns reads into 4096 bytes). */
export const MAX_REQUEST_BYTES = 4096;

/** The transport protocol of a forward. */
export type ForwardProto = "tcp" | "udp";

/**
 * What `add_hostfwd` asks for, validated; addresses are IPv4 numbers or IPv6 bigints (see
 * wire/address.ts), and the two need not be of one family.
 */
export interface ForwardSpec {
  proto: ForwardProto;
  /** Where the host listens; 0 (0.0.0.0) or 0n (::) for every address of the family. */
  hostAddr: IpAddress;
  hostPort: number;
  /** Where connections go in the guest, as given (0.0.0.0 is kept; see HostForwards). */
  guestAddr: IpAddress;
  guestPort: number;
}

/** The default `guest_addr` of each family. */
export interface GuestDefaults {
  /** The recommended guest address, network + 100. */
  ipv4: number;
  /**
   * The guest's global IPv6 address learned on the link, or null while none is known; absent
   * without `-6` (an IPv6 `guest_addr` is then refused).
   */
  ipv6?: () => bigint | null;
}

/** A validated request. */
export type ApiCommand =
  | { execute: "add_hostfwd"; forward: ForwardSpec }
  | { execute: "list_hostfwd" }
  | { execute: "remove_hostfwd"; id: number }
  /** Ours: the network's counters, connections and flows (src/api/stats.ts). */
  | { execute: "get_stats"; connections: boolean };

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
  /** Ours: get_stats with `arguments` that is not an object. */
  statsArguments: "bad request: get_stats: bad arguments",
  /** Ours: get_stats with `arguments.connections` that is not a boolean. */
  statsConnections: "bad request: get_stats: bad arguments.connections",
  /** Ours: get_stats on an API without a network behind it (tests). */
  statsUnavailable: "bad request: get_stats: not available",
  /** Ours, followed by the argument's name. */
  statsUnknown: "bad request: get_stats: unknown argument: ",
  /** Ours, after `guestAddr`: an IPv6 guest address without `-6`. */
  ipv6Off: ": IPv6 is not enabled (-6)",
  /** Ours, after `guestAddr`: no IPv6 address of the guest is known to default to. */
  noGuestIpv6:
    ": the guest has no IPv6 address yet (give guest_addr, or wait for its SLAAC address)",
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
  return JSON.stringify({ entries: entries.map(forwardEntry) });
}

/** One forward's fields as `list_hostfwd` (and `get_stats`) show them, in slirp4netns's order. */
export function forwardEntry(f: ListedForward) {
  return {
    id: f.id,
    proto: f.proto,
    host_addr: formatIp(f.hostAddr),
    host_port: f.hostPort,
    guest_addr: formatIp(f.guestAddr),
    guest_port: f.guestPort,
  };
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
 * An address argument: missing, null or "" is null (the default); IPv4 text as inet_pton(AF_INET)
 * or IPv6 text as inet_pton(AF_INET6) takes it; anything else is `error`.
 */
function addressArgument(
  value: JsonValue | undefined,
  error: string,
): IpAddress | null | { reply: string } {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "string") {
    const address = parseIpv4(value) ?? parseIpv6(value);
    if (address !== null) return address;
  }
  return { reply: errorReply(error) };
}

/**
 * The guest address of a forward: as given, else by the family of `hostAddr` (an IPv6 listener
 * forwards to the guest's IPv6 address by default, `::` meaning the same).
 */
function guestAddress(
  given: IpAddress | null,
  hostAddr: IpAddress,
  defaults: GuestDefaults,
): IpAddress | { reply: string } {
  const wantIpv6 = given === null ? typeof hostAddr === "bigint" : typeof given === "bigint";
  if (!wantIpv6) return given ?? defaults.ipv4;
  if (defaults.ipv6 === undefined) return { reply: errorReply(ERRORS.guestAddr + ERRORS.ipv6Off) };
  if (given !== null && given !== 0n) return given;
  const learned = defaults.ipv6();
  return learned ?? { reply: errorReply(ERRORS.guestAddr + ERRORS.noGuestIpv6) };
}

function parseAdd(root: JsonObject, defaults: GuestDefaults): ParsedRequest {
  // The order of the checks is slirp4netns's: proto, host_addr, host_port, guest_addr, guest_port.
  const proto = argument(root, "proto");
  if (proto !== "tcp" && proto !== "udp") return { ok: false, reply: errorReply(ERRORS.proto) };
  const host = addressArgument(argument(root, "host_addr"), ERRORS.hostAddr);
  if (host !== null && typeof host === "object") return { ok: false, ...host };
  const hostAddr = host ?? 0;
  const hostPort = argument(root, "host_port");
  if (!isPort(hostPort)) return { ok: false, reply: errorReply(ERRORS.hostPort) };
  const given = addressArgument(argument(root, "guest_addr"), ERRORS.guestAddr);
  if (given !== null && typeof given === "object") return { ok: false, ...given };
  const guestAddr = guestAddress(given, hostAddr, defaults);
  if (typeof guestAddr === "object") return { ok: false, ...guestAddr };
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

/** get_stats: no arguments, or only `connections`, a boolean. */
function parseStats(root: JsonObject): ParsedRequest {
  const args = root.get("arguments");
  if (args === undefined || args === null) {
    return { ok: true, command: { execute: "get_stats", connections: false } };
  }
  if (!(args instanceof Map)) return { ok: false, reply: errorReply(ERRORS.statsArguments) };
  for (const name of args.keys()) {
    if (name !== "connections") {
      // The name as JSON text: whatever bytes it holds, the reply stays one line of JSON.
      return { ok: false, reply: errorReply(ERRORS.statsUnknown + JSON.stringify(name)) };
    }
  }
  const connections = args.get("connections") ?? false;
  if (typeof connections !== "boolean") {
    return { ok: false, reply: errorReply(ERRORS.statsConnections) };
  }
  return { ok: true, command: { execute: "get_stats", connections } };
}

/**
 * Parses one request: the first JSON value in `request` (slirp4netns's parser ignores what follows
 * it, and so do we), which must be an object with a string `execute` naming one of the three
 * commands, or our `get_stats`. `defaults` gives the default `guest_addr` of each family. The size limit is the
 * server's: it never passes `MAX_REQUEST_BYTES` or more.
 *
 * @example
 * ```ts
 * import { parseRequest } from "./protocol.ts";
 * const text = '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8080,"guest_port":80}}';
 * const parsed = parseRequest(new TextEncoder().encode(text), { ipv4: 0x0a000264 });
 * // { ok: true, command: { execute: "add_hostfwd", forward: { proto: "tcp", hostAddr: 0,
 * //   hostPort: 8080, guestAddr: 0x0a000264, guestPort: 80 } } }
 * parseRequest(new TextEncoder().encode("badjson"), { ipv4: 0x0a000264 });
 * // { ok: false, reply: '{"error":{"desc":"bad request: cannot parse JSON"}}' }
 * ```
 */
export function parseRequest(request: Uint8Array, defaults: GuestDefaults): ParsedRequest {
  const parsed = parseFirstJsonValue(request);
  if (parsed === null) return { ok: false, reply: errorReply(ERRORS.cannotParse) };
  const root = parsed.value;
  if (!(root instanceof Map)) return { ok: false, reply: errorReply(ERRORS.notObject) };
  const execute = root.get("execute");
  if (typeof execute !== "string") return { ok: false, reply: errorReply(ERRORS.noExecute) };
  switch (execute) {
    case "add_hostfwd":
      return parseAdd(root, defaults);
    case "list_hostfwd":
      return { ok: true, command: { execute: "list_hostfwd" } };
    case "remove_hostfwd":
      return parseRemove(root);
    case "get_stats":
      return parseStats(root);
    default:
      return { ok: false, reply: errorReply(ERRORS.unknownExecute) };
  }
}
