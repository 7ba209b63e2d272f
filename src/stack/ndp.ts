/**
 * IPv6 Neighbor Discovery for the emulated hosts (RFC 4861) and the router advertisements that let
 * the guest configure itself (RFC 4862 SLAAC; RFC 8106 RDNSS). Read RFC 4861 §6 and §7 and
 * RFC 8106 §5.1 before editing.
 *
 * ## Theory of Operation
 *
 * ```
 *  guest ── RS ─────────────▶ schedule a solicited RA (0..500 ms later) ─▶ RA ─▶ guest
 *        ── NS fd00::2 ─────▶ NA (S, O, R; target link-layer address) ──────────▶ guest
 *        ── NS from :: ─────▶ NA to ff02::1 (DAD of one of our addresses: a conflict)
 *        ── NA / RS / NS ───▶ learn the guest's address → MAC (GuestNeighbors)
 *  timer ── start, +4 s, +8 s, then every 200..600 s ─▶ RA to ff02::1
 *  forward needs a MAC ─────▶ NS to the solicited-node address of the guest's address
 * ```
 *
 * Addresses: fd00::2 (the router, host alias) and fe80::2 (its link-local address, the source of
 * every RA) have the gateway's emulated MAC; fd00::3 (DNS) has the DNS host's. Only those three
 * are answered: a solicitation for any other address (the guest's own duplicate address
 * detection included) gets no answer.
 *
 * Router advertisements (RFC 4861 §6.2): Cur Hop Limit 64, no M/O flags (no DHCPv6), Router
 * Lifetime {@link ROUTER_LIFETIME_S} s, Reachable Time and Retrans Timer unspecified (0); options:
 * source link-layer address, MTU (the link MTU, left out below the IPv6 minimum of 1280), prefix
 * fd00::/64 on-link and autonomous (valid {@link PREFIX_VALID_LIFETIME_S} s, preferred
 * {@link PREFIX_PREFERRED_LIFETIME_S} s), and RDNSS fd00::3 always (lifetime
 * {@link RDNSS_LIFETIME_S} s = 2 × MaxRtrAdvInterval, the upper bound of RFC 8106 §5.1).
 *
 * Timing (RFC 4861 §6.2.4, §6.2.6, §10), with `now` injected and no timer of its own: the owner
 * calls `tick(now)` by `nextDeadline` (the tap reader derives its poll timeout from it).
 * - {@link MAX_INITIAL_RTR_ADVERTISEMENTS} unsolicited RAs {@link INITIAL_RTR_ADVERT_INTERVAL_MS}
 *   apart from `start` (§6.2.4 allows intervals up to 16 s for the first three; the guest may not
 *   listen yet when we start), then one every MinRtrAdvInterval..MaxRtrAdvInterval
 *   ({@link MIN_RTR_ADV_INTERVAL_MS}..{@link MAX_RTR_ADV_INTERVAL_MS}, uniformly random).
 * - A solicitation is answered after a random 0..{@link MAX_RA_DELAY_TIME_MS} (§6.2.6 "MUST be
 *   delayed"): unicast to the soliciting address and MAC, or, from ::, to ff02::1, where
 *   consecutive RAs are at least {@link MIN_DELAY_BETWEEN_RAS_MS} apart. Solicitations that come
 *   while an answer is pending share it.
 *
 * Runs in the tap-reader Worker (the dispatcher owns it); `solicit` also on the main thread for
 * port forwards (with its own GuestTx).
 */

import type { Addresses, Ipv6Addresses } from "../config.ts";
import { readIpv6, writeIpv6 } from "../wire/address.ts";
import type { EthernetFrame } from "../wire/ethernet.ts";
import {
  emitLinkLayerOption,
  emitMtuOption,
  emitNeighborMessage,
  emitPrefixOption,
  emitRdnssOption,
  emitRouterAdvertisement,
  fillIcmpv6Checksum,
  type Icmpv6Message,
  Icmpv6Type,
  isSolicitedNodeOf,
  NDP_HOP_LIMIT,
  NdpOption,
  NdpOptions,
  NeighborFlag,
  PrefixFlag,
  solicitedNodeAddress,
  writeMulticastMac,
} from "../wire/icmpv6.ts";
import {
  IPV6,
  IPV6_MIN_MTU,
  Ipv6NextHeader,
  type Ipv6Packet,
  isLinkLocalIpv6,
} from "../wire/ipv6.ts";
import { copyBytes } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { type GuestTx, IPV6_PAYLOAD_OFFSET } from "./guest_tx.ts";
import type { GuestNeighbors } from "./neighbors.ts";
import { slirpMac } from "./slirp_mac.ts";

/** MaxRtrAdvInterval (RFC 4861 §6.2.1 default: 600 s). */
export const MAX_RTR_ADV_INTERVAL_MS = 600_000;
/** MinRtrAdvInterval (RFC 4861 §6.2.1 default: 0.33 × MaxRtrAdvInterval). */
export const MIN_RTR_ADV_INTERVAL_MS = 200_000;
/** Unsolicited RAs sent quickly after start (RFC 4861 §10 MAX_INITIAL_RTR_ADVERTISEMENTS). */
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
/** The interval between those (at most MAX_INITIAL_RTR_ADVERT_INTERVAL, 16 s). */
export const INITIAL_RTR_ADVERT_INTERVAL_MS = 4_000;
/** Least time between RAs to ff02::1 (RFC 4861 §10 MIN_DELAY_BETWEEN_RAS). */
export const MIN_DELAY_BETWEEN_RAS_MS = 3_000;
/** Largest delay of an answer to a solicitation (RFC 4861 §10 MAX_RA_DELAY_TIME). */
export const MAX_RA_DELAY_TIME_MS = 500;
/** Cur Hop Limit advertised. */
export const RA_CUR_HOP_LIMIT = 64;
/** Router Lifetime (RFC 4861 §6.2.1 AdvDefaultLifetime default: 3 × MaxRtrAdvInterval). */
export const ROUTER_LIFETIME_S = 1800;
/** Valid lifetime of fd00::/64 (RFC 4861 §6.2.1 AdvValidLifetime: 30 days by default; ours 1 day). */
export const PREFIX_VALID_LIFETIME_S = 86_400;
/** Preferred lifetime of fd00::/64 (AdvPreferredLifetime: 7 days by default; ours 4 h). */
export const PREFIX_PREFERRED_LIFETIME_S = 14_400;
/** Lifetime of the RDNSS option: 2 × MaxRtrAdvInterval (RFC 8106 §5.1 upper bound). */
export const RDNSS_LIFETIME_S = 2 * MAX_RTR_ADV_INTERVAL_MS / 1000;

/** ff02::1, all nodes (RFC 4291 §2.7.1). */
export const ALL_NODES = 0xff02_0000_0000_0000_0000_0000_0000_0001n;
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0, 0, 0, 1]);

/**
 * Neighbor Discovery towards the guest: answers, learning, router advertisements.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "./counters.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * import { NeighborDiscovery } from "./ndp.ts";
 * import { GuestNeighbors } from "./neighbors.ts";
 * const addresses = deriveAddresses(0x0a000200, 24, true);
 * const counters = new Counters();
 * const link = new MemoryLink();
 * const tx = new GuestTx(link, 1500, addresses, counters);
 * const ndp = new NeighborDiscovery(addresses, 1500, new GuestNeighbors(addresses), tx, counters);
 * ndp.start(0);
 * ndp.tick(0);
 * if (link.take().length !== 1 || ndp.nextDeadline !== 4000) throw new Error("no RA");
 * ```
 */
export class NeighborDiscovery {
  readonly #v6: Ipv6Addresses;
  readonly #mtu: number;
  readonly #neighbors: GuestNeighbors;
  readonly #tx: GuestTx;
  readonly #counters: Counters;
  readonly #random: () => number;
  readonly #options = new NdpOptions();
  readonly #gatewayMac: Uint8Array;
  readonly #dnsMac: Uint8Array;
  /** Our three addresses as bytes, to compare targets without bigints. */
  readonly #gatewayBytes = new Uint8Array(16);
  readonly #dnsBytes = new Uint8Array(16);
  readonly #routerBytes = new Uint8Array(16);
  /** Scratch: a destination MAC, and a target address as bytes. */
  readonly #mac = new Uint8Array(6);
  readonly #address = new Uint8Array(16);

  /** When the next unsolicited RA is due (Infinity before `start`). */
  #unsolicitedDue = Infinity;
  #initialLeft = 0;
  /** When the last RA to ff02::1 went out. */
  #lastMulticast = -Infinity;
  /** A pending answer to a solicitation: when, and to whom (ff02::1 when `solicitedMulticast`). */
  #solicitedDue = Infinity;
  #solicitedMulticast = false;
  #solicitedDst = 0n;
  readonly #solicitedMac = new Uint8Array(6);

  /**
   * @param addresses with `ipv6` set (`-6`)
   * @param mtu the link MTU, advertised in the MTU option
   * @param random uniform in [0, 1): the RA intervals and answer delays (injected in tests)
   */
  constructor(
    addresses: Addresses,
    mtu: number,
    neighbors: GuestNeighbors,
    tx: GuestTx,
    counters: Counters,
    random: () => number = Math.random,
  ) {
    if (addresses.ipv6 === null) throw new Error("Neighbor Discovery needs the IPv6 addresses");
    const v6 = addresses.ipv6;
    this.#v6 = v6;
    this.#mtu = mtu;
    this.#neighbors = neighbors;
    this.#tx = tx;
    this.#counters = counters;
    this.#random = random;
    this.#gatewayMac = slirpMac(addresses.gateway);
    this.#dnsMac = slirpMac(addresses.dns);
    writeIpv6(this.#gatewayBytes, 0, v6.gateway);
    writeIpv6(this.#dnsBytes, 0, v6.dns);
    writeIpv6(this.#routerBytes, 0, v6.routerLinkLocal);
  }

  /** Starts the unsolicited advertisements: the first is due at `now`. */
  start(now: number): void {
    this.#initialLeft = MAX_INITIAL_RTR_ADVERTISEMENTS;
    this.#unsolicitedDue = now;
  }

  /** When `tick` has something to send next (Infinity: nothing scheduled). */
  get nextDeadline(): number {
    return Math.min(this.#unsolicitedDue, this.#solicitedDue);
  }

  /** Sends the advertisements due at `now`. */
  tick(now: number): void {
    if (now >= this.#solicitedDue) {
      this.#solicitedDue = Infinity;
      if (this.#solicitedMulticast) {
        this.#multicastAdvertisement(now);
      } else {
        this.#advertise(this.#solicitedDst, this.#solicitedMac, 0);
      }
    }
    if (now >= this.#unsolicitedDue) this.#multicastAdvertisement(now);
  }

  /**
   * Handles a Neighbor Discovery message (types 133-137) from the guest: `ip` is the checked
   * header (`eth` its frame), `icmp` the message, whose length and checksum the dispatcher checked.
   * `srcUnspecified`: the source is ::.
   */
  handle(
    eth: EthernetFrame,
    ip: Ipv6Packet,
    icmp: Icmpv6Message,
    srcUnspecified: boolean,
    now: number,
  ): void {
    const counters = this.#counters;
    // RFC 4861 §6.1, §7.1: a hop limit other than 255 means the message crossed a router.
    if (ip.hopLimit !== NDP_HOP_LIMIT) {
      counters.bump(C["ndp.bad_hop_limit"]);
      return;
    }
    if (icmp.code !== 0) {
      counters.bump(C["ndp.bad_code"]);
      return;
    }
    const type = icmp.type;
    if (type === Icmpv6Type.ROUTER_ADVERTISEMENT) {
      counters.bump(C["ndp.ra_ignored"]);
      return;
    }
    if (type === Icmpv6Type.REDIRECT) {
      counters.bump(C["ndp.redirect_ignored"]);
      return;
    }
    const options = this.#options;
    if (options.parse(icmp.bytes, icmp.optionsOffset, icmp.optionsLength) !== "ok") {
      counters.bump(C["ndp.bad_options"]);
      return;
    }
    // RFC 4861 §6.1.1, §7.1.1: from ::, no source link-layer address option.
    if (srcUnspecified && options.sourceMacOffset >= 0) {
      counters.bump(C["ndp.invalid"]);
      return;
    }
    switch (type) {
      case Icmpv6Type.ROUTER_SOLICITATION:
        this.#solicitation(eth, ip, srcUnspecified, now);
        return;
      case Icmpv6Type.NEIGHBOR_SOLICITATION:
        this.#neighborSolicitation(eth, ip, icmp, srcUnspecified);
        return;
      case Icmpv6Type.NEIGHBOR_ADVERTISEMENT:
        this.#neighborAdvertisement(ip, icmp);
        return;
    }
  }

  /**
   * Sends a Neighbor Solicitation for the guest address `target` (RFC 4861 §7.2.2): to its
   * solicited-node address, from fd00::2 (fe80::2 for a link-local target), with our source
   * link-layer address; the answer is learned like any advertisement.
   */
  solicit(target: bigint): void {
    const v6 = this.#v6;
    const tx = this.#tx;
    const frame = tx.frame;
    const at = IPV6_PAYLOAD_OFFSET;
    const src = isLinkLocalIpv6(target) ? v6.routerLinkLocal : v6.gateway;
    const dst = solicitedNodeAddress(target);
    writeIpv6(this.#address, 0, target);
    let length = emitNeighborMessage(
      frame,
      at,
      Icmpv6Type.NEIGHBOR_SOLICITATION,
      0,
      this.#address,
      0,
    );
    length += emitLinkLayerOption(
      frame,
      at + length,
      NdpOption.SOURCE_LINK_LAYER,
      this.#gatewayMac,
      0,
    );
    writeIpv6(this.#address, 0, dst);
    writeMulticastMac(this.#mac, 0, this.#address, 0);
    if (this.#send(this.#mac, 0, src, dst, length)) this.#counters.bump(C["ndp.ns_sent"]);
  }

  /**
   * Whether the target at `bytes[offset..]` is an address of fd00::/64 that stands for the host:
   * not the subnet-router anycast address fd00:: (RFC 4291 §2.6.1) and no address the guest was
   * seen to use itself (never answered during its duplicate address detection either: those
   * solicitations come from ::).
   */
  #isHostAlias(bytes: Uint8Array, offset: number): boolean {
    const prefix = this.#gatewayBytes;
    for (let i = 0; i < 8; i++) if (bytes[offset + i] !== prefix[i]) return false;
    let interfaceId = 0;
    for (let i = 8; i < 16; i++) interfaceId |= bytes[offset + i];
    return interfaceId !== 0 && !this.#neighbors.has(readIpv6(bytes, offset));
  }

  /** A Router Solicitation (RFC 4861 §6.2.6): learn the sender, schedule the answer. */
  #solicitation(eth: EthernetFrame, ip: Ipv6Packet, srcUnspecified: boolean, now: number): void {
    this.#counters.bump(C["ndp.rs"]);
    const macOffset = this.#options.sourceMacOffset;
    if (!srcUnspecified && macOffset >= 0) this.#learn(ip.src, ip.bytes, macOffset);
    let due = now + this.#random() * MAX_RA_DELAY_TIME_MS;
    if (srcUnspecified) {
      due = Math.max(due, this.#lastMulticast + MIN_DELAY_BETWEEN_RAS_MS);
      this.#solicitedMulticast = true;
    } else if (this.#solicitedDue === Infinity || !this.#solicitedMulticast) {
      this.#solicitedMulticast = false;
      this.#solicitedDst = ip.src;
      if (macOffset >= 0) copyBytes(this.#solicitedMac, 0, ip.bytes, macOffset, 6);
      else copyBytes(this.#solicitedMac, 0, eth.bytes, eth.srcOffset, 6);
    }
    if (due < this.#solicitedDue) this.#solicitedDue = due;
  }

  /** A Neighbor Solicitation (RFC 4861 §7.1.1, §7.2.3, §7.2.4). */
  #neighborSolicitation(
    eth: EthernetFrame,
    ip: Ipv6Packet,
    icmp: Icmpv6Message,
    srcUnspecified: boolean,
  ): void {
    const counters = this.#counters;
    const bytes = icmp.bytes;
    const target = icmp.targetOffset;
    const dstAt = ip.offset + IPV6.DST;
    // RFC 4861 §7.1.1: the target is not multicast; from ::, the destination is the target's
    // solicited-node address. A solicitation goes to the target or its solicited-node address.
    if (
      bytes[target] === 0xff ||
      !(isSolicitedNodeOf(bytes, dstAt, bytes, target) ||
        (!srcUnspecified && equal16(bytes, dstAt, bytes, target)))
    ) {
      counters.bump(C["ndp.invalid"]);
      return;
    }
    counters.bump(C["ndp.ns"]);
    const macOffset = this.#options.sourceMacOffset;
    if (!srcUnspecified && macOffset >= 0) this.#learn(ip.src, bytes, macOffset);
    let targetMac: Uint8Array;
    let router: boolean;
    if (equal16(bytes, target, this.#gatewayBytes, 0)) {
      targetMac = this.#gatewayMac;
      router = true;
    } else if (equal16(bytes, target, this.#routerBytes, 0)) {
      targetMac = this.#gatewayMac;
      router = true;
    } else if (equal16(bytes, target, this.#dnsBytes, 0)) {
      targetMac = this.#dnsMac;
      router = false;
    } else if (!srcUnspecified && this.#isHostAlias(bytes, target)) {
      // Every other address of the on-link prefix is the host's ::1 (routes.ts), so it must
      // resolve like fd00::2 does, or the guest could never send to it.
      targetMac = this.#gatewayMac;
      router = false;
    } else {
      // Not ours: the guest's own duplicate address detection, or nobody's address.
      counters.bump(C["ndp.ns_ignored"]);
      return;
    }

    const tx = this.#tx;
    const frame = tx.frame;
    const at = IPV6_PAYLOAD_OFFSET;
    const flags = (router ? NeighborFlag.ROUTER : 0) | NeighborFlag.OVERRIDE |
      (srcUnspecified ? 0 : NeighborFlag.SOLICITED);
    let length = emitNeighborMessage(
      frame,
      at,
      Icmpv6Type.NEIGHBOR_ADVERTISEMENT,
      flags,
      bytes,
      target,
    );
    length += emitLinkLayerOption(frame, at + length, NdpOption.TARGET_LINK_LAYER, targetMac, 0);
    const src = icmp.target;
    // RFC 4861 §7.2.4: to the solicitation's source, or to all nodes when that is :: (a DAD
    // probe: the S flag is then clear).
    let dst: bigint;
    let dstMac: Uint8Array;
    let dstMacOffset: number;
    if (srcUnspecified) {
      dst = ALL_NODES;
      dstMac = ALL_NODES_MAC;
      dstMacOffset = 0;
    } else {
      dst = ip.src;
      dstMac = macOffset >= 0 ? bytes : eth.bytes;
      dstMacOffset = macOffset >= 0 ? macOffset : eth.srcOffset;
    }
    if (this.#send(dstMac, dstMacOffset, src, dst, length)) counters.bump(C["ndp.na_sent"]);
  }

  /** A Neighbor Advertisement (RFC 4861 §7.1.2, §7.2.5): learn the target's MAC. */
  #neighborAdvertisement(ip: Ipv6Packet, icmp: Icmpv6Message): void {
    const counters = this.#counters;
    const bytes = icmp.bytes;
    // RFC 4861 §7.1.2: the target is not multicast; to a multicast address, S is clear.
    if (
      bytes[icmp.targetOffset] === 0xff ||
      (bytes[ip.offset + IPV6.DST] === 0xff && (icmp.neighborFlags & NeighborFlag.SOLICITED))
    ) {
      counters.bump(C["ndp.invalid"]);
      return;
    }
    counters.bump(C["ndp.na"]);
    const macOffset = this.#options.targetMacOffset;
    if (macOffset >= 0) this.#learn(icmp.target, bytes, macOffset);
  }

  #learn(ip: bigint, mac: Uint8Array, macOffset: number): void {
    if (this.#neighbors.learn(ip, mac, macOffset)) this.#counters.bump(C["ndp.learned"]);
  }

  /** An RA to ff02::1 now, and the next unsolicited one scheduled (RFC 4861 §6.2.4). */
  #multicastAdvertisement(now: number): void {
    this.#advertise(ALL_NODES, ALL_NODES_MAC, 0);
    this.#lastMulticast = now;
    if (this.#unsolicitedDue === Infinity) return;
    if (this.#initialLeft > 0) this.#initialLeft--;
    this.#unsolicitedDue = now +
      (this.#initialLeft > 0 ? INITIAL_RTR_ADVERT_INTERVAL_MS : MIN_RTR_ADV_INTERVAL_MS +
        this.#random() * (MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS));
  }

  /** Sends an RA from fe80::2 to `dst` at the MAC `dstMac[dstMacOffset..]`. */
  #advertise(dst: bigint, dstMac: Uint8Array, dstMacOffset: number): void {
    const v6 = this.#v6;
    const tx = this.#tx;
    const frame = tx.frame;
    const at = IPV6_PAYLOAD_OFFSET;
    let length = emitRouterAdvertisement(frame, at, RA_CUR_HOP_LIMIT, 0, ROUTER_LIFETIME_S, 0, 0);
    length += emitLinkLayerOption(
      frame,
      at + length,
      NdpOption.SOURCE_LINK_LAYER,
      this.#gatewayMac,
      0,
    );
    if (this.#mtu >= IPV6_MIN_MTU) length += emitMtuOption(frame, at + length, this.#mtu);
    length += emitPrefixOption(
      frame,
      at + length,
      v6.prefix,
      v6.prefixLength,
      PrefixFlag.ON_LINK | PrefixFlag.AUTONOMOUS,
      PREFIX_VALID_LIFETIME_S,
      PREFIX_PREFERRED_LIFETIME_S,
    );
    length += emitRdnssOption(frame, at + length, RDNSS_LIFETIME_S, [v6.dns]);
    if (this.#send(dstMac, dstMacOffset, v6.routerLinkLocal, dst, length)) {
      this.#counters.bump(C["ndp.ra_sent"]);
    }
  }

  /**
   * Checksums and sends the `length`-byte message at IPV6_PAYLOAD_OFFSET with hop limit 255. A
   * message that would need fragments (a link MTU below IPv6's 1280) is not sent (RFC 6980 §5:
   * receivers drop fragmented Neighbor Discovery) and counts as `tx.exceeds_mtu`.
   */
  #send(
    dstMac: Uint8Array,
    dstMacOffset: number,
    src: bigint,
    dst: bigint,
    length: number,
  ): boolean {
    const tx = this.#tx;
    if (length > tx.maxIpv6Payload) {
      this.#counters.bump(C["tx.exceeds_mtu"]);
      return false;
    }
    fillIcmpv6Checksum(tx.frame, IPV6_PAYLOAD_OFFSET, length, src, dst);
    return tx.sendIpv6(
      dstMac,
      dstMacOffset,
      src,
      dst,
      Ipv6NextHeader.ICMPV6,
      NDP_HOP_LIMIT,
      0,
      length,
    );
  }
}

/** Whether the 16 bytes at `a[aOffset..]` and `b[bOffset..]` are equal. */
export function equal16(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number): boolean {
  for (let i = 0; i < 16; i++) if (a[aOffset + i] !== b[bOffset + i]) return false;
  return true;
}
