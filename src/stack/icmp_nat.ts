/**
 * ICMP echo from the guest to hosts other than the emulated ones, through unprivileged ICMP
 * datagram sockets ("ping sockets", `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, Linux ≥ 3.0;
 * allowed by the `net.ipv4.ping_group_range` sysctl). Read RFC 792 (echo) and RFC 1122 §3.2.2.6
 * before editing. Pure logic: sockets, clock and logger are injected.
 *
 * One socket per guest echo identifier (and guest address): the kernel replaces the identifier
 * with the socket's own and delivers only the replies to it, with any sequence number; the reply
 * to the guest gets the guest's identifier back, so `ping` matches it. Sequence numbers and data
 * pass unchanged. Replies are never forged: where the host forbids ping sockets, the first echo
 * request logs one warning naming the sysctl, and requests are dropped and counted
 * (`icmp.nat_forbidden`); opening is retried at most every {@link FORBIDDEN_RETRY_MS}, so a
 * changed sysctl takes effect without a restart. Other ICMP types from the guest are dropped.
 *
 * ICMP errors the host gets for our echo requests (host unreachable, TTL exceeded) come back
 * through IP_RECVERR and go to the guest as errors quoting the guest's own request header.
 */

import type { Addresses } from "../config.ts";
import { EACCES, EAFNOSUPPORT, EPERM, EPROTONOSUPPORT } from "../ffi/errno.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { EthernetFrame } from "../wire/ethernet.ts";
import { emitIcmpError, ICMP, IcmpMessage, IcmpType, IcmpUnreachable } from "../wire/icmp.ts";
import { writeIpv4 } from "../wire/address.ts";
import { IpProtocol, IPV4, Ipv4Packet, isLoopbackIpv4 } from "../wire/ipv4.ts";
import { writeU16 } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { type GuestTx, IPV4_MAX_PAYLOAD, IPV4_PAYLOAD_OFFSET } from "./guest_tx.ts";
import { type HostUdpError, sendErrorCode } from "./udp_nat.ts";

/** Idle time after which a ping socket is closed. */
export const ICMP_IDLE_MS = 60_000;
/** Ping sockets at once. */
export const MAX_ICMP_FLOWS = 256;
/** How often to try again after the host refused a ping socket. */
export const FORBIDDEN_RETRY_MS = 60_000;
/** TTL of echo replies relayed to the guest. */
export const ICMP_TO_GUEST_TTL = 64;

/** Host ping sockets as the NAT needs them. */
export interface HostPingSockets {
  /** A new ping socket; a handle, or -errno (-EACCES when ping_group_range forbids it). */
  open(): number;
  /** Sends the ICMP message `bytes[offset, offset + length)` to `address`; count or -errno. */
  sendTo(
    handle: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    address: number,
  ): number;
  close(handle: number): void;
}

interface PingFlow {
  readonly key: number;
  readonly handle: number;
  readonly guestIp: number;
  readonly guestId: number;
  readonly guestMac: Uint8Array;
  lastUsed: number;
}

/**
 * The ICMP echo NAT.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "./counters.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { IcmpNat } from "./icmp_nat.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * const addresses = deriveAddresses(0x0a000200, 24);
 * const counters = new Counters();
 * const nat = new IcmpNat(
 *   addresses,
 *   new GuestTx(new MemoryLink(), 1500, addresses, counters),
 *   { open: () => -13, sendTo: () => -9, close: () => {} },
 *   counters,
 *   (message) => console.warn(message),
 * );
 * nat.flows; // 0
 * ```
 */
export class IcmpNat {
  readonly #addresses: Addresses;
  readonly #tx: GuestTx;
  readonly #host: HostPingSockets;
  readonly #counters: Counters;
  readonly #warn: (message: string) => void;
  readonly #flows = new Map<number, PingFlow>();
  readonly #byHandle = new Map<number, PingFlow>();
  readonly #eth = new EthernetFrame();
  readonly #ip = new Ipv4Packet();
  readonly #icmp = new IcmpMessage();
  readonly #quote = new Uint8Array(28);
  /** When the host last refused a ping socket; -Infinity while it never did. */
  #forbiddenAt = -Infinity;
  #warned = false;

  constructor(
    addresses: Addresses,
    tx: GuestTx,
    host: HostPingSockets,
    counters: Counters,
    warn: (message: string) => void,
  ) {
    this.#addresses = addresses;
    this.#tx = tx;
    this.#host = host;
    this.#counters = counters;
    this.#warn = warn;
  }

  /** Ping sockets open now. */
  get flows(): number {
    return this.#flows.size;
  }

  /** An ICMP message from the guest to another host (the `icmp` forwarder). */
  fromGuest(frame: Uint8Array, now: number): void {
    const counters = this.#counters;
    const eth = this.#eth.wrap(frame);
    const ip = this.#ip.wrap(frame, eth.payloadOffset, eth.payloadLength);
    const icmp = this.#icmp.wrap(frame, ip.payloadOffset, ip.payloadLength);
    if (ip.check() !== "ok" || icmp.check() !== "ok") {
      counters.bump(C["icmp.truncated"]);
      return;
    }
    if (!icmp.verifyChecksum()) {
      counters.bump(C["icmp.bad_checksum"]);
      return;
    }
    if (icmp.type !== IcmpType.ECHO_REQUEST || icmp.code !== 0) {
      counters.bump(C["icmp.nat_type_dropped"]);
      return;
    }
    const key = ip.src * 65536 + icmp.identifier;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      const created = this.#newFlow(key, eth, ip.src, icmp.identifier, now);
      if (created === null) return;
      flow = created;
    }
    flow.lastUsed = now;
    const sent = this.#host.sendTo(flow.handle, frame, icmp.offset, icmp.length, ip.dst);
    if (sent >= 0) {
      counters.bump(C["icmp.nat_echo_sent"]);
      return;
    }
    counters.bump(C["icmp.nat_send_error"]);
    const code = sendErrorCode(-sent);
    if (code < 0) return;
    const n = emitIcmpError(
      this.#tx.frame,
      IPV4_PAYLOAD_OFFSET,
      IcmpType.DEST_UNREACHABLE,
      code,
      0,
      frame,
      ip.offset,
      Math.min(ip.headerLength + 8, ip.totalLength),
    );
    counters.bump(C["icmp.nat_unreachable"]);
    this.#tx.sendIpv4(eth.bytes, eth.srcOffset, ip.dst, ip.src, IpProtocol.ICMP, 64, 0, n);
  }

  /**
   * A message received on a ping socket from `src`: `length` bytes of ICMP (header first) are at
   * `tx.frame[IPV4_PAYLOAD_OFFSET..]`.
   */
  fromHost(handle: number, src: number, length: number, now: number): void {
    const flow = this.#byHandle.get(handle);
    const frame = this.#tx.frame;
    const at = IPV4_PAYLOAD_OFFSET;
    if (
      flow === undefined || length < 8 || length > IPV4_MAX_PAYLOAD ||
      frame[at + ICMP.TYPE] !== IcmpType.ECHO_REPLY
    ) {
      this.#counters.bump(C["icmp.nat_type_dropped"]);
      return;
    }
    flow.lastUsed = now;
    writeU16(frame, at + ICMP.IDENTIFIER, flow.guestId);
    writeU16(frame, at + ICMP.CHECKSUM, 0);
    writeU16(frame, at + ICMP.CHECKSUM, internetChecksum(frame, at, length));
    this.#counters.bump(C["icmp.nat_echo_reply"]);
    this.#tx.sendIpv4(
      flow.guestMac,
      0,
      this.#toGuestSource(src),
      flow.guestIp,
      IpProtocol.ICMP,
      ICMP_TO_GUEST_TTL,
      0,
      length,
    );
  }

  /**
   * An ICMP error the host received about an echo request of a flow; `sequence` is the request's
   * sequence number (from the payload the kernel gave back).
   */
  hostError(handle: number, error: HostUdpError, sequence: number): void {
    const flow = this.#byHandle.get(handle);
    if (flow === undefined || !error.fromIcmp) return;
    const type = error.icmpType;
    if (type !== IcmpType.DEST_UNREACHABLE && type !== IcmpType.TIME_EXCEEDED) return;
    const info = type === IcmpType.DEST_UNREACHABLE &&
        error.icmpCode === IcmpUnreachable.FRAGMENTATION_NEEDED
      ? error.info & 0xffff
      : 0;
    const dst = this.#toGuestSource(error.dst);
    const from = error.offender !== 0 ? this.#toGuestSource(error.offender) : dst;
    const quote = this.#quote;
    quote.fill(0);
    quote[0] = 0x45;
    writeU16(quote, IPV4.TOTAL_LENGTH, Math.min(0xffff, 28 + Math.max(0, error.payloadLength - 8)));
    quote[IPV4.TTL] = 1;
    quote[IPV4.PROTOCOL] = IpProtocol.ICMP;
    writeIpv4(quote, IPV4.SRC, flow.guestIp);
    writeIpv4(quote, IPV4.DST, dst);
    writeU16(quote, IPV4.CHECKSUM, internetChecksum(quote, 0, 20));
    quote[20] = IcmpType.ECHO_REQUEST;
    writeU16(quote, 24, flow.guestId);
    writeU16(quote, 26, sequence);
    this.#counters.bump(C["icmp.nat_unreachable"]);
    const n = emitIcmpError(
      this.#tx.frame,
      IPV4_PAYLOAD_OFFSET,
      type,
      error.icmpCode,
      info,
      quote,
      0,
      28,
    );
    this.#tx.sendIpv4(flow.guestMac, 0, from, flow.guestIp, IpProtocol.ICMP, 64, 0, n);
  }

  /** Closes the sockets idle for {@link ICMP_IDLE_MS}. */
  expire(now: number): void {
    for (const flow of this.#flows.values()) {
      if (now - flow.lastUsed >= ICMP_IDLE_MS) this.#end(flow);
    }
  }

  /** Closes every socket (at stop). */
  close(): void {
    for (const flow of [...this.#flows.values()]) this.#end(flow);
  }

  #newFlow(
    key: number,
    eth: EthernetFrame,
    guestIp: number,
    guestId: number,
    now: number,
  ): PingFlow | null {
    const counters = this.#counters;
    if (now - this.#forbiddenAt < FORBIDDEN_RETRY_MS) {
      counters.bump(C["icmp.nat_forbidden"]);
      return null;
    }
    if (this.#flows.size >= MAX_ICMP_FLOWS) {
      const oldest = this.#flows.values().next().value!;
      if (now - oldest.lastUsed < 1000) {
        counters.bump(C["icmp.nat_flow_limit"]);
        return null;
      }
      this.#end(oldest);
    }
    const handle = this.#host.open();
    if (handle < 0) {
      const errno = -handle;
      if (
        errno === EACCES || errno === EPERM || errno === EPROTONOSUPPORT ||
        errno === EAFNOSUPPORT
      ) {
        this.#forbiddenAt = now;
        counters.bump(C["icmp.nat_forbidden"]);
        if (!this.#warned) {
          this.#warned = true;
          this.#warn(
            "ICMP echo to hosts other than the gateway and DNS address is dropped: this host " +
              "does not allow unprivileged ping sockets for our group (sysctl " +
              'net.ipv4.ping_group_range, e.g. "0 2147483647" allows everyone); replies are ' +
              "never forged",
          );
        }
      } else {
        counters.bump(C["icmp.nat_send_error"]);
      }
      return null;
    }
    this.#forbiddenAt = -Infinity;
    const flow: PingFlow = {
      key,
      handle,
      guestIp,
      guestId,
      guestMac: eth.bytes.slice(eth.srcOffset, eth.srcOffset + 6),
      lastUsed: now,
    };
    this.#flows.set(key, flow);
    this.#byHandle.set(handle, flow);
    return flow;
  }

  #end(flow: PingFlow): void {
    this.#flows.delete(flow.key);
    this.#byHandle.delete(flow.handle);
    this.#host.close(flow.handle);
  }

  #toGuestSource(address: number): number {
    return isLoopbackIpv4(address) ? this.#addresses.gateway : address;
  }
}
