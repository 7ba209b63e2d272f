/**
 * The DHCP server of the emulated gateway (RFC 2131; options from RFC 2132), handing out the
 * libslirp pool network+15 … network+30 with leases of 24 hours, keyed by the client's MAC.
 * Read RFC 2131 §3.1, §4.1 and §4.3 before editing.
 *
 * Replies come from gateway:67 with the gateway MAC and carry: message type, server identifier
 * (the gateway), subnet mask, router (the gateway), DNS server (the DNS address) and lease time,
 * like libslirp's `bootp_reply`. They are padded to 548 bytes of BOOTP (libslirp 4.7 "Always send
 * DHCP_OPT_LEN bytes"), or as far as the MTU allows.
 *
 * Not implemented, by choice: relayed requests (giaddr ≠ 0; there is no relay on a tap link),
 * plain BOOTP clients (no message type; libslirp treats them as DHCPREQUEST), option
 * overloading (option 52), client identifiers other than `chaddr` (option 61).
 */

import { type Addresses, DHCP_POOL_SIZE } from "../config.ts";
import { formatMac, readIpv4 } from "../wire/address.ts";
import {
  BOOTP_HEADER_LEN,
  BootpOp,
  DHCP_CLIENT_PORT,
  DHCP_OPTIONS_MIN_LEN,
  DHCP_SERVER_PORT,
  DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  DhcpOptionWalker,
  emitDhcpHeader,
  emitDhcpOptionText,
  emitDhcpOptionU32,
  emitDhcpOptionU8,
} from "../wire/dhcp.ts";
import { BROADCAST_MAC, MAC_LEN, macEquals } from "../wire/ethernet.ts";
import { IpProtocol, LIMITED_BROADCAST } from "../wire/ipv4.ts";
import { emitUdpHeader, UDP_HEADER_LEN, type UdpDatagram } from "../wire/udp.ts";
import { copyBytes } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { type GuestTx, IPV4_PAYLOAD_OFFSET } from "./guest_tx.ts";
import type { GuestNeighbors } from "./neighbors.ts";

/** Lease time in seconds (libslirp LEASE_TIME: 24 h). */
export const DHCP_LEASE_SECONDS = 86400;
/** How long an offered address stays reserved for the client it was offered to. */
export const DHCP_OFFER_HOLD_MS = 60_000;
/** BOOTP length of every reply when the MTU allows: 236 + 312 (RFC 2131 §2; libslirp 4.7). */
export const DHCP_REPLY_LEN = BOOTP_HEADER_LEN + DHCP_OPTIONS_MIN_LEN;
/** TTL of replies (libslirp IPDEFTTL). */
export const DHCP_REPLY_TTL = 64;
/** TOS of replies (libslirp IPTOS_LOWDELAY). */
export const DHCP_REPLY_TOS = 0x10;
/** Text of the message option in a DHCPNAK (RFC 2132 §9.9), as libslirp words it. */
export const DHCP_NAK_MESSAGE = "requested address not available";

/** State of one pool address. */
export const LeaseState = {
  FREE: 0,
  /** Offered to a client and held for `DHCP_OFFER_HOLD_MS`. */
  OFFERED: 1,
  /** Acknowledged to a client until the lease expires. */
  BOUND: 2,
  /** Declined by a client as in use by someone else (RFC 2131 §4.3.3); unused for a lease time. */
  DECLINED: 3,
} as const;

/** One pool entry, as `DhcpServer.leases()` reports it. */
export interface Lease {
  address: number;
  state: "offered" | "bound" | "declined";
  /** The client MAC as text; empty for declined addresses. */
  mac: string;
  /** When the entry lapses, on the `now` clock (milliseconds). */
  expiresAt: number;
}

const STATE_NAMES = ["free", "offered", "bound", "declined"] as const;

/**
 * The DHCP server. `now` is a monotonic clock in milliseconds, passed with each message.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "./counters.ts";
 * import { DhcpServer } from "./dhcp_server.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * import { GuestNeighbors } from "./neighbors.ts";
 * const addresses = deriveAddresses(0x0a000200, 24);
 * const counters = new Counters();
 * const server = new DhcpServer(
 *   addresses,
 *   new GuestTx(new MemoryLink(), 1500, addresses, counters),
 *   new GuestNeighbors(addresses),
 *   counters,
 * );
 * if (server.leases(0).length !== 0) throw new Error("pool should start empty");
 * ```
 */
export class DhcpServer {
  readonly #addresses: Addresses;
  readonly #tx: GuestTx;
  readonly #neighbors: GuestNeighbors;
  readonly #counters: Counters;
  readonly #poolSize: number;
  readonly #state: Uint8Array;
  readonly #expiresAt: Float64Array;
  readonly #macs: Uint8Array;
  readonly #message = new DhcpMessage();
  readonly #walker = new DhcpOptionWalker();

  constructor(addresses: Addresses, tx: GuestTx, neighbors: GuestNeighbors, counters: Counters) {
    this.#addresses = addresses;
    this.#tx = tx;
    this.#neighbors = neighbors;
    this.#counters = counters;
    this.#poolSize = Math.min(DHCP_POOL_SIZE, addresses.dhcpEnd - addresses.dhcpStart + 1);
    this.#state = new Uint8Array(this.#poolSize);
    this.#expiresAt = new Float64Array(this.#poolSize);
    this.#macs = new Uint8Array(this.#poolSize * MAC_LEN);
  }

  /**
   * Handles one UDP datagram to port 67 that passed `check()` and its checksum. Replies go to
   * the client MAC in `chaddr`, not to the frame's source.
   */
  handle(udp: UdpDatagram, now: number): void {
    const counters = this.#counters;
    const message = this.#message.wrap(udp.bytes, udp.payloadOffset, udp.payloadLength);
    switch (message.check()) {
      case "ok":
        break;
      case "truncated":
        counters.bump(C["dhcp.truncated"]);
        return;
      case "bad_cookie":
        counters.bump(C["dhcp.bad_cookie"]);
        return;
    }
    if (message.op !== BootpOp.REQUEST) {
      counters.bump(C["dhcp.not_request"]);
      return;
    }
    if (message.htype !== 1 || message.hlen !== MAC_LEN) {
      counters.bump(C["dhcp.unsupported_hardware"]);
      return;
    }
    if (message.giaddr !== 0) {
      counters.bump(C["dhcp.relay_unsupported"]);
      return;
    }

    // The three options the server acts on; each must have its RFC 2132 length.
    let type = 0;
    let requested = 0;
    let hasServerId = false;
    let serverId = 0;
    const walker = this.#walker;
    const bytes = message.bytes;
    walker.start(message);
    while (walker.next()) {
      const code = walker.code;
      const length = walker.valueLength;
      if (code === DhcpOption.MESSAGE_TYPE) {
        if (length !== 1) break;
        type = bytes[walker.valueOffset];
      } else if (code === DhcpOption.REQUESTED_IP) {
        if (length !== 4) break;
        requested = readIpv4(bytes, walker.valueOffset);
      } else if (code === DhcpOption.SERVER_ID) {
        if (length !== 4) break;
        hasServerId = true;
        serverId = readIpv4(bytes, walker.valueOffset);
      }
    }
    // A walk that stopped early ("walking") met a wrong length; "unterminated" (no End option) is
    // tolerated, as libslirp and most clients do.
    if (walker.status === "overrun" || walker.status === "walking") {
      counters.bump(C["dhcp.bad_options"]);
      return;
    }

    switch (type) {
      case DhcpMessageType.DISCOVER:
        counters.bump(C["dhcp.discover"]);
        this.#discover(message, requested, now);
        return;
      case DhcpMessageType.REQUEST:
        counters.bump(C["dhcp.request"]);
        this.#request(message, requested, hasServerId, serverId, now);
        return;
      case DhcpMessageType.DECLINE:
        counters.bump(C["dhcp.decline"]);
        this.#decline(message, requested, now);
        return;
      case DhcpMessageType.RELEASE:
        counters.bump(C["dhcp.release"]);
        this.#release(message);
        return;
      case DhcpMessageType.INFORM:
        counters.bump(C["dhcp.inform"]);
        this.#reply(message, DhcpMessageType.ACK, 0, false);
        return;
      case 0:
        counters.bump(C["dhcp.bootp_unsupported"]);
        return;
      default:
        counters.bump(C["dhcp.unknown_type"]);
        return;
    }
  }

  /** The address leased or offered to the client MAC at `mac[macOffset..]`, or 0. */
  addressOf(mac: Uint8Array, macOffset: number, now: number): number {
    const slot = this.#slotOfMac(mac, macOffset);
    if (slot < 0 || this.#expiresAt[slot] <= now) return 0;
    return this.#addressOfSlot(slot);
  }

  /** The pool entries in use (allocates: for the API and tests). */
  leases(now: number): Lease[] {
    const out: Lease[] = [];
    for (let slot = 0; slot < this.#poolSize; slot++) {
      const state = this.#state[slot];
      if (state === LeaseState.FREE || this.#expiresAt[slot] <= now) continue;
      out.push({
        address: this.#addressOfSlot(slot),
        state: STATE_NAMES[state] as Lease["state"],
        mac: state === LeaseState.DECLINED
          ? ""
          : formatMac(this.#macs.subarray(slot * MAC_LEN, slot * MAC_LEN + MAC_LEN)),
        expiresAt: this.#expiresAt[slot],
      });
    }
    return out;
  }

  // RFC 2131 §4.3.1: choose the client's current binding, else its requested address if free,
  // else a free address; no address left means no offer.
  #discover(message: DhcpMessage, requested: number, now: number): void {
    const mac = message.bytes;
    const macOffset = message.chaddrOffset;
    let slot = this.#slotOfMac(mac, macOffset);
    if (slot < 0 && requested !== 0) {
      const wanted = this.#slotOfAddress(requested);
      if (wanted >= 0 && this.#grantable(wanted, mac, macOffset, now)) slot = wanted;
    }
    if (slot < 0) slot = this.#freeSlot(now);
    if (slot < 0) {
      this.#counters.bump(C["dhcp.pool_exhausted"]);
      return;
    }
    const stillBound = this.#state[slot] === LeaseState.BOUND && this.#expiresAt[slot] > now &&
      macEquals(this.#macs, slot * MAC_LEN, mac, macOffset);
    if (!stillBound) this.#hold(slot, LeaseState.OFFERED, mac, macOffset, now + DHCP_OFFER_HOLD_MS);
    this.#reply(message, DhcpMessageType.OFFER, this.#addressOfSlot(slot), true);
  }

  // RFC 2131 §4.3.2.
  #request(
    message: DhcpMessage,
    requested: number,
    hasServerId: boolean,
    serverId: number,
    now: number,
  ): void {
    const mac = message.bytes;
    const macOffset = message.chaddrOffset;
    if (hasServerId && serverId !== this.#addresses.gateway) {
      // SELECTING, and the client chose another server: forget our offer, stay silent.
      const offered = this.#slotOfMac(mac, macOffset);
      if (offered >= 0 && this.#state[offered] === LeaseState.OFFERED) {
        this.#state[offered] = LeaseState.FREE;
      }
      this.#counters.bump(C["dhcp.other_server"]);
      return;
    }
    // SELECTING and INIT-REBOOT name the address in option 50; RENEWING and REBINDING in ciaddr.
    const address = requested !== 0 ? requested : message.ciaddr;
    let slot: number;
    if (address === 0) {
      // No address at all: libslirp answers with the client's binding or a new address (its
      // "windows fix"), so do the same.
      slot = this.#slotOfMac(mac, macOffset);
      if (slot < 0) slot = this.#freeSlot(now);
      if (slot < 0) {
        this.#counters.bump(C["dhcp.pool_exhausted"]);
        return;
      }
    } else {
      slot = this.#slotOfAddress(address);
      if (slot < 0 || !this.#grantable(slot, mac, macOffset, now)) {
        // "If the requested address is incorrect ... the server SHOULD respond with a DHCPNAK".
        this.#reply(message, DhcpMessageType.NAK, 0, false);
        return;
      }
    }
    // One binding per client: drop any other address it holds.
    for (let other = 0; other < this.#poolSize; other++) {
      if (
        other !== slot && this.#state[other] !== LeaseState.DECLINED &&
        macEquals(this.#macs, other * MAC_LEN, mac, macOffset)
      ) {
        this.#state[other] = LeaseState.FREE;
      }
    }
    this.#hold(slot, LeaseState.BOUND, mac, macOffset, now + DHCP_LEASE_SECONDS * 1000);
    const yiaddr = this.#addressOfSlot(slot);
    this.#neighbors.learn(yiaddr, mac, macOffset);
    this.#reply(message, DhcpMessageType.ACK, yiaddr, true);
  }

  // RFC 2131 §4.3.3: the address (option 50) is in use elsewhere; keep it out of the pool.
  #decline(message: DhcpMessage, requested: number, now: number): void {
    const slot = this.#slotOfAddress(requested);
    if (slot < 0 || !this.#ownedBy(slot, message.bytes, message.chaddrOffset)) return;
    this.#state[slot] = LeaseState.DECLINED;
    this.#macs.fill(0, slot * MAC_LEN, slot * MAC_LEN + MAC_LEN);
    this.#expiresAt[slot] = now + DHCP_LEASE_SECONDS * 1000;
  }

  // RFC 2131 §4.3.4: the client gives up the lease named by ciaddr.
  #release(message: DhcpMessage): void {
    const slot = this.#slotOfAddress(message.ciaddr);
    if (slot >= 0 && this.#ownedBy(slot, message.bytes, message.chaddrOffset)) {
      this.#state[slot] = LeaseState.FREE;
    }
  }

  /**
   * Builds and sends an OFFER, ACK or NAK (RFC 2131 §4.3.1 Table 3) addressed as §4.1 says (giaddr
   * is always 0 here):
   * - DHCPNAK: broadcast;
   * - ciaddr set (RENEWING, INFORM): unicast to ciaddr;
   * - broadcast bit set, or nothing to unicast to (an INFORM without ciaddr): broadcast;
   * - otherwise unicast to yiaddr at chaddr.
   */
  #reply(message: DhcpMessage, type: number, yiaddr: number, withLease: boolean): void {
    const tx = this.#tx;
    const a = this.#addresses;
    const frame = tx.frame;
    const bootp = IPV4_PAYLOAD_OFFSET + UDP_HEADER_LEN;
    const ciaddr = message.ciaddr;
    const isNak = type === DhcpMessageType.NAK;
    let at = emitDhcpHeader(
      frame,
      bootp,
      BootpOp.REPLY,
      message.xid,
      message.flags,
      isNak || type === DhcpMessageType.OFFER ? 0 : ciaddr,
      yiaddr,
      isNak ? 0 : a.gateway,
      0,
      message.bytes,
      message.chaddrOffset,
    );
    at = emitDhcpOptionU8(frame, at, DhcpOption.MESSAGE_TYPE, type);
    at = emitDhcpOptionU32(frame, at, DhcpOption.SERVER_ID, a.gateway);
    if (isNak) {
      at = emitDhcpOptionText(frame, at, DhcpOption.MESSAGE, DHCP_NAK_MESSAGE);
    } else {
      at = emitDhcpOptionU32(frame, at, DhcpOption.SUBNET_MASK, a.netmask);
      at = emitDhcpOptionU32(frame, at, DhcpOption.ROUTER, a.gateway);
      at = emitDhcpOptionU32(frame, at, DhcpOption.DNS, a.dns);
      if (withLease) at = emitDhcpOptionU32(frame, at, DhcpOption.LEASE_TIME, DHCP_LEASE_SECONDS);
    }
    frame[at++] = DhcpOption.END;

    const room = tx.maxIpv4Payload - UDP_HEADER_LEN;
    let length = at - bootp;
    if (length > room) {
      this.#counters.bump(C["dhcp.reply_exceeds_mtu"]);
      return;
    }
    const padded = Math.min(DHCP_REPLY_LEN, room);
    if (length < padded) {
      frame.fill(0, at, bootp + padded);
      length = padded;
    }

    let dstIp: number;
    let dstMac: Uint8Array;
    let dstMacOffset: number;
    if (isNak || (ciaddr === 0 && (message.broadcast || yiaddr === 0))) {
      dstIp = LIMITED_BROADCAST;
      dstMac = BROADCAST_MAC;
      dstMacOffset = 0;
    } else {
      dstIp = ciaddr !== 0 ? ciaddr : yiaddr;
      dstMac = message.bytes;
      dstMacOffset = message.chaddrOffset;
    }
    emitUdpHeader(
      frame,
      IPV4_PAYLOAD_OFFSET,
      DHCP_SERVER_PORT,
      DHCP_CLIENT_PORT,
      length,
      a.gateway,
      dstIp,
    );
    const sent = tx.sendIpv4(
      dstMac,
      dstMacOffset,
      a.gateway,
      dstIp,
      IpProtocol.UDP,
      DHCP_REPLY_TTL,
      DHCP_REPLY_TOS,
      UDP_HEADER_LEN + length,
    );
    if (!sent) return;
    if (type === DhcpMessageType.OFFER) this.#counters.bump(C["dhcp.offer"]);
    else if (type === DhcpMessageType.ACK) this.#counters.bump(C["dhcp.ack"]);
    else this.#counters.bump(C["dhcp.nak"]);
  }

  #addressOfSlot(slot: number): number {
    return (this.#addresses.dhcpStart + slot) >>> 0;
  }

  #slotOfAddress(address: number): number {
    const slot = address - this.#addresses.dhcpStart;
    return slot >= 0 && slot < this.#poolSize ? slot : -1;
  }

  /** The slot offered or bound to a MAC (expired or not), or -1. */
  #slotOfMac(mac: Uint8Array, macOffset: number): number {
    for (let slot = 0; slot < this.#poolSize; slot++) {
      if (this.#ownedBy(slot, mac, macOffset)) return slot;
    }
    return -1;
  }

  #ownedBy(slot: number, mac: Uint8Array, macOffset: number): boolean {
    const state = this.#state[slot];
    return (state === LeaseState.OFFERED || state === LeaseState.BOUND) &&
      macEquals(this.#macs, slot * MAC_LEN, mac, macOffset);
  }

  /** Whether a slot may go to this client: free, lapsed, or already its own. */
  #grantable(slot: number, mac: Uint8Array, macOffset: number, now: number): boolean {
    return this.#state[slot] === LeaseState.FREE || this.#expiresAt[slot] <= now ||
      this.#ownedBy(slot, mac, macOffset);
  }

  /** A never-used or released slot first, so lapsed clients keep their address longest; or -1. */
  #freeSlot(now: number): number {
    for (let slot = 0; slot < this.#poolSize; slot++) {
      if (this.#state[slot] === LeaseState.FREE) return slot;
    }
    let oldest = -1;
    for (let slot = 0; slot < this.#poolSize; slot++) {
      if (
        this.#expiresAt[slot] <= now &&
        (oldest < 0 || this.#expiresAt[slot] < this.#expiresAt[oldest])
      ) {
        oldest = slot;
      }
    }
    return oldest;
  }

  #hold(slot: number, state: number, mac: Uint8Array, macOffset: number, until: number): void {
    this.#state[slot] = state;
    copyBytes(this.#macs, slot * MAC_LEN, mac, macOffset, MAC_LEN);
    this.#expiresAt[slot] = until;
  }
}
