/**
 * Test support for the TCP relay: a guest that sends template segments (`send`), checks what the
 * relay sends back (`expect`, `expectNothing`), fake host sockets with controllable connect
 * results, buffers and errors, and a fake clock (`advance`). Nothing here touches the kernel.
 */

import assert from "node:assert/strict";
import { deriveAddresses } from "../../config.ts";
import { type IpAddress, parseIpv6 } from "../../wire/address.ts";
import { internetChecksum, pseudoHeaderSum } from "../../wire/checksum.ts";
import { emitEthernetHeader, ETHERNET_HEADER_LEN, EtherType } from "../../wire/ethernet.ts";
import { IcmpMessage } from "../../wire/icmp.ts";
import { Icmpv6Message } from "../../wire/icmpv6.ts";
import { IpPacket } from "../../wire/ip.ts";
import { emitIpv4Header, IpProtocol, Ipv4Packet } from "../../wire/ipv4.ts";
import { emitIpv6Header, IPV6_HEADER_LEN, Ipv6NextHeader } from "../../wire/ipv6.ts";
import {
  emitTcpHeader,
  emitTcpMssOption,
  emitTcpWindowScaleOption,
  parseTcpOptions,
  TCP,
  TCP_HEADER_LEN,
  TcpFlag,
  TcpOptions,
  TcpSegment,
} from "../../wire/tcp.ts";
import { writeU16 } from "../../wire/view.ts";
import { type CounterName, Counters } from "../counters.ts";
import type { TcpOffloadLink } from "../guest_link.ts";
import { MemoryLink } from "../memory_link.ts";
import { slirpMac } from "../slirp_mac.ts";
import { Errno, HostEvent, type HostSockets } from "./host_sockets.ts";
import { TcpRelay, type TcpTunables } from "./relay.ts";
import { tcpRoutes } from "./routes.ts";
import { seqAdd } from "./seq.ts";

/** The network, with IPv6 on (`-6`). */
export const ADDRESSES = deriveAddresses(0x0a000200, 24, true);
export const GUEST_ADDR = 0x0a000264; // 10.0.2.100
export const GUEST_PORT = 49152;
export const GUEST_MAC = new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
/** A test host (RFC 5737 TEST-NET-2): routed as itself. */
export const PEER_ADDR = 0xc6336402; // 198.51.100.2
export const PEER_PORT = 80;
export const GUEST_ISN = 1000;
export const MTU = 1500;
export const MSS = MTU - 40;
/** The guest's SLAAC address, and a test host (RFC 3849 documentation prefix). */
export const GUEST_ADDR6 = parseIpv6("fd00::5054:ff:fe12:3456")!;
export const PEER_ADDR6 = parseIpv6("2001:db8::2")!;
export const MSS6 = MTU - 60;

export const { FIN, SYN, RST, PSH, ACK } = TcpFlag;

/** A segment from the guest; omitted fields come from the template. */
export interface GuestSegment {
  /** Either family: IPv6 (bigints) builds an IPv6 packet. */
  src: IpAddress;
  dst: IpAddress;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number | null;
  wscale: number | null;
  payload: Uint8Array;
  /** Raw option bytes (a multiple of 4) instead of mss/wscale. */
  options: Uint8Array | null;
  /** Changes the frame after it was built (bad checksums, bad offsets). */
  corrupt: ((frame: Uint8Array, tcpOffset: number) => void) | null;
}

/** A TCP segment the relay sent. */
export interface SentSegment {
  src: IpAddress;
  dst: IpAddress;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number;
  wscale: number;
  payload: Uint8Array;
}

/** An ICMP (or ICMPv6) message the relay sent. */
export interface SentIcmp {
  src: IpAddress;
  dst: IpAddress;
  type: number;
  code: number;
  /** The quoted datagram (IP header + 8 bytes). */
  quote: Uint8Array;
}

/** One fake host socket. */
export class FakeSocket {
  readonly handle: number;
  readonly address: IpAddress;
  readonly port: number;
  /** What the relay's events for this socket carry (a connection id). */
  token: number;
  /** 0 once connected; an errno to fail the connect with. */
  connectError = 0;
  connected = false;
  /** Bytes the guest sent that reached the host. */
  received: number[] = [];
  /** How many more bytes the host side accepts before send() says EAGAIN. */
  sendRoom = Infinity;
  /** Bytes the host has for the guest. */
  pending: number[] = [];
  /** The host sent its FIN (recv returns 0 once `pending` is empty). */
  eof = false;
  /** An error send/recv report (e.g. ECONNRESET). */
  error = 0;
  shutWrite = false;
  closed: "no" | "close" | "reset" = "no";
  watchRead = false;
  watchWrite = false;

  constructor(handle: number, address: IpAddress, port: number, token: number) {
    this.handle = handle;
    this.address = address;
    this.port = port;
    this.token = token;
  }

  /** Queues bytes the host has for the guest. */
  queue(bytes: Uint8Array): void {
    for (const b of bytes) this.pending.push(b);
  }

  /** What the guest sent, as text. */
  get receivedText(): string {
    return new TextDecoder().decode(Uint8Array.from(this.received));
  }
}

/** In-memory `HostSockets`. */
export class FakeSockets implements HostSockets {
  readonly all: FakeSocket[] = [];
  /** Connects to these addresses fail at once with the errno. */
  readonly failAtOnce = new Map<IpAddress, number>();
  /** Handles taken over with `adopt` (port forwards' accepted clients). */
  readonly adopted: number[] = [];
  #nextHandle = 100;

  /** The most recent socket. */
  get last(): FakeSocket {
    const socket = this.all.at(-1);
    assert.ok(socket, "no host socket was opened");
    return socket;
  }

  /** Sockets not closed yet. */
  get open(): FakeSocket[] {
    return this.all.filter((s) => s.closed === "no");
  }

  #get(handle: number): FakeSocket {
    const socket = this.all.find((s) => s.handle === handle);
    assert.ok(socket, `no socket ${handle}`);
    assert.equal(socket.closed, "no", `socket ${handle} used after close`);
    return socket;
  }

  connect(address: IpAddress, port: number, token: number): number {
    const fail = this.failAtOnce.get(address);
    if (fail !== undefined) return -fail;
    const socket = new FakeSocket(this.#nextHandle++, address, port, token);
    this.all.push(socket);
    return socket.handle;
  }

  /**
   * A client accepted elsewhere (a port forward's), already connected: its events carry no token
   * until the relay took it over (see `Harness.openToGuest`).
   */
  accepted(address: IpAddress, port: number): FakeSocket {
    const socket = new FakeSocket(this.#nextHandle++, address, port, -1);
    socket.connected = true;
    this.all.push(socket);
    return socket;
  }

  adopt(handle: number): void {
    this.#get(handle);
    this.adopted.push(handle);
  }

  connectResult(handle: number): number {
    const socket = this.#get(handle);
    return socket.connectError !== 0 ? socket.connectError : socket.error;
  }

  send(handle: number, bytes: Uint8Array, offset: number, length: number): number {
    const socket = this.#get(handle);
    assert.ok(!socket.shutWrite, "send after shutdown(SHUT_WR)");
    if (socket.error) return -socket.error;
    const n = Math.min(length, socket.sendRoom);
    if (n <= 0) return -Errno.EAGAIN;
    for (let i = 0; i < n; i++) socket.received.push(bytes[offset + i]);
    socket.sendRoom -= n;
    return n;
  }

  recv(handle: number, bytes: Uint8Array, offset: number, length: number): number {
    const socket = this.#get(handle);
    if (socket.pending.length > 0) {
      const chunk = socket.pending.splice(0, length);
      bytes.set(chunk, offset);
      return chunk.length;
    }
    if (socket.error) return -socket.error;
    return socket.eof ? 0 : -Errno.EAGAIN;
  }

  shutdownWrite(handle: number): void {
    this.#get(handle).shutWrite = true;
  }

  close(handle: number): void {
    this.#get(handle).closed = "close";
  }

  reset(handle: number): void {
    this.#get(handle).closed = "reset";
  }

  watch(handle: number, _token: number, readable: boolean, writable: boolean): void {
    const socket = this.#get(handle);
    socket.watchRead = readable;
    socket.watchWrite = writable;
  }
}

/** A TCP frame as the relay handed it to an offload link (checksum field: pseudo-header sum). */
export interface OffloadedFrame {
  frame: Uint8Array;
  tcpOffset: number;
  segmentSize: number;
}

/**
 * A `MemoryLink` with the tap's TCP offload (`TcpOffloadLink`): `offloaded` keeps each TCP frame
 * as handed over, and `frames` gets it as the guest's kernel sees it, with the checksum finished
 * (not cut into segments), so that `Harness.expect` works unchanged.
 */
export class OffloadMemoryLink extends MemoryLink implements TcpOffloadLink {
  readonly offloaded: OffloadedFrame[] = [];

  sendTcpFrame(frame: Uint8Array, tcpOffset: number, segmentSize: number): void {
    this.offloaded.push({ frame: frame.slice(), tcpOffset, segmentSize });
    // The field holds the pseudo-header sum, so the sum over the segment is the whole checksum.
    const finished = frame.slice();
    const checksum = internetChecksum(finished, tcpOffset, finished.length - tcpOffset);
    writeU16(finished, tcpOffset + TCP.CHECKSUM, checksum);
    this.frames.push(finished);
  }
}

/** The relay with a guest on one side, fake sockets on the other, and a fake clock. */
export class Harness {
  now = 1_000_000;
  readonly link: MemoryLink;
  readonly sockets = new FakeSockets();
  readonly counters = new Counters();
  readonly warnings: string[] = [];
  readonly relay: TcpRelay;
  /** The template for `send`. */
  template: GuestSegment = {
    src: GUEST_ADDR,
    dst: PEER_ADDR,
    srcPort: GUEST_PORT,
    dstPort: PEER_PORT,
    seq: GUEST_ISN,
    ack: 0,
    flags: ACK,
    window: 65535,
    mss: null,
    wscale: null,
    payload: new Uint8Array(0),
    options: null,
    corrupt: null,
  };
  /** Our ISS, from the SYN-ACK (see `establish`). */
  iss = 0;
  /** The window scale our SYN-ACK offered (`establish`). */
  ourWscale = 0;
  /** Nameservers for routes to 10.0.2.3:53. */
  nameservers: IpAddress[] = [0x7f000035];
  disableHostLoopback = false;
  readonly #ip = new IpPacket();
  readonly #ipv4 = new Ipv4Packet();
  readonly #tcp = new TcpSegment();
  readonly #icmp = new IcmpMessage();
  readonly #icmpv6 = new Icmpv6Message();
  readonly #options = new TcpOptions();

  /**
   * `options.link`: e.g. an `OffloadMemoryLink` (default: a plain `MemoryLink`); `delayAcks` as
   * `TcpRelayOptions` has it (default off).
   */
  constructor(
    tunables: Partial<TcpTunables> = {},
    options: { mtu?: number; link?: MemoryLink; delayAcks?: boolean } = {},
  ) {
    this.link = options.link ?? new MemoryLink();
    const route = tcpRoutes({
      addresses: ADDRESSES,
      disableHostLoopback: false,
      disableDns: false,
      nameservers: () => this.nameservers,
    });
    let state = 0x12345678;
    this.relay = new TcpRelay({
      addresses: ADDRESSES,
      mtu: options.mtu ?? MTU,
      link: this.link,
      sockets: this.sockets,
      counters: this.counters,
      route: (dst, port, now) =>
        this.disableHostLoopback && (dst === ADDRESSES.gateway || dst === ADDRESSES.ipv6!.gateway)
          ? { kind: "unreachable" }
          : route(dst, port, now),
      now: this.now,
      random: () => (state = (state * 1103515245 + 12345) >>> 0),
      warn: (message) => this.warnings.push(message),
      delayAcks: options.delayAcks,
      tunables,
    });
  }

  /** Builds the frame of a guest segment. */
  frame(fields: Partial<GuestSegment> = {}): Uint8Array {
    const s = { ...this.template, ...fields };
    let options = s.options;
    if (options === null) {
      const bytes = new Uint8Array(8);
      let n = 0;
      if (s.mss !== null) n = emitTcpMssOption(bytes, n, s.mss);
      if (s.wscale !== null) n = emitTcpWindowScaleOption(bytes, n, s.wscale);
      options = bytes.subarray(0, n);
    }
    const tcpLength = TCP_HEADER_LEN + options.length + s.payload.length;
    const ipv6 = typeof s.src === "bigint";
    const at = ETHERNET_HEADER_LEN + (ipv6 ? IPV6_HEADER_LEN : 20);
    const frame = new Uint8Array(at + tcpLength);
    const etherType = ipv6 ? EtherType.IPV6 : EtherType.IPV4;
    emitEthernetHeader(frame, 0, slirpMac(ADDRESSES.gateway), 0, GUEST_MAC, 0, etherType);
    if (ipv6) {
      emitIpv6Header(
        frame,
        14,
        tcpLength,
        Ipv6NextHeader.TCP,
        64,
        s.src as bigint,
        s.dst as bigint,
      );
    } else {
      emitIpv4Header(
        frame,
        14,
        20 + tcpLength,
        1,
        true,
        64,
        IpProtocol.TCP,
        s.src as number,
        s.dst as number,
      );
    }
    emitTcpHeader(
      frame,
      at,
      s.srcPort,
      s.dstPort,
      s.seq >>> 0,
      s.ack >>> 0,
      s.flags,
      s.window,
      options.length,
    );
    frame.set(options, at + TCP_HEADER_LEN);
    frame.set(s.payload, at + TCP_HEADER_LEN + options.length);
    new TcpSegment().wrap(frame, at, tcpLength).fillChecksum(s.src, s.dst);
    s.corrupt?.(frame, at);
    return frame;
  }

  /**
   * The guest sends one segment; the relay handles it and ends the batch. `checksumPartial`: the
   * tap says the checksum was left partial (virtio-net NEEDS_CSUM).
   */
  send(fields: Partial<GuestSegment> = {}, checksumPartial = false): void {
    this.relay.handleFrame(this.frame(fields), this.now, checksumPartial);
    this.relay.flush(this.now);
  }

  /** Several segments in one batch (one flush at the end). */
  sendBatch(...segments: Partial<GuestSegment>[]): void {
    for (const fields of segments) this.relay.handleFrame(this.frame(fields), this.now);
    this.relay.flush(this.now);
  }

  /** The clock moves; due timers fire. */
  advance(ms: number): void {
    this.now += ms;
    this.relay.advanceTimers(this.now);
    this.relay.flush(this.now);
  }

  /** Runs the clock forward in steps until `until` or `ms` elapsed. */
  advanceBy(ms: number, step = 10): void {
    for (let t = 0; t < ms; t += step) this.advance(Math.min(step, ms - t));
  }

  /** A readiness event for a fake socket, then the end of the batch. */
  hostEvent(socket: FakeSocket, events: number): void {
    this.relay.hostEvent(socket.token, events, this.now);
    this.relay.flush(this.now);
  }

  /** The host connect of `socket` completes (0) or fails (errno). */
  connectDone(socket: FakeSocket, errno = 0): void {
    socket.connectError = errno;
    socket.connected = errno === 0;
    this.hostEvent(socket, errno === 0 ? HostEvent.WRITABLE : HostEvent.ERROR | HostEvent.HANGUP);
  }

  /**
   * The host sends bytes (and optionally its FIN); the relay is told the socket is readable, again
   * and again while it still is and the relay still asks (epoll is level-triggered).
   */
  hostSends(socket: FakeSocket, data: Uint8Array | string, eof = false): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    socket.queue(bytes);
    if (eof) socket.eof = true;
    for (let turn = 0; turn < 1000; turn++) {
      this.hostEvent(socket, HostEvent.READABLE);
      const readable = socket.pending.length > 0 || socket.eof;
      if (socket.closed !== "no" || !socket.watchRead || !readable) break;
    }
  }

  /** Every frame sent so far, parsed. */
  takeAll(): (SentSegment | SentIcmp)[] {
    return this.link.take().map((frame) => this.#parse(frame));
  }

  #parse(frame: Uint8Array): SentSegment | SentIcmp {
    const ip = this.#ip;
    assert.ok(ip.read(frame, 14, frame.length - 14), "the relay sent a bad IP header");
    if (!ip.ipv6) {
      assert.ok(
        this.#ipv4.wrap(frame, 14, frame.length - 14).verifyChecksum(),
        "bad IPv4 checksum",
      );
    }
    assert.equal(frame[12] << 8 | frame[13], ip.ipv6 ? EtherType.IPV6 : EtherType.IPV4);
    assert.deepEqual(frame.subarray(0, 6), GUEST_MAC, "not addressed to the guest's MAC");
    if (ip.ipv6 && ip.protocol === Ipv6NextHeader.ICMPV6) {
      const icmp = this.#icmpv6.wrap(frame, ip.payloadOffset, ip.payloadLength);
      assert.ok(
        icmp.verifyChecksum(
          pseudoHeaderSum(ip.src, ip.dst, Ipv6NextHeader.ICMPV6, ip.payloadLength),
        ),
        "bad ICMPv6 checksum",
      );
      return {
        src: ip.src,
        dst: ip.dst,
        type: icmp.type,
        code: icmp.code,
        quote: frame.slice(ip.payloadOffset + 8, ip.payloadOffset + ip.payloadLength),
      };
    }
    if (ip.protocol === IpProtocol.ICMP) {
      const icmp = this.#icmp.wrap(frame, ip.payloadOffset, ip.payloadLength);
      assert.ok(icmp.verifyChecksum(), "bad ICMP checksum");
      return {
        src: ip.src,
        dst: ip.dst,
        type: icmp.type,
        code: icmp.code,
        quote: frame.slice(icmp.dataOffset, icmp.offset + icmp.length),
      };
    }
    assert.equal(ip.protocol, IpProtocol.TCP);
    assert.ok(ip.totalLength <= MTU + 100000, "too long");
    const tcp = this.#tcp.wrap(frame, ip.payloadOffset, ip.payloadLength);
    assert.equal(tcp.check(), "ok");
    assert.ok(tcp.verifyChecksum(ip.src, ip.dst), "bad TCP checksum");
    assert.ok(parseTcpOptions(tcp, this.#options));
    return {
      src: ip.src,
      dst: ip.dst,
      srcPort: tcp.srcPort,
      dstPort: tcp.dstPort,
      seq: tcp.seq,
      ack: tcp.ack,
      flags: tcp.flags,
      window: tcp.window,
      mss: this.#options.mss,
      wscale: this.#options.windowScale,
      payload: frame.slice(tcp.payloadOffset, tcp.offset + tcp.length),
    };
  }

  /** Takes the next TCP segment the relay sent and checks the given fields. */
  expect(fields: Partial<SentSegment> & { payloadText?: string; payloadLength?: number } = {}) {
    const frames = this.link.frames;
    assert.ok(frames.length > 0, `expected a segment ${show(fields)}, got nothing`);
    const sent = this.#parse(frames.shift()!);
    assert.ok("seq" in sent, `expected a TCP segment, got ICMP ${show(sent)}`);
    const { payloadText, payloadLength, ...rest } = fields;
    for (const [key, value] of Object.entries(rest)) {
      const actual: unknown = (sent as SentSegment)[key as keyof SentSegment];
      assert.deepEqual(
        actual,
        key === "seq" || key === "ack" ? (value as number) >>> 0 : value,
        `${key}: got ${key === "flags" ? flagText(actual as number) : actual}, expected ${
          key === "flags" ? flagText(value as number) : value
        } in ${describe(sent)}`,
      );
    }
    if (payloadText !== undefined) {
      assert.equal(new TextDecoder().decode(sent.payload), payloadText, describe(sent));
    }
    if (payloadLength !== undefined) {
      assert.equal(sent.payload.length, payloadLength, describe(sent));
    }
    return sent;
  }

  /** Takes the next frame, which must be ICMP. */
  expectIcmp(fields: Partial<Omit<SentIcmp, "quote">>): SentIcmp {
    const frames = this.link.frames;
    assert.ok(frames.length > 0, "expected ICMP, got nothing");
    const sent = this.#parse(frames.shift()!);
    if ("seq" in sent) {
      throw new assert.AssertionError({ message: `expected ICMP, got ${describe(sent)}` });
    }
    for (const [key, value] of Object.entries(fields)) {
      assert.equal(sent[key as keyof SentIcmp], value, `${key} in ${show(sent)}`);
    }
    return sent;
  }

  /** Nothing more was sent. */
  expectNothing(): void {
    const frames = this.takeAll();
    assert.equal(
      frames.length,
      0,
      `expected nothing, got ${frames.map((f) => "seq" in f ? describe(f) : show(f)).join("; ")}`,
    );
  }

  /** A counter's value. */
  count(name: CounterName): number {
    return this.counters.get(name);
  }

  /**
   * A port forward accepted a client that the guest sees as `peerAddr:peerPort`: `openToGuest`
   * towards GUEST_ADDR:`guestPort` with a new fake socket, then the end of the batch. Returns the
   * socket, or null when the relay refused it (the caller would still own and reset it).
   */
  openToGuest(
    peerAddr: IpAddress,
    peerPort: number,
    guestPort: number,
    guestAddr: IpAddress = GUEST_ADDR,
  ): FakeSocket | null {
    const socket = this.sockets.accepted(peerAddr, peerPort);
    const ok = this.relay.openToGuest(
      socket.handle,
      peerAddr,
      peerPort,
      guestAddr,
      guestPort,
      GUEST_MAC,
      0,
      this.now,
    );
    if (!ok) return null;
    const conn = this.relay.find(guestAddr, guestPort, peerAddr, peerPort);
    assert.ok(conn, "openToGuest returned true without a connection");
    socket.token = conn.id;
    this.relay.flush(this.now);
    return socket;
  }

  /**
   * Opens a connection through the handshake: SYN (with the given options), host connect done,
   * SYN-ACK checked, ACK. Returns the host socket; `iss` is our ISS afterwards.
   */
  establish(
    syn: Partial<GuestSegment> = { mss: MSS, wscale: 7 },
    ack: Partial<GuestSegment> = {},
  ): FakeSocket {
    this.send({ flags: SYN, seq: GUEST_ISN, ...syn });
    this.expectNothing();
    const socket = this.sockets.last;
    this.connectDone(socket);
    const synAck = this.expect({ flags: SYN | ACK, ack: GUEST_ISN + 1 });
    this.iss = synAck.seq;
    this.ourWscale = Math.max(0, synAck.wscale ?? 0);
    this.send({ seq: GUEST_ISN + 1, ack: seqAdd(this.iss, 1), ...ack });
    this.expectNothing();
    return socket;
  }
}

/** Bytes 0..n-1 modulo 251 (a pattern that shows reordering). */
export function pattern(n: number, from = 0): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (from + i) % 251;
  return bytes;
}

export function flagText(flags: number): string {
  const names: [number, string][] = [
    [SYN, "SYN"],
    [FIN, "FIN"],
    [RST, "RST"],
    [PSH, "PSH"],
    [ACK, "ACK"],
  ];
  return names.filter(([bit]) => flags & bit).map(([, name]) => name).join("|") || "none";
}

function describe(s: SentSegment): string {
  return `[${flagText(s.flags)} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payload.length}]`;
}

/** JSON text of test values, with bigints (IPv6 addresses) in hex. */
function show(value: unknown): string {
  return JSON.stringify(value, (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v);
}
