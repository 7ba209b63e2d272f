/**
 * What the stack knows of the guest's link-layer addresses, needed to address frames to the
 * guest: IPv4 → MAC pairs learned from ARP (RFC 826 "merge" step) and from DHCP leases, and IPv6
 * → MAC pairs learned from Neighbor Discovery (RFC 4861 §7.2.3, §7.2.5: the source link-layer
 * option of a solicitation, the target link-layer option of an advertisement) and from the
 * guest's traffic. One small fixed table per family with round-robin replacement, like libslirp's
 * `arp_table` and `ndp_table` (16 entries each).
 */

import type { Addresses } from "../config.ts";
import { inIpv6Prefix, type IpAddress } from "../wire/address.ts";
import { copyBytes } from "../wire/view.ts";
import { isMulticastMac, isZeroMac, MAC_LEN, macEquals } from "../wire/ethernet.ts";
import { LIMITED_BROADCAST } from "../wire/ipv4.ts";
import { isLinkLocalIpv6 } from "../wire/ipv6.ts";

/** Entries per family (libslirp ARP_TABLE_SIZE and NDP_TABLE_SIZE). */
export const NEIGHBOR_TABLE_SIZE = 16;

/** One family's address → MAC table; keys compare by value (numbers or bigints). */
class NeighborTable<K extends IpAddress> {
  readonly #ips: K[] = [];
  readonly #macs = new Uint8Array(NEIGHBOR_TABLE_SIZE * MAC_LEN);
  #nextVictim = 0;

  get size(): number {
    return this.#ips.length;
  }

  /** Stores the pair; returns whether anything changed. */
  set(ip: K, mac: Uint8Array, macOffset: number): boolean {
    let slot = this.find(ip);
    if (slot < 0) {
      if (this.#ips.length < NEIGHBOR_TABLE_SIZE) {
        slot = this.#ips.length;
        this.#ips.push(ip);
      } else {
        slot = this.#nextVictim;
        this.#nextVictim = (this.#nextVictim + 1) % NEIGHBOR_TABLE_SIZE;
        this.#ips[slot] = ip;
      }
    } else if (macEquals(this.#macs, slot * MAC_LEN, mac, macOffset)) {
      return false;
    }
    copyBytes(this.#macs, slot * MAC_LEN, mac, macOffset, MAC_LEN);
    return true;
  }

  copyMac(slot: number, out: Uint8Array, outOffset: number): void {
    copyBytes(out, outOffset, this.#macs, slot * MAC_LEN, MAC_LEN);
  }

  find(ip: K): number {
    const ips = this.#ips;
    for (let i = 0; i < ips.length; i++) if (ips[i] === ip) return i;
    return -1;
  }
}

/**
 * The guest's address → MAC tables, IPv4 and IPv6.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { GuestNeighbors } from "./neighbors.ts";
 * const neighbors = new GuestNeighbors(deriveAddresses(0x0a000200, 24, true));
 * neighbors.learn(0x0a000264, new Uint8Array([2, 0, 0, 0, 0, 1]), 0);
 * neighbors.learn(0xfd00n << 112n | 0x64n, new Uint8Array([2, 0, 0, 0, 0, 1]), 0);
 * const mac = new Uint8Array(6);
 * if (!neighbors.copyMac(0xfd00n << 112n | 0x64n, mac, 0)) throw new Error("not learned");
 * ```
 */
export class GuestNeighbors {
  readonly #addresses: Addresses;
  readonly #v4 = new NeighborTable<number>();
  readonly #v6 = new NeighborTable<bigint>();
  /** Called with each address whose MAC was learned or changed (port forwards wait for it). */
  onLearn: ((ip: IpAddress) => void) | null = null;
  /** Bumped on every change of either table (lets callers cache a lookup). */
  version = 0;
  /**
   * The guest's global IPv6 address (in fd00::/64) learned last, or null: the default guest
   * address of IPv6 port forwards.
   */
  globalIpv6: bigint | null = null;

  constructor(addresses: Addresses) {
    this.#addresses = addresses;
  }

  /**
   * Records that `ip` is at the MAC `mac[macOffset..]`. Ignored (returns false) for addresses
   * that cannot be a guest's: for IPv4 outside the network, the network or broadcast address;
   * for IPv6 outside fd00::/64 and fe80::/10 (or without `-6`), the prefix's subnet-router anycast
   * address (RFC 4291 §2.6.1); the emulated hosts' own addresses; and zero or group MACs. An
   * existing entry is updated in place (RFC 826: "update the sender protocol address's entry
   * with the new information"; RFC 4861 §7.2.3). Returns true for a known pair too.
   */
  learn(ip: IpAddress, mac: Uint8Array, macOffset: number): boolean {
    if (isZeroMac(mac, macOffset) || isMulticastMac(mac, macOffset)) return false;
    let changed: boolean;
    if (typeof ip === "bigint") {
      if (!this.#mayBeGuest6(ip)) return false;
      changed = this.#v6.set(ip, mac, macOffset);
      if (changed && !isLinkLocalIpv6(ip)) this.globalIpv6 = ip;
    } else {
      const a = this.#addresses;
      if (
        ((ip & a.netmask) >>> 0) !== a.network || ip === a.network || ip === a.broadcast ||
        ip === LIMITED_BROADCAST || ip === a.gateway || ip === a.dns
      ) {
        return false;
      }
      changed = this.#v4.set(ip, mac, macOffset);
    }
    if (changed) {
      this.version++;
      this.onLearn?.(ip);
    }
    return true;
  }

  /** Copies the MAC of `ip` to `out[outOffset..]`; false if unknown. */
  copyMac(ip: IpAddress, out: Uint8Array, outOffset: number): boolean {
    if (typeof ip === "bigint") {
      const slot = this.#v6.find(ip);
      if (slot < 0) return false;
      this.#v6.copyMac(slot, out, outOffset);
    } else {
      const slot = this.#v4.find(ip);
      if (slot < 0) return false;
      this.#v4.copyMac(slot, out, outOffset);
    }
    return true;
  }

  /** Whether the MAC of `ip` is known. */
  has(ip: IpAddress): boolean {
    return typeof ip === "bigint" ? this.#v6.find(ip) >= 0 : this.#v4.find(ip) >= 0;
  }

  /** Number of known entries, both families. */
  get size(): number {
    return this.#v4.size + this.#v6.size;
  }

  #mayBeGuest6(ip: bigint): boolean {
    const v6 = this.#addresses.ipv6;
    if (v6 === null) return false;
    if (ip === v6.gateway || ip === v6.dns || ip === v6.routerLinkLocal) return false;
    if (inIpv6Prefix(ip, v6.prefix, v6.prefixLength)) return ip !== v6.prefix;
    return isLinkLocalIpv6(ip);
  }
}
