/**
 * Frame builders for stack tests: what a guest on 10.0.2.0/24 sends, built with the wire
 * emitters, plus a reader for the frames the stack sends back.
 */

import { deriveAddresses } from "../../config.ts";
import { ARP_LEN, emitArp } from "../../wire/arp.ts";
import {
  BootpOp,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  DhcpMessage,
  DhcpOption,
  DhcpOptionWalker,
  emitDhcpHeader,
  emitDhcpOptionU32,
  emitDhcpOptionU8,
} from "../../wire/dhcp.ts";
import { BROADCAST_MAC, emitEthernetHeader, EtherType } from "../../wire/ethernet.ts";
import { emitIcmpEcho, IcmpType } from "../../wire/icmp.ts";
import { emitIpv4Header, IpProtocol } from "../../wire/ipv4.ts";
import { emitUdpHeader } from "../../wire/udp.ts";
import { hex } from "../../wire/testdata/captured.ts";
import { slirpMac } from "../slirp_mac.ts";

/** The default network of slirp4netns. */
export const ADDRESSES = deriveAddresses(0x0a000200, 24);
/** The guest tap's MAC in the captured fixtures. */
export const GUEST_MAC: Uint8Array = hex("0ed418d938fb");
/** 10.0.2.100, the `--configure` address. */
export const GUEST_IP = ADDRESSES.guest;
export const GATEWAY_MAC: Uint8Array = slirpMac(ADDRESSES.gateway);
export const DNS_MAC: Uint8Array = slirpMac(ADDRESSES.dns);

/** An ARP packet in an Ethernet frame (42 bytes, unpadded like a tap delivers it). */
export function arpFrame(
  operation: number,
  senderMac: Uint8Array,
  senderIp: number,
  targetIp: number,
  dstMac: Uint8Array = BROADCAST_MAC,
): Uint8Array {
  const frame = new Uint8Array(14 + ARP_LEN);
  emitEthernetHeader(frame, 0, dstMac, 0, senderMac, 0, EtherType.ARP);
  emitArp(frame, 14, operation, senderMac, 0, senderIp, new Uint8Array(6), 0, targetIp);
  return frame;
}

/** Wraps an IPv4 payload (already filled at offset 34 of `frame`) into headers, in place. */
export function ipv4Frame(
  payload: Uint8Array,
  protocol: number,
  src: number,
  dst: number,
  dstMac: Uint8Array = GATEWAY_MAC,
  srcMac: Uint8Array = GUEST_MAC,
): Uint8Array {
  const frame = new Uint8Array(34 + payload.length);
  frame.set(payload, 34);
  emitEthernetHeader(frame, 0, dstMac, 0, srcMac, 0, EtherType.IPV4);
  emitIpv4Header(frame, 14, 20 + payload.length, 0x1234, true, 64, protocol, src, dst);
  return frame;
}

/** An ICMP echo request from the guest with `dataLength` bytes of patterned data. */
export function echoRequestFrame(
  dst: number,
  dataLength: number,
  identifier = 0x4242,
  sequence = 1,
  src = GUEST_IP,
): Uint8Array {
  const icmp = new Uint8Array(8 + dataLength);
  for (let i = 0; i < dataLength; i++) icmp[8 + i] = (i * 7 + 3) & 0xff;
  emitIcmpEcho(icmp, 0, IcmpType.ECHO_REQUEST, identifier, sequence, dataLength);
  return ipv4Frame(icmp, IpProtocol.ICMP, src, dst, dst === ADDRESSES.dns ? DNS_MAC : GATEWAY_MAC);
}

/** A UDP datagram in a frame, with a correct checksum. */
export function udpFrame(
  src: number,
  srcPort: number,
  dst: number,
  dstPort: number,
  data: Uint8Array,
  dstMac: Uint8Array = GATEWAY_MAC,
): Uint8Array {
  const udp = new Uint8Array(8 + data.length);
  udp.set(data, 8);
  emitUdpHeader(udp, 0, srcPort, dstPort, data.length, src, dst);
  return ipv4Frame(udp, IpProtocol.UDP, src, dst, dstMac);
}

/** What goes into a DHCP message from the guest. */
export interface DhcpFields {
  type?: number;
  mac?: Uint8Array;
  xid?: number;
  flags?: number;
  ciaddr?: number;
  giaddr?: number;
  requested?: number;
  serverId?: number;
  /** Raw option bytes appended before End. */
  extra?: number[];
  /** Leave out the End option. */
  noEnd?: boolean;
  /** IP source; default ciaddr, or 0.0.0.0. */
  src?: number;
  /** IP destination; default 255.255.255.255. */
  dst?: number;
  /** BOOTP length; default 300 (the BOOTP minimum udhcpc sends). */
  length?: number;
}

/** A DHCP message from the guest to port 67, as udhcpc would send it. */
export function dhcpFrame(fields: DhcpFields): Uint8Array {
  const mac = fields.mac ?? GUEST_MAC;
  const length = fields.length ?? 300;
  const bootp = new Uint8Array(Math.max(length, 400));
  let at = emitDhcpHeader(
    bootp,
    0,
    BootpOp.REQUEST,
    fields.xid ?? 0x11223344,
    fields.flags ?? 0,
    fields.ciaddr ?? 0,
    0,
    0,
    fields.giaddr ?? 0,
    mac,
    0,
  );
  if (fields.type !== undefined) {
    at = emitDhcpOptionU8(bootp, at, DhcpOption.MESSAGE_TYPE, fields.type);
  }
  if (fields.requested !== undefined) {
    at = emitDhcpOptionU32(bootp, at, DhcpOption.REQUESTED_IP, fields.requested);
  }
  if (fields.serverId !== undefined) {
    at = emitDhcpOptionU32(bootp, at, DhcpOption.SERVER_ID, fields.serverId);
  }
  for (const b of fields.extra ?? []) bootp[at++] = b;
  if (!fields.noEnd) bootp[at++] = DhcpOption.END;
  const src = fields.src ?? fields.ciaddr ?? 0;
  const dst = fields.dst ?? 0xffffffff;
  return udpFrame(
    src,
    DHCP_CLIENT_PORT,
    dst,
    DHCP_SERVER_PORT,
    bootp.subarray(0, length),
    dst === 0xffffffff ? BROADCAST_MAC : GATEWAY_MAC,
  );
}

/** A DHCP reply taken apart. */
export interface DhcpReply {
  ethDst: Uint8Array;
  ethSrc: Uint8Array;
  ipSrc: number;
  ipDst: number;
  ttl: number;
  srcPort: number;
  dstPort: number;
  bootpLength: number;
  message: DhcpMessage;
  /** Options by code. */
  options: Map<number, Uint8Array>;
  optionsEnd: string;
}

/** Takes apart a DHCP reply frame (assumes a 20-byte IP header). */
export function readDhcpReply(frame: Uint8Array): DhcpReply {
  const view = new DataView(frame.buffer, frame.byteOffset);
  const message = new DhcpMessage().wrap(frame, 42, view.getUint16(38) - 8);
  const options = new Map<number, Uint8Array>();
  const walker = new DhcpOptionWalker();
  walker.start(message);
  while (walker.next()) {
    options.set(
      walker.code,
      frame.slice(walker.valueOffset, walker.valueOffset + walker.valueLength),
    );
  }
  return {
    ethDst: frame.slice(0, 6),
    ethSrc: frame.slice(6, 12),
    ipSrc: view.getUint32(26),
    ipDst: view.getUint32(30),
    ttl: frame[22],
    srcPort: view.getUint16(34),
    dstPort: view.getUint16(36),
    bootpLength: view.getUint16(38) - 8,
    message,
    options,
    optionsEnd: walker.status,
  };
}

/** The 32-bit value of a 4-byte option. */
export function u32(value: Uint8Array | undefined): number {
  if (value === undefined || value.length !== 4) return -1;
  return ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
}

/** A MAC for client number `n` (02:00:00:00:00:n). */
export function clientMac(n: number): Uint8Array {
  return new Uint8Array([0x02, 0, 0, 0, (n >>> 8) & 0xff, n & 0xff]);
}
