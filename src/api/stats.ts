/**
 * The reply to `get_stats` (ours; slirp4netns has no such request): what every thread counted,
 * gathered on the main thread off the packet path. The counters are read from the threads' shared
 * tables as they are (each value is one float64 written by one thread, so a value is never torn,
 * but values of different threads are not from one instant); the TCP connections and the
 * nameservers' figures come from their Workers' snapshots (src/host/snapshot.ts). Keys are
 * snake_case, as in the other replies; the README documents every field.
 */
import type { NameserverStats } from "../dns/forwarder.ts";
import { COUNTER_NAMES, type Counters, EVENT_COUNTERS } from "../stack/counters.ts";
import { endpointText, type FlowStats } from "../stack/flow_stats.ts";
import type { TcpSnapshot } from "../stack/tcp/stats.ts";
import type { ForwardUsage, UdpForwardFlow } from "./host_listener.ts";
import { forwardEntry, type ListedForward } from "./protocol.ts";

/** Everything the reply is made of, gathered by the network (src/network.ts). */
export interface StatsParts {
  /** Every thread's counters summed. */
  counters: Counters;
  /** The TCP worker's snapshot, or null when it did not answer in time. */
  tcp: TcpSnapshot | null;
  /** The DNS worker's nameservers, null when it did not answer, absent with `--disable-dns`. */
  nameservers?: NameserverStats[] | null;
  /** UDP and ICMP NAT flows open now. */
  udpFlows: number;
  icmpFlows: number;
  /** The forwards (as `list_hostfwd` lists them) and what each carried. */
  forwards: readonly ListedForward[];
  forwardUsage: ReadonlyMap<number, ForwardUsage>;
  /** With `"connections": true`: the open flows of the main thread (UDP, ICMP, UDP forwards). */
  flows?: FlowStats[];
}

/** A UDP forward's client as a flow: the client as the guest sees it is the host end. */
export function udpForwardFlowStats(flow: UdpForwardFlow, now: number): FlowStats {
  return {
    protocol: "udp",
    direction: "forwarded",
    guest: endpointText(flow.guestAddr, flow.guestPort),
    host: endpointText(flow.client.addressForGuest, flow.client.port),
    state: "open",
    bytes_from_guest: flow.bytesFromGuest,
    bytes_to_guest: flow.bytesToGuest,
    age_ms: Math.round(now - flow.createdAt),
    forward_id: flow.forwardId,
  };
}

/** The counters of the protocols get_stats shows on their own, by prefix. */
const PROTOCOLS = ["arp", "dhcp", "icmp", "icmpv6", "ndp", "dns"] as const;

/** The counters whose name starts with `prefix.`, all of them (zeros too), keyed by the rest. */
function group(counters: Counters, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  COUNTER_NAMES.forEach((name, i) => {
    if (name.startsWith(prefix + ".")) out[name.slice(prefix.length + 1)] = counters.values[i];
  });
  return out;
}

/**
 * The `return` object of a get_stats reply.
 *
 * @example
 * ```ts
 * import { Counters } from "../stack/counters.ts";
 * import { statsReturn } from "./stats.ts";
 * const stats = statsReturn({
 *   counters: new Counters(), tcp: null, udpFlows: 0, icmpFlows: 0,
 *   forwards: [], forwardUsage: new Map(),
 * });
 * stats.link.frames_from_guest; // 0
 * ```
 */
export function statsReturn(parts: StatsParts) {
  const c = parts.counters;
  const drops: Record<string, number> = {};
  let dropped = 0;
  COUNTER_NAMES.forEach((name, i) => {
    const value = c.values[i];
    if (value !== 0 && !EVENT_COUNTERS.has(name)) {
      drops[name] = value;
      dropped += value;
    }
  });
  const protocols = Object.fromEntries(PROTOCOLS.map((p) => [p, group(c, p)])) as Record<
    typeof PROTOCOLS[number],
    Record<string, number>
  >;
  const tcp = parts.tcp;
  const forwardedTcp = tcp?.forwards ?? {};
  const forwards = parts.forwards.map((f) => {
    const usage = parts.forwardUsage.get(f.id);
    const worker = forwardedTcp[f.id];
    const tcpForward = f.proto === "tcp";
    return {
      ...forwardEntry(f),
      connections: usage?.connections ?? 0,
      open: tcpForward ? worker?.open ?? 0 : usage?.openFlows ?? 0,
      bytes_from_guest: tcpForward ? worker?.bytes_from_guest ?? 0 : usage?.bytesFromGuest ?? 0,
      bytes_to_guest: tcpForward ? worker?.bytes_to_guest ?? 0 : usage?.bytesToGuest ?? 0,
    };
  });
  const sum = (byState: Record<string, number>) =>
    Object.values(byState).reduce((a, b) => a + b, 0);
  const reply = {
    link: {
      frames_from_guest: c.get("link.frames_from_guest"),
      bytes_from_guest: c.get("link.bytes_from_guest"),
      frames_to_guest: c.get("link.frames_to_guest"),
      bytes_to_guest: c.get("link.bytes_to_guest"),
    },
    drops: { total: dropped, by_reason: drops },
    ...protocols,
    nameservers: parts.nameservers === undefined
      ? []
      : parts.nameservers?.map((n) => ({ ...n, failures: n.timeouts + n.errors + n.rejected })) ??
        null,
    tcp: tcp === null ? null : {
      outbound: { total: sum(tcp.outbound), by_state: tcp.outbound },
      forwarded: { total: sum(tcp.forwarded), by_state: tcp.forwarded },
    },
    udp: {
      flows: parts.udpFlows,
      forward_flows: forwards.reduce((n, f) => n + (f.proto === "udp" ? f.open : 0), 0),
    },
    icmp_flows: parts.icmpFlows,
    forwards,
  };
  if (parts.flows === undefined) return reply;
  return { ...reply, connections: [...(tcp?.flows ?? []), ...parts.flows] };
}
