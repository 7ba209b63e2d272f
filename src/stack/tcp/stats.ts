/**
 * The TCP worker's part of get_stats: connections by state and direction, per port forward its
 * connections and bytes, and with `flows` the open connections. Built in the worker between two
 * turns of its loop (src/host/snapshot.ts), never per segment.
 */
import { endpointText, type FlowStats } from "../flow_stats.ts";
import { TCP_STATE_NAMES, type TcpRelay } from "./relay.ts";

/** Totals of one port forward (by API id). */
export interface TcpForwardStats {
  /** Clients accepted so far. */
  connections: number;
  /** Of them, in the table now. */
  open: number;
  bytes_from_guest: number;
  bytes_to_guest: number;
}

/** What the worker answers. */
export interface TcpSnapshot {
  /** Connections in the table by RFC 9293 state name: the guest's own, and port forwards'. */
  outbound: Record<string, number>;
  forwarded: Record<string, number>;
  /** By forward id (as text, a JSON key). */
  forwards: Record<string, TcpForwardStats>;
  /** With `flows` only. */
  flows?: FlowStats[];
}

/**
 * The snapshot of `relay` at `now` (the relay's clock), with the flow list when `flows`.
 *
 * @example
 * ```ts ignore
 * tcpSnapshot(relay, performance.now(), true).outbound.ESTABLISHED; // 3
 * ```
 */
export function tcpSnapshot(relay: TcpRelay, now: number, flows: boolean): TcpSnapshot {
  const snapshot: TcpSnapshot = { outbound: {}, forwarded: {}, forwards: {} };
  for (const [id, tally] of relay.forwardTallies) {
    snapshot.forwards[id] = {
      connections: tally.connections,
      open: 0,
      bytes_from_guest: tally.bytesFromGuest,
      bytes_to_guest: tally.bytesToGuest,
    };
  }
  const list: FlowStats[] = [];
  for (const conn of relay.connections()) {
    const forwarded = conn.forwardId !== 0;
    const state = TCP_STATE_NAMES[conn.state];
    const byState = forwarded ? snapshot.forwarded : snapshot.outbound;
    byState[state] = (byState[state] ?? 0) + 1;
    if (forwarded) {
      const forward = snapshot.forwards[conn.forwardId];
      if (forward !== undefined) {
        forward.open++;
        forward.bytes_from_guest += conn.bytesFromGuest;
        forward.bytes_to_guest += conn.bytesToGuest;
      }
    }
    if (!flows) continue;
    const flow: FlowStats = {
      protocol: "tcp",
      direction: forwarded ? "forwarded" : "outbound",
      guest: endpointText(conn.guestAddr, conn.guestPort),
      host: endpointText(conn.peerAddr, conn.peerPort),
      state,
      bytes_from_guest: conn.bytesFromGuest,
      bytes_to_guest: conn.bytesToGuest,
      age_ms: Math.round(now - conn.createdAt),
    };
    if (forwarded) flow.forward_id = conn.forwardId;
    list.push(flow);
  }
  if (flows) snapshot.flows = list;
  return snapshot;
}
