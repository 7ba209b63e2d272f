/**
 * ICMP errors to the guest about datagrams it sent, for both families: ICMP (RFC 792; RFC 1122
 * §3.2.2) towards IPv4 senders and ICMPv6 (RFC 4443 §3) towards IPv6 ones. What differs is
 * abstracted here once: the type and code numbers for a host-side failure, how much of the
 * offending datagram is quoted, and the message builder (src/wire/icmp.ts, src/wire/icmpv6.ts).
 * The UDP and ICMP echo NAT use it. Read RFC 4443 §2.4 before editing.
 */

import { EAGAIN, ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, ENOBUFS } from "../ffi/errno.ts";
import { type IpAddress, isIpv6 } from "../wire/address.ts";
import { emitIcmpError, icmpQuoteLength, IcmpType, IcmpUnreachable } from "../wire/icmp.ts";
import {
  emitIcmpv6Error,
  icmpv6QuoteLength,
  Icmpv6Type,
  Icmpv6Unreachable,
} from "../wire/icmpv6.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { IPV6_HEADER_LEN, Ipv6NextHeader } from "../wire/ipv6.ts";
import { readU16 } from "../wire/view.ts";
import { type GuestTx, IPV4_PAYLOAD_OFFSET, IPV6_PAYLOAD_OFFSET } from "./guest_tx.ts";

/** TTL / hop limit of the errors we send (libslirp: IPDEFTTL). */
export const ICMP_ERROR_TTL = 64;

/** The destination-unreachable type of the family of `address`. */
export function unreachableType(address: IpAddress): number {
  return isIpv6(address) ? Icmpv6Type.DEST_UNREACHABLE : IcmpType.DEST_UNREACHABLE;
}

/**
 * The destination-unreachable code for a failed send or a local error (errno) towards a sender of
 * the family of `address`, or -1 when the guest should hear nothing (a full buffer, EAGAIN, a
 * local path MTU report: losses like any other). libslirp answers a failed sendto the same way.
 *
 * @example
 * ```ts
 * import { ECONNREFUSED } from "../ffi/errno.ts";
 * import { unreachableCode } from "./icmp_error_tx.ts";
 * unreachableCode(ECONNREFUSED, 0x0a000264); // 3: ICMP port unreachable
 * unreachableCode(ECONNREFUSED, 0xfd00n << 112n | 100n); // 4: ICMPv6 port unreachable
 * ```
 */
export function unreachableCode(errno: number, address: IpAddress): number {
  const v6 = isIpv6(address);
  switch (errno) {
    case ECONNREFUSED:
      return v6 ? Icmpv6Unreachable.PORT : IcmpUnreachable.PORT;
    case EHOSTUNREACH:
      return v6 ? Icmpv6Unreachable.ADDRESS : IcmpUnreachable.HOST;
    case EAGAIN:
    case ENOBUFS:
    case EMSGSIZE: // a local path MTU report: the kernel fragments the next one
      return -1;
    default: // ENETUNREACH and anything else
      return v6 ? Icmpv6Unreachable.NO_ROUTE : IcmpUnreachable.NET;
  }
}

/**
 * Whether an ICMP error the host's kernel received (IP_RECVERR/IPV6_RECVERR, SO_EE_ORIGIN_ICMP or
 * ICMP6: the family's own type and code) is relayed to the guest, and with what second header
 * word: the next-hop MTU of "fragmentation needed" (RFC 1191 §4) or "packet too big" (RFC 4443
 * §3.2), else 0. -1: not relayed (parameter problems point into the host's packet, not the
 * guest's; anything else is not an error about a datagram).
 */
export function relayedErrorRest(ipv6: boolean, type: number, code: number, info: number): number {
  if (ipv6) {
    if (type === Icmpv6Type.PACKET_TOO_BIG) return info >>> 0;
    return type === Icmpv6Type.DEST_UNREACHABLE || type === Icmpv6Type.TIME_EXCEEDED ? 0 : -1;
  }
  if (type === IcmpType.DEST_UNREACHABLE) {
    return code === IcmpUnreachable.FRAGMENTATION_NEEDED ? info & 0xffff : 0;
  }
  return type === IcmpType.TIME_EXCEEDED ? 0 : -1;
}

/**
 * How much of the guest's datagram at `bytes[offset, offset + length)` an error about it quotes:
 * IPv4, the header and 64 bits of data (RFC 792); IPv6, as much as keeps the error within 1280
 * bytes (RFC 4443 §2.4 (c)).
 */
export function quoteLengthOf(bytes: Uint8Array, offset: number, length: number): number {
  if (bytes[offset] >>> 4 === 6) {
    return icmpv6QuoteLength(Math.min(length, IPV6_HEADER_LEN + readU16(bytes, offset + 4)));
  }
  return icmpQuoteLength(bytes, offset, Math.min(length, readU16(bytes, offset + 2)));
}

/**
 * Builds an ICMP error (ICMPv6 when `to` is an IPv6 address) in `tx.frame` and sends it from
 * `from` to `to`, at the MAC `mac[macOffset..]`: `type` and `code` of that family, `rest` the
 * second header word, quoting `quote[quoteOffset, quoteOffset + quoteLength)` (which must not lie
 * in `tx.frame`).
 */
export function sendIcmpError(
  tx: GuestTx,
  mac: Uint8Array,
  macOffset: number,
  from: IpAddress,
  to: IpAddress,
  type: number,
  code: number,
  rest: number,
  quote: Uint8Array,
  quoteOffset: number,
  quoteLength: number,
): void {
  if (isIpv6(to)) {
    const n = emitIcmpv6Error(
      tx.frame,
      IPV6_PAYLOAD_OFFSET,
      type,
      code,
      rest,
      quote,
      quoteOffset,
      quoteLength,
      from as bigint,
      to,
    );
    tx.sendIpv6(mac, macOffset, from as bigint, to, Ipv6NextHeader.ICMPV6, ICMP_ERROR_TTL, 0, n);
    return;
  }
  const n = emitIcmpError(
    tx.frame,
    IPV4_PAYLOAD_OFFSET,
    type,
    code,
    rest,
    quote,
    quoteOffset,
    quoteLength,
  );
  tx.sendIpv4(mac, macOffset, from as number, to, IpProtocol.ICMP, ICMP_ERROR_TTL, 0, n);
}
