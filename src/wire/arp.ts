/**
 * ARP for IPv4 over Ethernet (RFC 826). Other hardware or protocol types are reported as
 * unsupported by `check()`.
 */

import { readIpv4, writeIpv4 } from "./address.ts";
import { ByteView, copyBytes, writeU16 } from "./view.ts";

/*
 * ARP packet for Ethernet/IPv4 (RFC 826 "Packet format"):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Hardware type (ar$hrd)    |    Protocol type (ar$pro)     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  | ar$hln (= 6)  | ar$pln (= 4)  |        Opcode (ar$op)         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            Sender hardware address (ar$sha, 6 octets)         |
 *  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                               | Sender protocol addr (ar$spa) |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  (ar$spa, continued)          |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *  |            Target hardware address (ar$tha, 6 octets)         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            Target protocol address (ar$tpa, 4 octets)         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
/** Field offsets of an Ethernet/IPv4 ARP packet. */
export const ARP = {
  HTYPE: 0,
  PTYPE: 2,
  HLEN: 4,
  PLEN: 5,
  OPER: 6,
  SHA: 8,
  SPA: 14,
  THA: 18,
  TPA: 24,
} as const;

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** ar$hrd for Ethernet. */
export const ARP_HTYPE_ETHERNET = 1;
/** ar$pro for IPv4 (the IPv4 EtherType). */
export const ARP_PTYPE_IPV4 = 0x0800;

/** ARP opcodes (RFC 826; RFC 5494 registry). */
export const ArpOp = {
  REQUEST: 1,
  REPLY: 2,
} as const;

/** What `ArpPacket.check()` reports. */
export type ArpCheck = "ok" | "truncated" | "unsupported_hardware" | "unsupported_protocol";

/**
 * A view of an ARP packet. Accessors are safe after `check()` returned `"ok"`, which also means
 * Ethernet hardware addresses and IPv4 protocol addresses.
 *
 * @example
 * ```ts
 * import { ArpOp, ArpPacket, emitArp } from "./arp.ts";
 * const bytes = new Uint8Array(28);
 * const mac = new Uint8Array([2, 0, 0, 0, 0, 1]);
 * emitArp(bytes, 0, ArpOp.REQUEST, mac, 0, 0x0a000264, new Uint8Array(6), 0, 0x0a000202);
 * const arp = new ArpPacket().wrap(bytes);
 * if (arp.check() !== "ok" || arp.targetIp !== 0x0a000202) throw new Error("bad ARP");
 * ```
 */
export class ArpPacket extends ByteView {
  /**
   * Checks the fixed header: Ethernet (hrd 1, hln 6) and IPv4 (pro 0x0800, pln 4) only, and at
   * least 28 bytes. Trailing bytes (Ethernet padding) are allowed.
   */
  check(): ArpCheck {
    if (this.length < ARP.OPER) return "truncated";
    if (this.u16(ARP.HTYPE) !== ARP_HTYPE_ETHERNET || this.bytes[this.offset + ARP.HLEN] !== 6) {
      return "unsupported_hardware";
    }
    if (this.u16(ARP.PTYPE) !== ARP_PTYPE_IPV4 || this.bytes[this.offset + ARP.PLEN] !== 4) {
      return "unsupported_protocol";
    }
    if (this.length < ARP_LEN) return "truncated";
    return "ok";
  }

  get operation(): number {
    return this.u16(ARP.OPER);
  }
  set operation(value: number) {
    this.setU16(ARP.OPER, value);
  }

  /** Absolute offset of the sender hardware address in `bytes`. */
  get senderMacOffset(): number {
    return this.offset + ARP.SHA;
  }

  get senderIp(): number {
    return readIpv4(this.bytes, this.offset + ARP.SPA);
  }
  set senderIp(value: number) {
    writeIpv4(this.bytes, this.offset + ARP.SPA, value);
  }

  /** Absolute offset of the target hardware address in `bytes`. */
  get targetMacOffset(): number {
    return this.offset + ARP.THA;
  }

  get targetIp(): number {
    return readIpv4(this.bytes, this.offset + ARP.TPA);
  }
  set targetIp(value: number) {
    writeIpv4(this.bytes, this.offset + ARP.TPA, value);
  }
}

/**
 * Writes a 28-byte Ethernet/IPv4 ARP packet at `offset`; the MACs are copied from
 * `senderMac[senderMacOffset..]` and `targetMac[targetMacOffset..]`.
 */
export function emitArp(
  bytes: Uint8Array,
  offset: number,
  operation: number,
  senderMac: Uint8Array,
  senderMacOffset: number,
  senderIp: number,
  targetMac: Uint8Array,
  targetMacOffset: number,
  targetIp: number,
): void {
  writeU16(bytes, offset + ARP.HTYPE, ARP_HTYPE_ETHERNET);
  writeU16(bytes, offset + ARP.PTYPE, ARP_PTYPE_IPV4);
  bytes[offset + ARP.HLEN] = 6;
  bytes[offset + ARP.PLEN] = 4;
  writeU16(bytes, offset + ARP.OPER, operation);
  copyBytes(bytes, offset + ARP.SHA, senderMac, senderMacOffset, 6);
  writeIpv4(bytes, offset + ARP.SPA, senderIp);
  copyBytes(bytes, offset + ARP.THA, targetMac, targetMacOffset, 6);
  writeIpv4(bytes, offset + ARP.TPA, targetIp);
}
