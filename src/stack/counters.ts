/**
 * One counter per handled kind and per drop reason, declared up front: bumping one is an array
 * increment at a constant index, with no string built per frame. Names are `layer.reason`.
 */

/** Every counter, in table order. Add new ones at the end of their group. */
export const COUNTER_NAMES = [
  // Frames from the guest.
  "frame.received",
  "frame.runt",
  "frame.too_long",
  "eth.not_for_us",
  "eth.bad_source",
  "eth.vlan_unsupported",
  "eth.unknown_ethertype",
  // ARP (RFC 826).
  "arp.truncated",
  "arp.unsupported_hardware",
  "arp.unsupported_protocol",
  "arp.unsupported_op",
  "arp.request",
  "arp.request_ignored",
  "arp.reply",
  "arp.learned",
  "arp.request_sent",
  // IPv6 (RFC 8200); ipv6.unsupported: an IPv6 frame without -6.
  "ipv6.unsupported",
  "ipv6.truncated",
  "ipv6.bad_version",
  "ipv6.payload_length_exceeds_frame",
  "ipv6.bad_source",
  "ipv6.bad_destination",
  "ipv6.multicast_dropped",
  "ipv6.ext_truncated",
  "ipv6.ext_too_many",
  "ipv6.hop_by_hop_not_first",
  "ipv6.bad_options",
  "ipv6.unrecognized_option",
  "ipv6.routing_header",
  "ipv6.no_next_header",
  "ipv6.unknown_next_header",
  "ipv6.fragment",
  "ipv6.reassembled",
  "ipv6.fragment_bad_length",
  "ipv6.fragment_too_long",
  "ipv6.fragment_overlap",
  "ipv6.fragment_duplicate",
  "ipv6.fragment_inconsistent",
  "ipv6.fragment_timeout",
  "ipv6.fragment_evicted",
  "ipv6.fragment_incomplete_chain",
  "ipv6.fragment_nested",
  // ICMPv6 to our own addresses (RFC 4443).
  "icmpv6.truncated",
  "icmpv6.bad_checksum",
  "icmpv6.type_ignored",
  "icmpv6.mld_ignored",
  "icmpv6.echo_request",
  "icmpv6.echo_reply",
  // Neighbor Discovery (RFC 4861) and router advertisements.
  "ndp.bad_hop_limit",
  "ndp.bad_code",
  "ndp.bad_options",
  "ndp.invalid",
  "ndp.rs",
  "ndp.ns",
  "ndp.ns_ignored",
  "ndp.na",
  "ndp.ra_ignored",
  "ndp.redirect_ignored",
  "ndp.learned",
  "ndp.na_sent",
  "ndp.ra_sent",
  "ndp.ns_sent",
  // IPv4 (RFC 791).
  "ipv4.truncated",
  "ipv4.bad_version",
  "ipv4.bad_header_length",
  "ipv4.total_length_exceeds_frame",
  "ipv4.bad_checksum",
  "ipv4.bad_options",
  "ipv4.fragment",
  "ipv4.reassembled",
  "ipv4.fragment_bad_length",
  "ipv4.fragment_too_long",
  "ipv4.fragment_overlap",
  "ipv4.fragment_duplicate",
  "ipv4.fragment_inconsistent",
  "ipv4.fragment_timeout",
  "ipv4.fragment_evicted",
  "ipv4.bad_source",
  "ipv4.bad_destination",
  "ipv4.broadcast_dropped",
  "ipv4.multicast_dropped",
  "ipv4.unknown_protocol",
  // ICMP to the gateway and DNS addresses (RFC 792).
  "icmp.truncated",
  "icmp.bad_checksum",
  "icmp.type_ignored",
  "icmp.echo_request",
  "icmp.echo_reply",
  // UDP (RFC 768).
  "udp.truncated",
  "udp.bad_length",
  "udp.bad_checksum",
  "udp.ipv6_zero_checksum",
  // DHCP server (RFC 2131).
  "dhcp.truncated",
  "dhcp.bad_cookie",
  "dhcp.bad_options",
  "dhcp.not_request",
  "dhcp.unsupported_hardware",
  "dhcp.relay_unsupported",
  "dhcp.bootp_unsupported",
  "dhcp.unknown_type",
  "dhcp.other_server",
  "dhcp.pool_exhausted",
  "dhcp.reply_exceeds_mtu",
  "dhcp.discover",
  "dhcp.request",
  "dhcp.offer",
  "dhcp.ack",
  "dhcp.nak",
  "dhcp.decline",
  "dhcp.release",
  "dhcp.inform",
  // Traffic for the NAT, which later issues add.
  "nat.not_implemented",
  "nat.ring_full",
  // UDP NAT to host sockets (src/stack/udp_nat.ts).
  "udp.nat_sent",
  "udp.nat_received",
  "udp.forward_to_guest",
  "udp.forward_reply",
  "udp.forward_no_mac",
  "udp.nat_send_error",
  "udp.nat_flow_created",
  "udp.nat_flow_expired",
  "udp.nat_flow_limit",
  "udp.nat_socket_error",
  "udp.nat_icmp_error",
  "udp.nat_host_loopback_refused",
  "udp.nat_reply_dropped",
  "udp.dns_other_port",
  "udp.nat_bad_destination",
  "udp.tftp_refused",
  "udp.tftp_dropped",
  // ICMP echo to other hosts through ping sockets (src/stack/icmp_nat.ts).
  "icmp.nat_echo_sent",
  "icmp.nat_echo_reply",
  "icmp.nat_forbidden",
  "icmp.nat_type_dropped",
  "icmp.nat_send_error",
  "icmp.nat_flow_limit",
  "icmp.nat_unreachable",
  "icmp.nat_bad_destination",
  // DNS forwarding to the host's nameservers (src/dns/forwarder.ts, the resolver worker).
  "dns.query",
  "dns.query_truncated",
  "dns.query_not_query",
  "dns.query_malformed",
  "dns.too_many_pending",
  "dns.ring_full",
  "dns.forwarded",
  "dns.answer",
  "dns.answer_malformed",
  "dns.answer_unknown_id",
  "dns.answer_question_mismatch",
  "dns.answer_wrong_source",
  "dns.upstream_timeout",
  "dns.upstream_error",
  "dns.upstream_rejected",
  "dns.servfail",
  // TCP relay (src/stack/tcp/), bumped in the TCP worker's own table; tcp.ring_full by its feeders.
  "tcp.ring_full",
  "tcp.segment",
  "tcp.truncated",
  "tcp.bad_data_offset",
  "tcp.bad_checksum",
  "tcp.bad_options",
  "tcp.bad_flags",
  "tcp.bad_port",
  "tcp.no_connection",
  "tcp.rst_no_connection",
  "tcp.syn",
  "tcp.syn_duplicate",
  "tcp.table_full",
  "tcp.half_open_full",
  "tcp.route_unreachable",
  "tcp.connected",
  "tcp.connect_refused",
  "tcp.connect_unreachable",
  "tcp.connect_failed",
  "tcp.connect_timeout",
  "tcp.established",
  "tcp.out_of_window",
  "tcp.challenge_ack",
  "tcp.challenge_ack_limited",
  "tcp.rst_from_guest",
  "tcp.no_ack",
  "tcp.bad_ack",
  "tcp.ack_unsent",
  "tcp.ack_too_old",
  "tcp.duplicate",
  "tcp.out_of_order",
  "tcp.out_of_order_dropped",
  "tcp.data_after_fin",
  "tcp.memory_pressure",
  "tcp.dup_ack",
  "tcp.fast_retransmit",
  "tcp.retransmit",
  "tcp.window_probe",
  "tcp.keepalive",
  "tcp.timeout",
  "tcp.host_reset",
  "tcp.rst_to_guest",
  "tcp.closed",
  "tcp.time_wait",
  "tcp.forward_open",
  "tcp.forward_refused",
  "tcp.forward_clash",
  "tcp.forward_timeout",
  "tcp.forward_bad_ack",
  // Frames to the guest.
  "tx.frame",
  "tx.exceeds_mtu",
  "tx.fragmented",
  "tx.fragment",
  // Frames through the tap, as read and written (src/workers/tap_reader.ts, src/link/tap_writer.ts):
  // bytes of the Ethernet frames, without virtio-net headers; a super-frame counts once.
  "link.frames_from_guest",
  "link.bytes_from_guest",
  "link.frames_to_guest",
  "link.bytes_to_guest",
] as const;

/** The name of a counter. */
export type CounterName = typeof COUNTER_NAMES[number];

/**
 * The counters that count something handled, sent or learned; every other counter counts a
 * frame, datagram or segment dropped (or an attempt that failed) for the reason its name gives.
 * get_stats lists the others under "drops".
 */
export const EVENT_COUNTERS: ReadonlySet<CounterName> = new Set<CounterName>([
  "frame.received",
  "arp.request",
  "arp.reply",
  "arp.learned",
  "arp.request_sent",
  "ipv6.fragment",
  "ipv6.reassembled",
  "icmpv6.echo_request",
  "icmpv6.echo_reply",
  "ndp.rs",
  "ndp.ns",
  "ndp.na",
  "ndp.learned",
  "ndp.na_sent",
  "ndp.ra_sent",
  "ndp.ns_sent",
  "ipv4.fragment",
  "ipv4.reassembled",
  "icmp.echo_request",
  "icmp.echo_reply",
  "dhcp.discover",
  "dhcp.request",
  "dhcp.offer",
  "dhcp.ack",
  "dhcp.nak",
  "dhcp.decline",
  "dhcp.release",
  "dhcp.inform",
  "udp.nat_sent",
  "udp.nat_received",
  "udp.forward_to_guest",
  "udp.forward_reply",
  "udp.nat_flow_created",
  "udp.nat_flow_expired",
  "icmp.nat_echo_sent",
  "icmp.nat_echo_reply",
  "icmp.nat_unreachable",
  "dns.query",
  "dns.forwarded",
  "dns.answer",
  "dns.upstream_rejected",
  "dns.servfail",
  "tcp.segment",
  "tcp.syn",
  "tcp.connected",
  "tcp.established",
  "tcp.challenge_ack",
  "tcp.rst_from_guest",
  "tcp.out_of_order",
  "tcp.dup_ack",
  "tcp.fast_retransmit",
  "tcp.retransmit",
  "tcp.window_probe",
  "tcp.keepalive",
  "tcp.host_reset",
  "tcp.rst_to_guest",
  "tcp.closed",
  "tcp.time_wait",
  "tcp.forward_open",
  "tx.frame",
  "tx.fragmented",
  "tx.fragment",
  "link.frames_from_guest",
  "link.bytes_from_guest",
  "link.frames_to_guest",
  "link.bytes_to_guest",
]);

/** The index of every counter in the table, by name: `counters.bump(C["arp.reply"])`. */
export const C: { readonly [K in CounterName]: number } = Object.freeze(
  Object.fromEntries(COUNTER_NAMES.map((name, index) => [name, index])) as {
    [K in CounterName]: number;
  },
);

/**
 * The counter table. Values are float64 (exact up to 2^53). The storage may be a
 * SharedArrayBuffer so that another thread can read the counters; only one thread bumps them.
 *
 * @example
 * ```ts
 * import { C, Counters } from "./counters.ts";
 * const counters = new Counters();
 * counters.bump(C["frame.runt"]);
 * if (counters.snapshot()["frame.runt"] !== 1) throw new Error("not counted");
 * ```
 */
export class Counters {
  /** One value per name in `COUNTER_NAMES`, same order. */
  readonly values: Float64Array;

  /** Counters over `buffer` (at least `Counters.BYTE_LENGTH` bytes), or over fresh memory. */
  constructor(buffer?: ArrayBufferLike) {
    this.values = buffer
      ? new Float64Array(buffer, 0, COUNTER_NAMES.length)
      : new Float64Array(COUNTER_NAMES.length);
  }

  /** Bytes needed to hold the table, for callers that provide a SharedArrayBuffer. */
  static readonly BYTE_LENGTH: number = COUNTER_NAMES.length * Float64Array.BYTES_PER_ELEMENT;

  /** A fresh table holding the sum of `tables` (one per thread), counter by counter. */
  static sum(tables: readonly Counters[]): Counters {
    const total = new Counters();
    for (const table of tables) {
      for (let i = 0; i < COUNTER_NAMES.length; i++) total.values[i] += table.values[i];
    }
    return total;
  }

  /** Adds `by` (default 1) to the counter at `index` (from `C`). */
  bump(index: number, by = 1): void {
    this.values[index] += by;
  }

  /** The current value of one counter. */
  get(name: CounterName): number {
    return this.values[C[name]];
  }

  /** All counters by name, as a plain object (allocates: for the API and tests, not per frame). */
  snapshot(): Record<CounterName, number> {
    const out = {} as Record<CounterName, number>;
    for (let i = 0; i < COUNTER_NAMES.length; i++) out[COUNTER_NAMES[i]] = this.values[i];
    return out;
  }

  /** Only the counters that are not zero, by name. */
  nonZero(): Partial<Record<CounterName, number>> {
    const out: Partial<Record<CounterName, number>> = {};
    for (let i = 0; i < COUNTER_NAMES.length; i++) {
      if (this.values[i] !== 0) out[COUNTER_NAMES[i]] = this.values[i];
    }
    return out;
  }
}
