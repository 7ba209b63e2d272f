/**
 * What the stack knows of the guest's link-layer addresses: IPv4 → MAC pairs learned from ARP
 * (RFC 826 "merge" step) and from DHCP leases, needed to address frames to the guest. A small
 * fixed table with round-robin replacement, like libslirp's `arp_table` (16 entries).
 */

import type { Addresses } from "../config.ts";
import { copyBytes } from "../wire/view.ts";
import { isMulticastMac, isZeroMac, MAC_LEN, macEquals } from "../wire/ethernet.ts";
import { LIMITED_BROADCAST } from "../wire/ipv4.ts";

/** Entries in the table (libslirp ARP_TABLE_SIZE). */
export const NEIGHBOR_TABLE_SIZE = 16;

/**
 * The guest's IPv4 → MAC table.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { GuestNeighbors } from "./neighbors.ts";
 * const neighbors = new GuestNeighbors(deriveAddresses(0x0a000200, 24));
 * neighbors.learn(0x0a000264, new Uint8Array([2, 0, 0, 0, 0, 1]), 0);
 * const mac = new Uint8Array(6);
 * if (!neighbors.copyMac(0x0a000264, mac, 0)) throw new Error("not learned");
 * ```
 */
export class GuestNeighbors {
  readonly #addresses: Addresses;
  readonly #ips = new Uint32Array(NEIGHBOR_TABLE_SIZE);
  readonly #macs = new Uint8Array(NEIGHBOR_TABLE_SIZE * MAC_LEN);
  #used = 0;
  #nextVictim = 0;
  /** Called with each address whose MAC was learned or changed (port forwards wait for it). */
  onLearn: ((ip: number) => void) | null = null;

  constructor(addresses: Addresses) {
    this.#addresses = addresses;
  }

  /**
   * Records that `ip` is at the MAC `mac[macOffset..]`. Ignored (returns false) for addresses
   * that cannot be a guest's: outside the network, the network or broadcast address, the
   * emulated hosts' own addresses, and zero or group MACs. An existing entry is updated in
   * place (RFC 826: "update the sender protocol address's entry with the new information").
   */
  learn(ip: number, mac: Uint8Array, macOffset: number): boolean {
    const a = this.#addresses;
    if (
      ((ip & a.netmask) >>> 0) !== a.network || ip === a.network || ip === a.broadcast ||
      ip === LIMITED_BROADCAST || ip === a.gateway || ip === a.dns ||
      isZeroMac(mac, macOffset) || isMulticastMac(mac, macOffset)
    ) {
      return false;
    }
    let slot = this.#find(ip);
    if (slot < 0) {
      if (this.#used < NEIGHBOR_TABLE_SIZE) {
        slot = this.#used++;
      } else {
        slot = this.#nextVictim;
        this.#nextVictim = (this.#nextVictim + 1) % NEIGHBOR_TABLE_SIZE;
      }
      this.#ips[slot] = ip;
    } else if (macEquals(this.#macs, slot * MAC_LEN, mac, macOffset)) {
      return true;
    }
    copyBytes(this.#macs, slot * MAC_LEN, mac, macOffset, MAC_LEN);
    this.onLearn?.(ip);
    return true;
  }

  /** Copies the MAC of `ip` to `out[outOffset..]`; false if unknown. */
  copyMac(ip: number, out: Uint8Array, outOffset: number): boolean {
    const slot = this.#find(ip);
    if (slot < 0) return false;
    copyBytes(out, outOffset, this.#macs, slot * MAC_LEN, MAC_LEN);
    return true;
  }

  /** Whether the MAC of `ip` is known. */
  has(ip: number): boolean {
    return this.#find(ip) >= 0;
  }

  /** Number of known entries. */
  get size(): number {
    return this.#used;
  }

  #find(ip: number): number {
    for (let i = 0; i < this.#used; i++) if (this.#ips[i] === ip) return i;
    return -1;
  }
}
