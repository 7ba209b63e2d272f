/**
 * The TCP relay: one connection per guest 4-tuple, each the guest-facing half of a TCP connection
 * (RFC 9293) glued to a host kernel socket. The Theory of Operation is in `mod.ts`; read it, and
 * RFC 9293 §3.10, RFC 5961, RFC 6298 and RFC 7323 §2, before editing. No Deno APIs: the clock,
 * the host sockets, the guest link and the random source are injected.
 */

import type { Addresses } from "../../config.ts";
import {
  finishChecksum,
  foldSum,
  pseudoHeaderSum,
  pseudoHeaderSumAt,
  sumBytes,
} from "../../wire/checksum.ts";
import { ETHERNET, ETHERNET_HEADER_LEN, MAC_LEN } from "../../wire/ethernet.ts";
import type { IpAddress } from "../../wire/address.ts";
import { IpPacket } from "../../wire/ip.ts";
import { IpProtocol } from "../../wire/ipv4.ts";
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
import { copyBytes, writeU16 } from "../../wire/view.ts";
import { C, type Counters } from "../counters.ts";
import type { GuestLink } from "../guest_link.ts";
import { GuestTx, IPV4_MAX_PAYLOAD, payloadOffsetOf } from "../guest_tx.ts";
import {
  quoteLengthOf,
  sendIcmpError,
  unreachableCode,
  unreachableType,
} from "../icmp_error_tx.ts";
import { Assembler } from "./assembler.ts";
import { ByteBudget, ByteRing } from "./byte_ring.ts";
import { Errno, HostEvent, type HostSockets } from "./host_sockets.ts";
import type { TcpRoute } from "./routes.ts";
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from "./seq.ts";
import { type TimerEntry, TimerWheel } from "./timer_wheel.ts";

/** Tunables of the relay; every one has a default in {@link TCP_DEFAULTS}. */
export interface TcpTunables {
  /** Connections in the table, all states; further SYNs are dropped (one log line). */
  maxConnections: number;
  /** Connections not yet established (host connect pending or SYN-ACK unanswered). */
  maxHalfOpen: number;
  /** Host→guest queue (data read from the host, not yet acknowledged by the guest). */
  sendQueueLimit: number;
  /** Guest→host queue: data acknowledged to the guest, not yet written to the host. Also the
   * largest window advertised to the guest. */
  recvQueueLimit: number;
  /**
   * The window advertised to the guest is at most this many full segments, so that a burst of a
   * whole window fits the guest's tap queue (txqueuelen 1000 by default): the tap drops what does
   * not fit, and the guest then waits for its 200 ms retransmission timeout. Once the guest sends
   * a segment longer than the MSS (segmentation offload: each tap packet is then a super-frame),
   * the window may grow to `recvQueueLimit`.
   */
  maxWindowSegments: number;
  /** First allocation of each queue; it doubles on demand up to its limit. */
  initialQueue: number;
  /** Queue memory all connections may hold beyond their first allocations. */
  queueBudget: number;
  /** Time for the host connect before the guest gets an ICMP error. */
  connectTimeoutMs: number;
  /** Time for one DNS upstream when more are left to try. */
  dnsConnectTimeoutMs: number;
  /** Unacknowledged data (or an unanswered probe) older than this aborts the connection. */
  userTimeoutMs: number;
  /** SYN-ACK transmissions before giving up on a guest that never completes the handshake. */
  synAckRetries: number;
  /** Idle time before the first keep-alive probe to the guest. */
  keepaliveIdleMs: number;
  keepaliveIntervalMs: number;
  /** Unanswered probes before the connection is aborted. */
  keepaliveProbes: number;
  /** How long a connection stays in TIME-WAIT after both FINs. */
  timeWaitMs: number;
  /** Retransmission timeout bounds and initial value (RFC 6298 §2). */
  rtoInitialMs: number;
  rtoMinMs: number;
  rtoMaxMs: number;
  /** RFC 5961 §7: challenge ACKs per second, all connections together. */
  challengeAcksPerSecond: number;
}

/**
 * The defaults. The memory bound per connection is `sendQueueLimit + recvQueueLimit` plus about
 * 1 KiB of state; all queues together stay below `queueBudget` plus `2 × initialQueue` per
 * connection.
 */
export const TCP_DEFAULTS: Readonly<TcpTunables> = Object.freeze({
  maxConnections: 8192,
  maxHalfOpen: 1024,
  sendQueueLimit: 2 << 20,
  recvQueueLimit: 2 << 20,
  maxWindowSegments: 512,
  initialQueue: 32 << 10,
  queueBudget: 512 << 20,
  connectTimeoutMs: 30_000,
  dnsConnectTimeoutMs: 5_000,
  userTimeoutMs: 30_000,
  synAckRetries: 5,
  keepaliveIdleMs: 60_000,
  keepaliveIntervalMs: 10_000,
  keepaliveProbes: 3,
  timeWaitMs: 2_000,
  rtoInitialMs: 1_000,
  rtoMinMs: 200,
  rtoMaxMs: 60_000,
  challengeAcksPerSecond: 1_000,
});

/** Everything the relay is built from. */
export interface TcpRelayOptions {
  addresses: Addresses;
  mtu: number;
  /** Frames for the guest (the tap). */
  link: GuestLink;
  sockets: HostSockets;
  counters: Counters;
  /** Where a new connection goes (see routes.ts). */
  route(dst: IpAddress, port: number, now: number): TcpRoute;
  /** The clock at creation (ms, monotonic). */
  now: number;
  /** A uniformly random u32 (initial sequence numbers); crypto-seeded by default. */
  random?: () => number;
  /** One line for conditions an operator must see (the table full); no-op by default. */
  warn?: (message: string) => void;
  /**
   * The one's complement sum (the contract of `sumBytes` in wire/checksum.ts, the default); the
   * worker passes the shim's C version, several times faster on 64 KiB segments.
   */
  checksum?: (bytes: Uint8Array, offset: number, length: number, initial: number) => number;
  /**
   * Delayed acknowledgments (RFC 9293 §3.8.6.3), for at most the caller's busy-poll window: a pure
   * ACK for less than two full segments of in-order data, to a guest that still has at least a
   * segment of window, is held back by `flush` until `sendDelayedAcks`, which the caller's loop
   * calls before it sleeps, and once the oldest has waited a little (`delayedSince`), so that a
   * loop kept busy by other connections holds none back for long. A request answered by the host meanwhile (a round trip on loopback
   * takes tens of µs) carries the ACK with its answer: one write to the tap, and one wake-up of
   * the guest, fewer per round trip. Off by default (every ACK goes at `flush`).
   */
  delayAcks?: boolean;
  tunables?: Partial<TcpTunables>;
}

/**
 * The guest-facing state of a connection (RFC 9293 §3.3.2 names, seen from the relay, which
 * answers the guest's SYN) plus CONNECTING, before the host connect completed.
 */
export const TcpState = {
  /** The guest's SYN is held while the host socket connects; nothing sent to the guest yet. */
  CONNECTING: 0,
  SYN_RECEIVED: 1,
  ESTABLISHED: 2,
  /** The guest sent FIN; host data still flows to it. */
  CLOSE_WAIT: 3,
  /** Both FINs; ours is not acknowledged yet. */
  LAST_ACK: 4,
  /** The host closed first: our FIN is sent, the guest still sends. */
  FIN_WAIT_1: 5,
  FIN_WAIT_2: 6,
  CLOSING: 7,
  TIME_WAIT: 8,
  /** The guest side is finished; only the host socket may still be draining. */
  CLOSED: 9,
  /**
   * A port forward's connection: a host client was accepted, our SYN went to the guest and its
   * SYN-ACK is awaited (RFC 9293 SYN-SENT, the relay being the active side).
   */
  SYN_SENT: 10,
} as const;

/** State names, for tests and debug output. */
export const TCP_STATE_NAMES = [
  "CONNECTING",
  "SYN_RECEIVED",
  "ESTABLISHED",
  "CLOSE_WAIT",
  "LAST_ACK",
  "FIN_WAIT_1",
  "FIN_WAIT_2",
  "CLOSING",
  "TIME_WAIT",
  "CLOSED",
  "SYN_SENT",
] as const;

/** Most data in one offloaded segment (the guest's kernel cuts it): a 64 KiB IPv4 datagram. */
const MAX_OFFLOADED_DATA = IPV4_MAX_PAYLOAD - TCP_HEADER_LEN;
/** RFC 9293 §3.7.1: the MSS assumed when the SYN carries none (IPv4). */
const DEFAULT_GUEST_MSS = 536;
/** The same for IPv6: the minimum MTU less 60 (RFC 8200 §8.3). */
const DEFAULT_GUEST_MSS6 = 1220;
/** Bytes of IPv6 and TCP headers: an IPv6 MSS is the MTU less these (IPv4: 40). */
const HEADERS6 = 60;
/** The smallest MSS we honour: below it, a guest could make us send one byte per frame. */
const MIN_GUEST_MSS = 64;
/** TTL of segments to the guest (libslirp IPDEFTTL). */
const TTL = 64;
/** Fast retransmit after this many duplicate ACKs (RFC 5681 §3.2). */
const DUP_ACK_THRESHOLD = 3;
/** In-order guest data of at least this size goes straight from the frame to an idle socket. */
const DIRECT_SEND_MIN = 16 << 10;
/**
 * Connection ids are epoll tokens from FIRST_ID to {@link LAST_CONNECTION_ID}; the worker gives
 * the tokens outside that range to its own fds (eventfds, the tap).
 */
const FIRST_ID = 1;
/** The largest connection id (see FIRST_ID). */
export const LAST_CONNECTION_ID = 0xffff_ff00;

/** One connection. Fields are public to the relay and its tests; nothing else touches them. */
export class TcpConnection implements TimerEntry {
  // Timer wheel links.
  timerDeadline = Infinity;
  timerSlot = -1;
  timerPrev: TimerEntry | null = null;
  timerNext: TimerEntry | null = null;

  readonly id: number;
  state: number = TcpState.CONNECTING;
  /** The guest's address: a number (IPv4) or a bigint (IPv6); `peerAddr` has the same family. */
  readonly guestAddr: IpAddress;
  readonly guestPort: number;
  /** The address and port the guest connects to (the source of our segments). */
  readonly peerAddr: IpAddress;
  readonly peerPort: number;
  readonly guestMac = new Uint8Array(MAC_LEN);

  // The host socket.
  handle = -1;
  watchRead = false;
  watchWrite = false;
  /** The host socket refused data (EAGAIN): wait for WRITABLE. */
  hostBlocked = false;
  /** The host sent its FIN (recv returned 0). */
  hostEof = false;
  /** We sent shutdown(SHUT_WR) after the guest's FIN. */
  hostWriteShut = false;
  targets: readonly IpAddress[] = [];
  targetIndex = 0;
  /** The guest's SYN as ICMP quotes it (IP header + 8 bytes), until established. */
  synQuote: Uint8Array | null = null;

  // Towards the guest (RFC 9293 §3.3.1 send sequence variables).
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence number sent (SND.NXT before a go-back-N retransmission). */
  sndMax = 0;
  /** The guest's window in bytes (scaled). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /** Our MSS: the MTU less the IPv4 (40) or IPv6 (60) and TCP headers. */
  readonly localMss: number;
  /**
   * The pseudo-header sum of our segments without their length (addresses and protocol, RFC 9293
   * §3.1, RFC 8200 §8.1): a segment's is `foldSum(pseudoSum + tcpLength)`.
   */
  readonly pseudoSum: number;
  /** Segment size towards the guest: min(guest MSS, `localMss`). */
  sendMss: number;
  /** Window scale shifts (RFC 7323): the guest's, applied to its windows, and ours. */
  sndShift = 0;
  rcvShift = 0;
  wscaleOk = false;
  /** Congestion window after a timeout (segments sent before an ACK), Infinity otherwise. */
  cwnd = Infinity;
  dupAcks = 0;
  /** Host data not yet acknowledged by the guest; its first byte has sequence number `dataSeq`. */
  readonly sendQueue: ByteRing;
  dataSeq = 0;
  /** Our FIN: sent at `finSeq` (the end of the data) once the host's EOF was read. */
  finSent = false;
  finSeq = 0;

  // From the guest (receive sequence variables).
  irs = 0;
  rcvNxt = 0;
  /** Sequence number of the first queued byte not yet written to the host. */
  hostSeq = 0;
  /** Right edge of the window last advertised (RFC 9293 §3.8.6.2.2: it never moves left). */
  advRight = 0;
  /** RCV.NXT as last acknowledged to the guest (the ACK field of our last segment). */
  ackedNxt = 0;
  readonly recvQueue: ByteRing;
  /** The largest window advertised: the queue limit, capped (see `maxWindowSegments`). */
  recvWindowLimit = 0;
  readonly ooo = new Assembler();
  /** Whether the guest's FIN was seen (possibly ahead of missing data), and its sequence number. */
  guestFinSeen = false;
  guestFinSeq = 0;
  /** The guest's FIN was reached in order. */
  guestFinReceived = false;

  // Timers (RFC 6298), keep-alive and housekeeping.
  /** RTO from the RTT samples (RFC 6298 §2), and with the back-off applied (`rtoBase << backoff`,
   * capped): back-off ends with the next ACK of new data, as in BSD stacks. */
  rtoBase: number;
  rto: number;
  srtt = -1;
  rttvar = 0;
  /** Karn: the segment being timed ends at `rttSeq`, sent at `rttStart` (-1: none). */
  rttSeq = 0;
  rttStart = -1;
  backoff = 0;
  /** Retransmission (or persist) deadline; Infinity when nothing is outstanding. */
  rtxAt = Infinity;
  /** When the guest last acknowledged new data (or when data became outstanding). */
  progressAt = 0;
  /** When the last segment came from the guest. */
  lastGuestActivity = 0;
  keepalivesSent = 0;
  /** CONNECTING: connect deadline; TIME_WAIT: end; CLOSED: host drain deadline. */
  stateDeadline = Infinity;

  // Per batch.
  ackPending = false;
  /** The pending ACK waits for `sendDelayedAcks` (see `TcpRelayOptions.delayAcks`). */
  ackDelayed = false;
  dirty = false;
  removed = false;

  // For get_stats (src/api/stats.ts).
  /** When the connection was created (the clock of `now`). */
  createdAt = 0;
  /** The API id of the port forward whose client this is; 0 for the guest's own connections. */
  forwardId = 0;
  /** Data bytes from the guest written to the host socket, and read from it for the guest. */
  bytesFromGuest = 0;
  bytesToGuest = 0;

  constructor(
    id: number,
    guestAddr: IpAddress,
    guestPort: number,
    peerAddr: IpAddress,
    peerPort: number,
    mtu: number,
    tunables: TcpTunables,
    budget: ByteBudget,
  ) {
    this.id = id;
    this.guestAddr = guestAddr;
    this.guestPort = guestPort;
    this.peerAddr = peerAddr;
    this.peerPort = peerPort;
    const ipv6 = typeof guestAddr === "bigint";
    this.localMss = mtu - (ipv6 ? HEADERS6 : 40);
    this.pseudoSum = pseudoHeaderSum(peerAddr, guestAddr, IpProtocol.TCP, 0);
    this.sendMss = ipv6 ? DEFAULT_GUEST_MSS6 : DEFAULT_GUEST_MSS;
    this.rtoBase = tunables.rtoInitialMs;
    this.rto = tunables.rtoInitialMs;
    this.sendQueue = new ByteRing(tunables.sendQueueLimit, tunables.initialQueue, budget);
    this.recvQueue = new ByteRing(tunables.recvQueueLimit, tunables.initialQueue, budget);
  }

  /** The state's name (for messages). */
  get stateName(): string {
    return TCP_STATE_NAMES[this.state];
  }
}

/** What a port forward's connections add up to (see `TcpRelay.forwardTallies`). */
export interface ForwardTally {
  connections: number;
  bytesFromGuest: number;
  bytesToGuest: number;
}

/** Table keys: numbers for IPv4 endpoints, bigints for IPv6 ones (never equal to each other). */
type EndpointKey = number | bigint;

function peerKey(addr: IpAddress, port: number): EndpointKey {
  return typeof addr === "bigint" ? (addr << 16n) | BigInt(port) : addr * 0x10000 + port;
}

function guestKey(addr: IpAddress, port: number): EndpointKey {
  return typeof addr === "bigint" ? (addr << 16n) | BigInt(port) : port * 0x100000000 + addr;
}

/** A xorshift32 generator seeded from the platform's CSPRNG: ISNs need not be secret here. */
function defaultRandom(): () => number {
  const seed = new Uint32Array(1);
  crypto.getRandomValues(seed);
  let x = seed[0] | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/**
 * The connection table and every connection's state machine. Drive it with `handleFrame` (frames
 * from the guest), `hostEvent` (readiness of host sockets) and `advanceTimers`; call `flush` at the
 * end of every batch of events.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../../config.ts";
 * import { Counters } from "../counters.ts";
 * import { MemoryLink } from "../memory_link.ts";
 * import { TcpRelay } from "./relay.ts";
 * import type { HostSockets } from "./host_sockets.ts";
 * const sockets: HostSockets = {
 *   connect: () => -111, connectResult: () => 0, send: () => 0, recv: () => 0,
 *   shutdownWrite() {}, close() {}, reset() {}, watch() {},
 * };
 * const relay = new TcpRelay({
 *   addresses: deriveAddresses(0x0a000200, 24), mtu: 1500, link: new MemoryLink(), sockets,
 *   counters: new Counters(), route: (dst) => ({ kind: "connect", targets: [dst] }), now: 0,
 * });
 * relay.size; // 0
 * ```
 */
export class TcpRelay {
  readonly tunables: TcpTunables;
  readonly #addresses: Addresses;
  readonly #tx: GuestTx;
  readonly #sockets: HostSockets;
  readonly #counters: Counters;
  readonly #route: (dst: IpAddress, port: number, now: number) => TcpRoute;
  readonly #random: () => number;
  readonly #warn: (message: string) => void;
  readonly #sum: (bytes: Uint8Array, offset: number, length: number, initial: number) => number;
  readonly #wheel: TimerWheel;
  readonly #budget: ByteBudget;
  readonly #mtu: number;
  /** Our window shift: enough for the receive queue limit in 16 bits. */
  readonly #rcvShift: number;

  readonly #byPeer = new Map<EndpointKey, Map<EndpointKey, TcpConnection>>();
  readonly #byId = new Map<number, TcpConnection>();
  readonly #forwardTallies = new Map<number, ForwardTally>();
  #nextId = FIRST_ID;
  #halfOpen = 0;
  #last: TcpConnection | null = null;
  #dirty: TcpConnection[] = [];
  readonly #delayAcks: boolean;
  /** Connections whose ACK waits for `sendDelayedAcks`, and when the first was held back. */
  #delayed: TcpConnection[] = [];
  #delayedSince = Infinity;
  #tableFullLogged = false;
  #halfOpenLogged = false;
  #fdLimitLogged = false;
  #challengeWindowStart = -Infinity;
  #challengeAcks = 0;

  // Reused views: nothing is allocated per segment.
  readonly #ip = new IpPacket();
  readonly #seg = new TcpSegment();
  readonly #options = new TcpOptions();

  constructor(options: TcpRelayOptions) {
    this.tunables = { ...TCP_DEFAULTS, ...options.tunables };
    this.#addresses = options.addresses;
    this.#tx = new GuestTx(options.link, options.mtu, options.addresses, options.counters);
    this.#sockets = options.sockets;
    this.#counters = options.counters;
    this.#route = options.route;
    this.#random = options.random ?? defaultRandom();
    this.#warn = options.warn ?? (() => {});
    this.#sum = options.checksum ?? sumBytes;
    this.#wheel = new TimerWheel(options.now);
    this.#budget = new ByteBudget(this.tunables.queueBudget);
    this.#mtu = options.mtu;
    this.#delayAcks = options.delayAcks ?? false;
    let shift = 0;
    while (shift < 14 && (this.tunables.recvQueueLimit >>> shift) > 0xffff) shift++;
    this.#rcvShift = shift;
  }

  /** Connections in the table, all states. */
  get size(): number {
    return this.#byId.size;
  }

  /** Connections not yet established. */
  get halfOpen(): number {
    return this.#halfOpen;
  }

  /** Queue bytes allocated beyond first allocations, all connections. */
  get queueBytes(): number {
    return this.#budget.used;
  }

  /** The connection of a guest 4-tuple, or null (for tests and diagnostics). */
  find(guestAddr: IpAddress, guestPort: number, peerAddr: IpAddress, peerPort: number) {
    return this.#lookup(guestAddr, guestPort, peerAddr, peerPort);
  }

  /** Every connection (for tests and diagnostics). */
  connections(): IterableIterator<TcpConnection> {
    return this.#byId.values();
  }

  // ------------------------------------------------------------------------------ guest input

  /**
   * Handles one Ethernet frame holding a TCP segment from the guest (IPv4 or IPv6 at offset 14,
   * checked by the dispatcher; IPv6 with the TCP header right behind the fixed header). The bytes may be reused once this returns. Never throws on guest input.
   * `checksumPartial`: the tap said the checksum was left to us and the bytes never left the
   * guest's memory (virtio-net NEEDS_CSUM), so it is not verified.
   */
  handleFrame(frame: Uint8Array, now: number, checksumPartial = false): void {
    const counters = this.#counters;
    counters.bump(C["tcp.segment"]);
    const ip = this.#ip;
    if (
      !ip.read(frame, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN) ||
      ip.protocol !== IpProtocol.TCP
    ) {
      counters.bump(C["tcp.truncated"]);
      return;
    }
    const seg = this.#seg.wrap(frame, ip.payloadOffset, ip.payloadLength);
    const check = seg.check();
    if (check !== "ok") {
      counters.bump(check === "truncated" ? C["tcp.truncated"] : C["tcp.bad_data_offset"]);
      return;
    }
    const src = ip.src;
    const dst = ip.dst;
    if (
      !checksumPartial &&
      finishChecksum(
          this.#sum(
            frame,
            seg.offset,
            seg.length,
            pseudoHeaderSumAt(frame, ip.offset, IpProtocol.TCP, seg.length),
          ),
        ) !== 0
    ) {
      counters.bump(C["tcp.bad_checksum"]);
      return;
    }
    if (!parseTcpOptions(seg, this.#options)) {
      counters.bump(C["tcp.bad_options"]);
      return;
    }
    const flags = seg.flags;
    // SYN with FIN or RST has no meaning (RFC 9293 §3.10.7); such segments are scans or attacks.
    if ((flags & TcpFlag.SYN) !== 0 && (flags & (TcpFlag.FIN | TcpFlag.RST)) !== 0) {
      counters.bump(C["tcp.bad_flags"]);
      return;
    }
    const srcPort = seg.srcPort;
    const dstPort = seg.dstPort;
    if (srcPort === 0 || dstPort === 0) {
      counters.bump(C["tcp.bad_port"]);
      return;
    }
    const conn = this.#lookup(src, srcPort, dst, dstPort);
    if (conn === null) {
      this.#noConnection(frame, ip, seg, now);
      return;
    }
    conn.lastGuestActivity = now;
    conn.keepalivesSent = 0;
    this.#segmentArrives(conn, frame, seg, now);
    this.#touch(conn);
  }

  /** RFC 9293 §3.10.7.1 (CLOSED) for segments of no connection, and new connections. */
  #noConnection(frame: Uint8Array, ip: IpPacket, seg: TcpSegment, now: number): void {
    const counters = this.#counters;
    const flags = seg.flags;
    if (flags & TcpFlag.RST) {
      // "An incoming segment containing a RST is discarded."
      counters.bump(C["tcp.rst_no_connection"]);
      return;
    }
    if (flags & TcpFlag.ACK) {
      // "<SEQ=SEG.ACK><CTL=RST>"
      counters.bump(C["tcp.no_connection"]);
      this.#emitStateless(frame, ip, seg, seg.ack, 0, TcpFlag.RST);
      return;
    }
    if (!(flags & TcpFlag.SYN)) {
      // "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
      counters.bump(C["tcp.no_connection"]);
      this.#emitStateless(
        frame,
        ip,
        seg,
        0,
        seqAdd(seg.seq, seg.segmentLength),
        TcpFlag.RST | TcpFlag.ACK,
      );
      return;
    }
    this.#openConnection(frame, ip, seg, now);
  }

  #openConnection(frame: Uint8Array, ip: IpPacket, seg: TcpSegment, now: number): void {
    const counters = this.#counters;
    const t = this.tunables;
    counters.bump(C["tcp.syn"]);
    if (seg.payloadLength > 0) {
      // TCP Fast Open data would need a cookie we never issue; a SYN with data is dropped.
      counters.bump(C["tcp.bad_flags"]);
      return;
    }
    if (this.#byId.size >= t.maxConnections) {
      counters.bump(C["tcp.table_full"]);
      if (!this.#tableFullLogged) {
        this.#tableFullLogged = true;
        this.#warn(
          `TCP connection table full (${t.maxConnections} connections): new connections from the ` +
            "guest are dropped until some close",
        );
      }
      return;
    }
    if (this.#halfOpen >= t.maxHalfOpen) {
      counters.bump(C["tcp.half_open_full"]);
      if (!this.#halfOpenLogged) {
        this.#halfOpenLogged = true;
        this.#warn(
          `TCP: ${t.maxHalfOpen} connections are still opening (SYN flood?): further SYNs are ` +
            "dropped until some complete",
        );
      }
      return;
    }
    const dst = ip.dst;
    const dstPort = seg.dstPort;
    const route = this.#route(dst, dstPort, now);
    if (route.kind === "unreachable") {
      counters.bump(C["tcp.route_unreachable"]);
      this.#sendUnreachable(
        frame,
        ETHERNET.SRC,
        ip.src,
        frame,
        ip.offset,
        quoteLengthOf(frame, ip.offset, ip.totalLength),
        false,
      );
      return;
    }
    const conn = new TcpConnection(
      this.#allocateId(),
      ip.src,
      seg.srcPort,
      dst,
      dstPort,
      this.#mtu,
      t,
      this.#budget,
    );
    copyBytes(conn.guestMac, 0, frame, ETHERNET.SRC, MAC_LEN);
    conn.createdAt = now;
    conn.synQuote = frame.slice(
      ip.offset,
      ip.offset + quoteLengthOf(frame, ip.offset, ip.totalLength),
    );
    this.#acceptSyn(conn, seg);
    conn.iss = this.#random();
    conn.sndUna = conn.iss;
    conn.sndNxt = conn.iss;
    conn.sndMax = conn.iss;
    conn.dataSeq = seqAdd(conn.iss, 1);
    conn.lastGuestActivity = now;
    conn.progressAt = now;
    conn.targets = route.targets;
    this.#insert(conn);
    this.#halfOpen++;
    this.#startConnect(conn, now);
    this.#touch(conn);
  }

  /** Takes the guest's SYN parameters: ISN, MSS, window scale, window. */
  #acceptSyn(conn: TcpConnection, seg: TcpSegment): void {
    const options = this.#options;
    conn.irs = seg.seq;
    conn.rcvNxt = seqAdd(seg.seq, 1);
    conn.hostSeq = conn.rcvNxt;
    conn.advRight = conn.rcvNxt;
    const guestMss = options.mss >= 0 ? options.mss : conn.sendMss;
    conn.sendMss = Math.max(MIN_GUEST_MSS, Math.min(guestMss, conn.localMss));
    // RFC 7323 §2.2: scaling applies only if both SYNs carry the option.
    conn.wscaleOk = options.windowScale >= 0;
    conn.sndShift = conn.wscaleOk ? options.windowScale : 0;
    conn.rcvShift = conn.wscaleOk ? this.#rcvShift : 0;
    conn.recvWindowLimit = Math.min(
      conn.recvQueue.limit,
      this.tunables.maxWindowSegments * conn.localMss,
      conn.wscaleOk ? Infinity : 0xffff,
    );
    // RFC 7323 §2.2: the window of a SYN is never scaled.
    conn.sndWnd = seg.window;
    conn.maxSndWnd = seg.window;
    conn.sndWl1 = seg.seq;
  }

  /**
   * Opens a port forward's connection towards the guest (the relay is the active side): the host
   * socket `handle` (an accepted client, already non-blocking) is adopted, and a SYN goes from
   * `peerAddr:peerPort` (what the guest sees of the client) to `guestAddr:guestPort`, addressed
   * to the guest's MAC at `mac[macOffset..]`. The guest's SYN-ACK establishes it; its RST, or
   * silence through the SYN retransmissions, resets the host client.
   *
   * Returns false (the caller still owns `handle` and should reset it) when the table is full or
   * the 4-tuple is taken: two loopback clients with the same port both appear as the gateway with
   * that port, and the guest could not tell them apart, so the second is refused.
   */
  openToGuest(
    handle: number,
    peerAddr: IpAddress,
    peerPort: number,
    guestAddr: IpAddress,
    guestPort: number,
    mac: Uint8Array,
    macOffset: number,
    now: number,
    forwardId = 0,
  ): boolean {
    const counters = this.#counters;
    const t = this.tunables;
    if (this.#byId.size >= t.maxConnections) {
      counters.bump(C["tcp.table_full"]);
      return false;
    }
    const existing = this.#lookup(guestAddr, guestPort, peerAddr, peerPort);
    if (existing !== null) {
      // A finished entry gives way, unless its host socket still drains bytes the guest was told
      // were delivered: closing it would drop them (invariant 2).
      const finished = existing.state === TcpState.TIME_WAIT || existing.state === TcpState.CLOSED;
      if (!finished || existing.recvQueue.length > 0) {
        counters.bump(C["tcp.forward_clash"]);
        return false;
      }
      this.#remove(existing, "close");
    }
    const conn = new TcpConnection(
      this.#allocateId(),
      guestAddr,
      guestPort,
      peerAddr,
      peerPort,
      this.#mtu,
      t,
      this.#budget,
    );
    copyBytes(conn.guestMac, 0, mac, macOffset, MAC_LEN);
    conn.createdAt = now;
    conn.forwardId = forwardId;
    if (forwardId !== 0) this.#forwardTally(forwardId).connections++;
    conn.state = TcpState.SYN_SENT;
    conn.handle = handle;
    this.#sockets.adopt?.(handle);
    // Our SYN offers MSS and window scaling; the guest's SYN-ACK decides (RFC 7323 §2.2).
    conn.wscaleOk = true;
    conn.rcvShift = this.#rcvShift;
    conn.recvWindowLimit = Math.min(conn.recvQueue.limit, t.maxWindowSegments * conn.localMss);
    conn.iss = this.#random();
    conn.sndUna = conn.iss;
    conn.dataSeq = seqAdd(conn.iss, 1);
    conn.sndNxt = conn.dataSeq;
    conn.sndMax = conn.dataSeq;
    conn.lastGuestActivity = now;
    conn.progressAt = now;
    this.#insert(conn);
    counters.bump(C["tcp.forward_open"]);
    this.#emit(conn, conn.iss, TcpFlag.SYN, 0, 0);
    conn.rtxAt = now + conn.rto;
    this.#touch(conn);
    return true;
  }

  /** RFC 9293 §3.10.7.3, SYN-SENT: the guest's answer to a port forward's SYN. */
  #synSentArrives(conn: TcpConnection, seg: TcpSegment, now: number): void {
    const counters = this.#counters;
    const flags = seg.flags;
    const synAck = seqAdd(conn.iss, 1);
    // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set) … and
    // discard the segment."
    if ((flags & TcpFlag.ACK) && seg.ack !== synAck) {
      counters.bump(C["tcp.forward_bad_ack"]);
      if (!(flags & TcpFlag.RST)) {
        const saved = conn.rcvNxt;
        this.#emit(conn, seg.ack, TcpFlag.RST, 0, 0);
        conn.rcvNxt = saved;
      }
      return;
    }
    if (flags & TcpFlag.RST) {
      // "If the ACK was acceptable, then signal to the user 'error: connection reset'": the
      // guest refused, so does the forward.
      if (flags & TcpFlag.ACK) {
        counters.bump(C["tcp.forward_refused"]);
        this.#remove(conn, "reset");
      }
      return;
    }
    if (!(flags & TcpFlag.SYN) || !(flags & TcpFlag.ACK)) {
      // A bare SYN (simultaneous open) or a stray segment: our SYN is retransmitted on time.
      counters.bump(C["tcp.out_of_window"]);
      return;
    }
    this.#acceptSyn(conn, seg);
    conn.recvWindowLimit = Math.min(conn.recvWindowLimit, conn.wscaleOk ? Infinity : 0xffff);
    conn.sndUna = synAck;
    conn.sndWl2 = seg.ack;
    conn.state = TcpState.ESTABLISHED;
    conn.rtxAt = Infinity;
    conn.backoff = 0;
    conn.rto = conn.rtoBase;
    conn.lastGuestActivity = now;
    conn.progressAt = now;
    counters.bump(C["tcp.established"]);
    this.#sendAck(conn);
    this.#touch(conn);
  }

  /** RFC 9293 §3.10.7.3/§3.10.7.4, for a segment of an existing connection. */
  #segmentArrives(conn: TcpConnection, frame: Uint8Array, seg: TcpSegment, now: number): void {
    const counters = this.#counters;
    const flags = seg.flags;
    const seq = seg.seq;

    if (conn.state === TcpState.SYN_SENT) {
      this.#synSentArrives(conn, seg, now);
      return;
    }
    if (conn.state === TcpState.CONNECTING) {
      // Nothing was sent to the guest yet: only its retransmitted SYN or its RST can come.
      if ((flags & TcpFlag.RST) && seq === conn.rcvNxt) {
        counters.bump(C["tcp.rst_from_guest"]);
        this.#remove(conn, "reset");
      } else if ((flags & TcpFlag.SYN) && !(flags & TcpFlag.ACK)) {
        counters.bump(C["tcp.syn_duplicate"]);
        if (seq !== conn.irs) this.#acceptSyn(conn, seg); // a new attempt on the same port
      } else {
        counters.bump(C["tcp.out_of_window"]);
      }
      return;
    }
    if (conn.state === TcpState.SYN_RECEIVED && (flags & TcpFlag.SYN) && !(flags & TcpFlag.ACK)) {
      // Our SYN-ACK was lost, or the guest retries: answer again (RFC 9293 §3.10.7.4 "SYN-RECEIVED").
      counters.bump(C["tcp.syn_duplicate"]);
      if (seq === conn.irs) this.#sendSynAck(conn, now);
      return;
    }
    if (
      conn.state === TcpState.TIME_WAIT && (flags & TcpFlag.SYN) && !(flags & TcpFlag.ACK) &&
      seqGt(seq, conn.rcvNxt)
    ) {
      // RFC 9293 §3.10.7.4 / RFC 6191: a new incarnation of the 4-tuple may start from TIME-WAIT.
      this.#remove(conn, "close");
      this.#openConnection(frame, this.#ip, seg, now);
      return;
    }

    // First: the sequence number (RFC 9293 §3.10.7.4, "first check sequence number").
    const length = seg.payloadLength;
    const segLength = seg.segmentLength;
    const window = this.#acceptWindow(conn);
    if (!this.#acceptable(conn, seq, segLength, window)) {
      counters.bump(C["tcp.out_of_window"]);
      if (!(flags & TcpFlag.RST)) {
        // "send an acknowledgment … and drop the unacceptable segment" (keep-alives and zero-window
        // probes end here too). A FIN retransmitted in TIME-WAIT restarts the 2 MSL timeout.
        if (conn.state === TcpState.TIME_WAIT && (flags & TcpFlag.FIN)) {
          conn.stateDeadline = now + this.tunables.timeWaitMs;
        }
        this.#sendAck(conn);
      }
      return;
    }

    // Second: RST (RFC 5961 §3.2).
    if (flags & TcpFlag.RST) {
      if (seq === conn.rcvNxt) {
        counters.bump(C["tcp.rst_from_guest"]);
        if (conn.guestFinReceived && conn.hostEof) {
          // Both directions had ended (a guest that closed answers our late FIN or ACK with RST):
          // the host socket still holds bytes its peer has not read; close it, never discard them.
          this.#guestDone(conn, now);
        } else {
          this.#remove(conn, "reset");
        }
      } else {
        this.#challengeAck(conn, now);
      }
      return;
    }
    // Fourth: SYN in a synchronized state (RFC 5961 §4.2).
    if (flags & TcpFlag.SYN) {
      this.#challengeAck(conn, now);
      return;
    }
    // Fifth: the ACK field.
    if (!(flags & TcpFlag.ACK)) {
      counters.bump(C["tcp.no_ack"]);
      return;
    }
    const ack = seg.ack;
    if (conn.state === TcpState.SYN_RECEIVED) {
      if (seqLe(ack, conn.sndUna) || seqGt(ack, conn.sndMax)) {
        // "<SEQ=SEG.ACK><CTL=RST>"
        counters.bump(C["tcp.bad_ack"]);
        this.#emit(conn, ack, TcpFlag.RST, 0, 0);
        return;
      }
      this.#established(conn);
      conn.sndWl1 = seq;
      conn.sndWl2 = ack;
      conn.sndWnd = seg.window << conn.sndShift;
      conn.maxSndWnd = Math.max(conn.maxSndWnd, conn.sndWnd);
    }
    if (seqGt(ack, conn.sndMax)) {
      // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the
      // segment, and return."
      counters.bump(C["tcp.ack_unsent"]);
      this.#sendAck(conn);
      return;
    }
    if (seqLt(ack, seqAdd(conn.sndUna, -Math.max(conn.maxSndWnd, 1)))) {
      // RFC 5961 §5.2: an ACK older than the largest window ever seen is a blind-injection attempt.
      counters.bump(C["tcp.ack_too_old"]);
      this.#challengeAck(conn, now);
      return;
    }
    const scaledWindow = seg.window << conn.sndShift;
    if (seqGt(ack, conn.sndUna)) {
      this.#acknowledge(conn, ack, now);
    } else if (
      ack === conn.sndUna && length === 0 && !(flags & TcpFlag.FIN) && scaledWindow > 0 &&
      scaledWindow === conn.sndWnd && seqGt(conn.sndMax, conn.sndUna)
    ) {
      // RFC 5681 §2 "DUPLICATE ACKNOWLEDGMENT".
      counters.bump(C["tcp.dup_ack"]);
      if (++conn.dupAcks === DUP_ACK_THRESHOLD) {
        counters.bump(C["tcp.fast_retransmit"]);
        conn.sndNxt = conn.sndUna;
        conn.rttStart = -1;
      }
    }
    // RFC 9293 §3.10.7.4: update the window only from a segment that is not older.
    if (seqLt(conn.sndWl1, seq) || (conn.sndWl1 === seq && seqLe(conn.sndWl2, ack))) {
      if (conn.sndWnd === 0 && scaledWindow > 0) {
        // The window opened: leave persist mode (a probe byte the guest did not take is sent
        // again); a lost segment is again the RTO's business.
        conn.backoff = 0;
        conn.rto = conn.rtoBase;
        conn.sndNxt = conn.sndUna;
        conn.rtxAt = seqGt(conn.sndMax, conn.sndUna) ? now + conn.rto : Infinity;
      }
      conn.sndWnd = scaledWindow;
      conn.sndWl1 = seq;
      conn.sndWl2 = ack;
      if (scaledWindow > conn.maxSndWnd) conn.maxSndWnd = scaledWindow;
    }
    if (conn.finSent && seqGe(conn.sndUna, seqAdd(conn.finSeq, 1))) this.#finAcked(conn, now);
    if (conn.removed) return;

    // Seventh: the segment text.
    if (length > 0) {
      if (
        conn.state === TcpState.ESTABLISHED || conn.state === TcpState.FIN_WAIT_1 ||
        conn.state === TcpState.FIN_WAIT_2
      ) {
        this.#receiveData(conn, frame, seg.payloadOffset, seq, length);
        if (conn.removed) return;
      } else {
        counters.bump(C["tcp.data_after_fin"]);
      }
    }
    // Eighth: FIN.
    if (flags & TcpFlag.FIN) {
      const finSeq = seqAdd(seq, length);
      if (!conn.guestFinSeen && seqLe(finSeq, seqAdd(conn.rcvNxt, window))) {
        conn.guestFinSeen = true;
        conn.guestFinSeq = finSeq;
      }
      if (conn.guestFinReceived) conn.ackPending = true;
    }
    this.#checkGuestFin(conn, now);
  }

  /** How many bytes past RCV.NXT the guest may send: up to the queue limit from `hostSeq`. */
  #acceptWindow(conn: TcpConnection): number {
    const limit = conn.recvWindowLimit;
    return Math.max(0, limit - seqDiff(conn.rcvNxt, conn.hostSeq));
  }

  /** RFC 9293 §3.10.7.4, the four acceptability cases. */
  #acceptable(conn: TcpConnection, seq: number, segLength: number, window: number): boolean {
    const offset = seqDiff(seq, conn.rcvNxt);
    if (segLength === 0) return window === 0 ? offset === 0 : offset >= 0 && offset < window;
    if (window === 0) return false;
    const lastOffset = offset + segLength - 1;
    return (offset >= 0 && offset < window) || (lastOffset >= 0 && lastOffset < window);
  }

  /** RFC 5961 §7: challenge ACKs, rate-limited over all connections. */
  #challengeAck(conn: TcpConnection, now: number): void {
    if (now - this.#challengeWindowStart >= 1000) {
      this.#challengeWindowStart = now;
      this.#challengeAcks = 0;
    }
    if (this.#challengeAcks >= this.tunables.challengeAcksPerSecond) {
      this.#counters.bump(C["tcp.challenge_ack_limited"]);
      return;
    }
    this.#challengeAcks++;
    this.#counters.bump(C["tcp.challenge_ack"]);
    this.#sendAck(conn);
  }

  /** New data acknowledged: free it, take an RTT sample, restart or stop the timer. */
  #acknowledge(conn: TcpConnection, ack: number, now: number): void {
    const acked = seqDiff(ack, conn.sndUna);
    const dataAcked = Math.max(0, Math.min(seqDiff(ack, conn.dataSeq), conn.sendQueue.length));
    if (dataAcked > 0) {
      conn.sendQueue.consume(dataAcked);
      conn.dataSeq = seqAdd(conn.dataSeq, dataAcked);
    }
    conn.sndUna = ack;
    if (seqLt(conn.sndNxt, ack)) conn.sndNxt = ack;
    conn.dupAcks = 0;
    conn.backoff = 0;
    conn.rto = conn.rtoBase;
    conn.progressAt = now;
    if (conn.rttStart >= 0 && seqGe(ack, conn.rttSeq)) {
      this.#rttSample(conn, now - conn.rttStart);
      conn.rttStart = -1;
    }
    if (conn.cwnd !== Infinity) {
      // Slow start after a timeout (doubling per round trip) until the window is the limit.
      conn.cwnd += acked;
      if (conn.cwnd >= conn.sndWnd) conn.cwnd = Infinity;
    }
    // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
    conn.rtxAt = seqGt(conn.sndMax, conn.sndUna) ? now + conn.rto : Infinity;
  }

  /** RFC 6298 §2.2/2.3, with the clock granularity G of the timer wheel. */
  #rttSample(conn: TcpConnection, r: number): void {
    if (conn.srtt < 0) {
      conn.srtt = r;
      conn.rttvar = r / 2;
    } else {
      conn.rttvar = 0.75 * conn.rttvar + 0.25 * Math.abs(conn.srtt - r);
      conn.srtt = 0.875 * conn.srtt + 0.125 * r;
    }
    const t = this.tunables;
    const rto = conn.srtt + Math.max(this.#wheel.tickMs, 4 * conn.rttvar);
    conn.rtoBase = Math.min(t.rtoMaxMs, Math.max(t.rtoMinMs, rto));
    conn.rto = Math.min(t.rtoMaxMs, conn.rtoBase * 2 ** conn.backoff);
  }

  /**
   * A segment longer than the MSS came: the guest sends with segmentation offload, so a whole
   * window is a few super-frames in the tap's queue, not `maxWindowSegments` packets; the window
   * may grow to the receive queue's limit.
   */
  #guestSendsSuperFrames(conn: TcpConnection): void {
    const limit = Math.min(conn.recvQueue.limit, conn.wscaleOk ? Infinity : 0xffff);
    if (conn.recvWindowLimit < limit) conn.recvWindowLimit = limit;
  }

  /** Stores in-window data in the receive queue; in-order data advances RCV.NXT. */
  #receiveData(
    conn: TcpConnection,
    bytes: Uint8Array,
    payloadOffset: number,
    seq: number,
    length: number,
  ): void {
    const counters = this.#counters;
    if (length > conn.localMss) this.#guestSendsSuperFrames(conn);
    let offset = seqDiff(seq, conn.rcvNxt);
    let skip = 0;
    if (offset < 0) {
      skip = -offset;
      offset = 0;
      if (skip >= length) {
        counters.bump(C["tcp.duplicate"]);
        conn.ackPending = true;
        return;
      }
    }
    let n = length - skip;
    const room = this.#acceptWindow(conn) - offset;
    if (n > room) n = room;
    if (n <= 0) {
      conn.ackPending = true;
      return;
    }
    const queue = conn.recvQueue;
    const queued = seqDiff(conn.rcvNxt, conn.hostSeq);
    const from = payloadOffset + skip;
    if (
      offset === 0 && queued === 0 && queue.extent === 0 && n >= DIRECT_SEND_MIN &&
      conn.handle >= 0 && !conn.hostBlocked && !conn.hostWriteShut
    ) {
      // The host socket is idle: hand the bytes to it straight from the frame, one copy saved.
      const sent = this.#sockets.send(conn.handle, bytes, from, n);
      if (sent > 0) {
        conn.bytesFromGuest += sent;
        conn.hostSeq = seqAdd(conn.hostSeq, sent);
        conn.rcvNxt = seqAdd(conn.rcvNxt, sent);
        if (sent === n) {
          conn.ackPending = true;
          return;
        }
        conn.hostBlocked = true;
        const rest = skip + sent;
        this.#receiveData(conn, bytes, payloadOffset + rest, seqAdd(seq, rest), n - sent);
        return;
      }
      if (sent !== -Errno.EAGAIN) {
        this.#hostFailed(conn);
        return;
      }
      conn.hostBlocked = true;
    }
    const at = queued + offset;
    const usable = queue.reserve(at + n) - at;
    if (usable < n) {
      counters.bump(C["tcp.memory_pressure"]);
      if (usable <= 0) return;
      n = usable;
    }
    if (offset > 0 && !conn.ooo.add(seqAdd(conn.rcvNxt, offset), seqAdd(conn.rcvNxt, offset + n))) {
      counters.bump(C["tcp.out_of_order_dropped"]);
      this.#sendAck(conn);
      return;
    }
    queue.write(at, bytes, from, n);
    if (offset === 0) {
      conn.rcvNxt = conn.ooo.advance(seqAdd(conn.rcvNxt, n));
      queue.setLength(seqDiff(conn.rcvNxt, conn.hostSeq));
      conn.ackPending = true;
    } else {
      // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (a duplicate ACK).
      counters.bump(C["tcp.out_of_order"]);
      this.#sendAck(conn);
    }
  }

  /** The guest's FIN, once all data before it arrived (RFC 9293 §3.10.7.4 "eighth"). */
  #checkGuestFin(conn: TcpConnection, now: number): void {
    if (!conn.guestFinSeen || conn.guestFinReceived || conn.rcvNxt !== conn.guestFinSeq) return;
    conn.guestFinReceived = true;
    conn.rcvNxt = seqAdd(conn.rcvNxt, 1);
    this.#sendAck(conn);
    switch (conn.state) {
      case TcpState.ESTABLISHED:
        conn.state = TcpState.CLOSE_WAIT;
        break;
      case TcpState.FIN_WAIT_1:
        conn.state = TcpState.CLOSING;
        break;
      case TcpState.FIN_WAIT_2:
        this.#enterTimeWait(conn, now);
        break;
    }
  }

  /** Our FIN was acknowledged. */
  #finAcked(conn: TcpConnection, now: number): void {
    switch (conn.state) {
      case TcpState.FIN_WAIT_1:
        conn.state = TcpState.FIN_WAIT_2;
        break;
      case TcpState.CLOSING:
        this.#enterTimeWait(conn, now);
        break;
      case TcpState.LAST_ACK:
        this.#guestDone(conn, now);
        break;
    }
  }

  #enterTimeWait(conn: TcpConnection, now: number): void {
    conn.state = TcpState.TIME_WAIT;
    conn.stateDeadline = now + this.tunables.timeWaitMs;
    conn.rtxAt = Infinity;
    conn.sendQueue.release();
    this.#counters.bump(C["tcp.time_wait"]);
  }

  /** The guest side is finished; the connection goes once the host side is too. */
  #guestDone(conn: TcpConnection, now: number): void {
    conn.state = TcpState.CLOSED;
    conn.rtxAt = Infinity;
    conn.sendQueue.release();
    if (conn.handle < 0) {
      this.#remove(conn, "close");
    } else {
      // The host has not taken all of the guest's data yet: give it the user timeout to do so.
      conn.stateDeadline = now + this.tunables.userTimeoutMs;
    }
  }

  #established(conn: TcpConnection): void {
    conn.state = TcpState.ESTABLISHED;
    conn.synQuote = null;
    conn.rtxAt = Infinity;
    conn.backoff = 0;
    conn.rto = conn.rtoBase;
    this.#halfOpen--;
    if (this.#halfOpen < this.tunables.maxHalfOpen / 2) this.#halfOpenLogged = false;
    this.#counters.bump(C["tcp.established"]);
  }

  // ------------------------------------------------------------------------------ host side

  #startConnect(conn: TcpConnection, now: number): void {
    const t = this.tunables;
    const address = conn.targets[conn.targetIndex];
    const handle = this.#sockets.connect(address, conn.peerPort, conn.id);
    if (handle < 0) {
      this.#connectFailed(conn, -handle, now);
      return;
    }
    conn.handle = handle;
    const more = conn.targetIndex + 1 < conn.targets.length;
    conn.stateDeadline = now + (more ? t.dnsConnectTimeoutMs : t.connectTimeoutMs);
  }

  /** The host connect failed: try the next target, else tell the guest as slirp4netns does. */
  #connectFailed(conn: TcpConnection, errno: number, now: number): void {
    const counters = this.#counters;
    if (conn.handle >= 0) {
      this.#sockets.close(conn.handle);
      conn.handle = -1;
      conn.watchRead = false;
      conn.watchWrite = false;
    }
    if (conn.targetIndex + 1 < conn.targets.length) {
      conn.targetIndex++;
      this.#startConnect(conn, now);
      return;
    }
    if ((errno === Errno.EMFILE || errno === Errno.ENFILE) && !this.#fdLimitLogged) {
      this.#fdLimitLogged = true;
      this.#warn("TCP: cannot open a host socket: too many open files");
    }
    if (errno === Errno.ECONNREFUSED) {
      // libslirp tcp_input: a refused connect answers the SYN with RST.
      counters.bump(C["tcp.connect_refused"]);
      this.#emit(conn, 0, TcpFlag.RST | TcpFlag.ACK, 0, 0);
    } else {
      const host = errno === Errno.EHOSTUNREACH;
      counters.bump(
        errno === Errno.ETIMEDOUT
          ? C["tcp.connect_timeout"]
          : host
          ? C["tcp.connect_unreachable"]
          : C["tcp.connect_failed"],
      );
      const quote = conn.synQuote!;
      this.#sendUnreachable(
        conn.guestMac,
        0,
        conn.guestAddr,
        quote,
        0,
        quote.length,
        host,
      );
    }
    this.#remove(conn, "close");
  }

  /** A readiness event for the host socket of connection `token`. */
  hostEvent(token: number, events: number, now: number): void {
    const conn = this.#byId.get(token);
    if (conn === undefined || conn.handle < 0) return;
    if (conn.state === TcpState.CONNECTING) {
      const result = this.#sockets.connectResult(conn.handle);
      if (result !== 0) {
        this.#connectFailed(conn, result, now);
        return;
      }
      if (!(events & (HostEvent.WRITABLE | HostEvent.ERROR | HostEvent.HANGUP))) return;
      this.#counters.bump(C["tcp.connected"]);
      conn.state = TcpState.SYN_RECEIVED;
      conn.stateDeadline = Infinity;
      this.#sendSynAck(conn, now);
      this.#touch(conn);
      return;
    }
    if (events & HostEvent.ERROR) {
      const error = this.#sockets.connectResult(conn.handle);
      if (error !== 0) {
        this.#hostFailed(conn);
        return;
      }
    }
    if (events & (HostEvent.READABLE | HostEvent.HANGUP)) {
      this.#readFromHost(conn);
      // Framed at once, while the bytes just read are in the CPU's cache: left for `flush`, after
      // the other sockets' reads of the turn, they were not (8 flows host→guest: 0.51 → 0.45 CPU
      // s/GB, 17.0 → 18.5–19.1 Gbit/s).
      if (!conn.removed) this.#trySend(conn, now);
    }
    if (conn.removed) return;
    if (events & (HostEvent.WRITABLE | HostEvent.HANGUP)) {
      conn.hostBlocked = false;
      this.#flushToHost(conn);
    }
    this.#touch(conn);
  }

  /** Whether the host→guest queue may take more bytes now (growing when the guest's window is
   * larger than what is queued). */
  #sendRoom(conn: TcpConnection): number {
    const queue = conn.sendQueue;
    const length = queue.length;
    let capacity = queue.capacity;
    if (capacity === 0) capacity = queue.reserve(1);
    if (length === capacity && capacity < queue.limit && conn.sndWnd >= capacity) {
      capacity = queue.reserve(capacity * 2);
    }
    return capacity - length;
  }

  #wantsHostRead(conn: TcpConnection): boolean {
    if (
      conn.hostEof || conn.state === TcpState.CONNECTING || conn.state === TcpState.SYN_SENT
    ) {
      return false;
    }
    const queue = conn.sendQueue;
    return queue.length < queue.capacity || queue.capacity === 0 ||
      (queue.capacity < queue.limit && conn.sndWnd >= queue.capacity);
  }

  /** Reads what the host sent into the send queue (at most twice: the queue may wrap). */
  #readFromHost(conn: TcpConnection): void {
    if (!this.#wantsHostRead(conn)) return;
    const queue = conn.sendQueue;
    for (let round = 0; round < 2; round++) {
      const room = this.#sendRoom(conn);
      if (room <= 0) return;
      const length = queue.length;
      const at = queue.position(length);
      const span = queue.contiguous(length, room);
      const n = this.#sockets.recv(conn.handle, queue.bytes, at, span);
      if (n > 0) {
        conn.bytesToGuest += n;
        queue.setLength(length + n);
        if (n < span) return;
      } else if (n === 0) {
        conn.hostEof = true;
        return;
      } else if (n === -Errno.EAGAIN || n === -Errno.EINTR) {
        return;
      } else {
        this.#hostFailed(conn);
        return;
      }
    }
  }

  /** Writes queued guest data to the host; shuts the host's write side after the guest's FIN. */
  #flushToHost(conn: TcpConnection): void {
    if (
      conn.handle < 0 || conn.hostWriteShut || conn.state < TcpState.ESTABLISHED ||
      conn.state === TcpState.SYN_SENT
    ) {
      return;
    }
    const queue = conn.recvQueue;
    while (queue.length > 0) {
      const at = queue.position(0);
      const span = queue.contiguous(0, queue.length);
      const n = this.#sockets.send(conn.handle, queue.bytes, at, span);
      if (n > 0) {
        conn.bytesFromGuest += n;
        queue.consume(n);
        conn.hostSeq = seqAdd(conn.hostSeq, n);
        if (n < span) {
          conn.hostBlocked = true;
          break;
        }
      } else if (n === -Errno.EAGAIN || n === -Errno.EINTR) {
        conn.hostBlocked = true;
        break;
      } else {
        this.#hostFailed(conn);
        return;
      }
    }
    if (queue.length === 0) conn.hostBlocked = false;
    if (queue.length === 0 && conn.guestFinReceived) {
      this.#sockets.shutdownWrite(conn.handle);
      conn.hostWriteShut = true;
    }
    // RFC 9293 §3.8.6.2.2: tell a guest that was (nearly) stopped that the window opened.
    const advertised = seqDiff(conn.advRight, conn.rcvNxt);
    const mayStillSend = conn.state === TcpState.ESTABLISHED ||
      conn.state === TcpState.FIN_WAIT_1 || conn.state === TcpState.FIN_WAIT_2;
    if (mayStillSend && advertised < conn.sendMss && this.#acceptWindow(conn) >= conn.sendMss) {
      conn.ackPending = true;
    }
  }

  /** The host socket failed (reset, broken pipe): the guest gets RST, the connection goes. */
  #hostFailed(conn: TcpConnection): void {
    this.#counters.bump(C["tcp.host_reset"]);
    if (conn.state !== TcpState.CLOSED && conn.state !== TcpState.TIME_WAIT) {
      this.#counters.bump(C["tcp.rst_to_guest"]);
      this.#emit(conn, conn.sndNxt, TcpFlag.RST | TcpFlag.ACK, 0, 0);
    }
    this.#remove(conn, "close");
  }

  // ------------------------------------------------------------------------------ output

  /** Sends what the guest's window allows: data, then our FIN once the host's EOF was read. */
  #trySend(conn: TcpConnection, now: number): void {
    const state = conn.state;
    if (
      state !== TcpState.ESTABLISHED && state !== TcpState.CLOSE_WAIT &&
      state !== TcpState.FIN_WAIT_1 && state !== TcpState.LAST_ACK && state !== TcpState.CLOSING
    ) {
      return;
    }
    const dataEnd = seqAdd(conn.dataSeq, conn.sendQueue.length);
    const window = Math.min(conn.sndWnd, conn.cwnd);
    const windowEnd = seqAdd(conn.sndUna, window);
    // With offload, one frame carries as many whole MSS as fit in 64 KiB; the guest cuts it.
    const mss = conn.sendMss;
    const burst = this.#tx.tcpOffload ? Math.floor(MAX_OFFLOADED_DATA / mss) * mss : mss;
    let sent = false;
    while (seqLt(conn.sndNxt, dataEnd)) {
      const room = seqDiff(windowEnd, conn.sndNxt);
      if (room <= 0) break;
      const n = Math.min(burst, seqDiff(dataEnd, conn.sndNxt), room);
      const last = seqAdd(conn.sndNxt, n) === dataEnd;
      // The FIN rides on the last segment when the host is done and the window has room for it.
      const fin = last && conn.hostEof && n < room;
      const flags = TcpFlag.ACK | (last ? TcpFlag.PSH : 0) | (fin ? TcpFlag.FIN : 0);
      this.#sendSegment(conn, conn.sndNxt, flags, n, now);
      sent = true;
    }
    if (conn.hostEof && conn.sndNxt === dataEnd && seqLt(conn.sndNxt, windowEnd)) {
      this.#sendSegment(conn, conn.sndNxt, TcpFlag.ACK | TcpFlag.FIN, 0, now);
      sent = true;
    }
    if (!sent && conn.rtxAt === Infinity && this.#hasUnsent(conn)) {
      // Zero window (RFC 9293 §3.8.6.1): probe it when the persist timer fires.
      conn.rtxAt = now + conn.rto;
    }
  }

  /** Data or a FIN not yet sent. */
  #hasUnsent(conn: TcpConnection): boolean {
    const dataEnd = seqAdd(conn.dataSeq, conn.sendQueue.length);
    return seqLt(conn.sndNxt, dataEnd) || (conn.hostEof && !this.#finCovered(conn));
  }

  /** Whether SND.NXT is past our FIN. */
  #finCovered(conn: TcpConnection): boolean {
    return conn.finSent && seqGt(conn.sndNxt, conn.finSeq);
  }

  /** One segment at `seq` of `length` data bytes (and the FIN if flagged), with bookkeeping. */
  #sendSegment(conn: TcpConnection, seq: number, flags: number, length: number, now: number) {
    const retransmission = seqLt(seq, conn.sndMax);
    this.#emit(conn, seq, flags, seqDiff(seq, conn.dataSeq), length);
    let end = seqAdd(seq, length);
    if (flags & TcpFlag.FIN) {
      if (!conn.finSent) {
        conn.finSent = true;
        conn.finSeq = end;
        if (conn.state === TcpState.ESTABLISHED) conn.state = TcpState.FIN_WAIT_1;
        else if (conn.state === TcpState.CLOSE_WAIT) conn.state = TcpState.LAST_ACK;
      }
      end = seqAdd(end, 1);
    }
    if (retransmission) {
      this.#counters.bump(C["tcp.retransmit"]);
    } else if (conn.rttStart < 0) {
      conn.rttStart = now;
      conn.rttSeq = end;
    }
    if (!seqGt(conn.sndMax, conn.sndUna)) conn.progressAt = now;
    conn.sndNxt = end;
    if (seqGt(end, conn.sndMax)) conn.sndMax = end;
    conn.ackPending = false;
    // RFC 6298 §5.1: start the timer when it is not running.
    if (conn.rtxAt === Infinity) conn.rtxAt = now + conn.rto;
  }

  #sendSynAck(conn: TcpConnection, now: number): void {
    this.#emit(conn, conn.iss, TcpFlag.SYN | TcpFlag.ACK, 0, 0);
    conn.sndNxt = seqAdd(conn.iss, 1);
    conn.sndMax = conn.sndNxt;
    if (conn.rtxAt === Infinity) conn.rtxAt = now + conn.rto;
  }

  #sendAck(conn: TcpConnection): void {
    this.#emit(conn, conn.sndNxt, TcpFlag.ACK, 0, 0);
    conn.ackPending = false;
  }

  /** The window field for the next segment, moving the advertised right edge as it may. */
  #windowField(conn: TcpConnection, syn: boolean): number {
    const limit = conn.recvWindowLimit;
    const right = seqAdd(conn.hostSeq, limit);
    let edge = conn.advRight;
    // Receiver silly window avoidance (RFC 9293 §3.8.6.2.2): move the edge by at least
    // min(half the buffer, one MSS).
    if (seqGt(right, edge) && seqDiff(right, edge) >= Math.min(limit >>> 1, conn.sendMss)) {
      edge = right;
    }
    if (seqLt(edge, conn.rcvNxt)) edge = conn.rcvNxt;
    const window = seqDiff(edge, conn.rcvNxt);
    const field = syn ? Math.min(window, 0xffff) : Math.min(window >>> conn.rcvShift, 0xffff);
    const advertised = syn ? field : field << conn.rcvShift;
    const advertisedEdge = seqAdd(conn.rcvNxt, advertised);
    if (seqGt(advertisedEdge, conn.advRight)) conn.advRight = advertisedEdge;
    return field;
  }

  /** Builds and sends one segment of a connection (data from the send queue at `dataOffset`). */
  #emit(conn: TcpConnection, seq: number, flags: number, dataOffset: number, length: number) {
    const frame = this.#tx.frame;
    const at = payloadOffsetOf(conn.peerAddr);
    const syn = (flags & TcpFlag.SYN) !== 0;
    const optionsLength = syn ? 4 + (conn.wscaleOk ? 4 : 0) : 0;
    const window = (flags & TcpFlag.RST) ? 0 : this.#windowField(conn, syn);
    const ack = (flags & TcpFlag.ACK) ? conn.rcvNxt : 0;
    if (flags & TcpFlag.ACK) conn.ackedNxt = ack;
    emitTcpHeader(frame, at, conn.peerPort, conn.guestPort, seq, ack, flags, window, optionsLength);
    if (syn) {
      const next = emitTcpMssOption(frame, at + TCP_HEADER_LEN, conn.localMss);
      if (conn.wscaleOk) emitTcpWindowScaleOption(frame, next, conn.rcvShift);
    }
    const headerLength = TCP_HEADER_LEN + optionsLength;
    if (length > 0) conn.sendQueue.copyOut(dataOffset, frame, at + headerLength, length);
    const tcpLength = headerLength + length;
    const tx = this.#tx;
    if (tx.tcpOffload) {
      writeU16(frame, at + TCP.CHECKSUM, foldSum(conn.pseudoSum + tcpLength));
      tx.sendTcpOffloaded(
        conn.guestMac,
        conn.peerAddr,
        conn.guestAddr,
        TTL,
        tcpLength,
        length,
        conn.sendMss,
      );
      return;
    }
    writeU16(frame, at + TCP.CHECKSUM, 0);
    const sum = this.#sum(frame, at, tcpLength, foldSum(conn.pseudoSum + tcpLength));
    writeU16(frame, at + TCP.CHECKSUM, finishChecksum(sum));
    tx.sendIp(
      conn.guestMac,
      0,
      conn.peerAddr,
      conn.guestAddr,
      IpProtocol.TCP,
      TTL,
      0,
      tcpLength,
    );
  }

  /** A RST for a segment of no connection, addressed back to its sender. */
  #emitStateless(
    frame: Uint8Array,
    ip: IpPacket,
    seg: TcpSegment,
    seq: number,
    ack: number,
    flags: number,
  ): void {
    const out = this.#tx.frame;
    const at = payloadOffsetOf(ip.src);
    emitTcpHeader(out, at, seg.dstPort, seg.srcPort, seq, ack, flags, 0, 0);
    const pseudo = pseudoHeaderSum(ip.dst, ip.src, IpProtocol.TCP, TCP_HEADER_LEN);
    writeU16(out, at + TCP.CHECKSUM, finishChecksum(this.#sum(out, at, TCP_HEADER_LEN, pseudo)));
    this.#counters.bump(C["tcp.rst_to_guest"]);
    this.#tx.sendIp(frame, ETHERNET.SRC, ip.dst, ip.src, IpProtocol.TCP, TTL, 0, TCP_HEADER_LEN);
  }

  /**
   * ICMP destination unreachable from the gateway (fd00::2 for IPv6), quoting the guest's SYN:
   * host unreachable (`host`; ICMPv6 address unreachable) or net unreachable (ICMPv6 no route),
   * as libslirp answers a failed connect (RFC 792; RFC 4443 §3.1).
   */
  #sendUnreachable(
    mac: Uint8Array,
    macOffset: number,
    guestAddr: IpAddress,
    quote: Uint8Array,
    quoteOffset: number,
    quoteLength: number,
    host: boolean,
  ): void {
    const gateway = typeof guestAddr === "bigint"
      ? this.#addresses.ipv6!.gateway
      : this.#addresses.gateway;
    sendIcmpError(
      this.#tx,
      mac,
      macOffset,
      gateway,
      guestAddr,
      unreachableType(guestAddr),
      unreachableCode(host ? Errno.EHOSTUNREACH : Errno.ENETUNREACH, guestAddr),
      0,
      quote,
      quoteOffset,
      quoteLength,
    );
  }

  // ------------------------------------------------------------------------------ batches, timers

  /**
   * Ends a batch: writes queued guest data to host sockets, sends what the windows allow and the
   * ACKs owed, updates socket interest and timers of every connection touched since the last call.
   */
  flush(now: number): void {
    const dirty = this.#dirty;
    // Connections touched while flushing go to a fresh list, handled next time.
    this.#dirty = [];
    for (const conn of dirty) {
      conn.dirty = false;
      if (conn.removed) continue;
      this.#flushToHost(conn);
      if (conn.removed) continue;
      this.#trySend(conn, now);
      if (conn.ackPending) {
        if (this.#delayAcks && this.#mayDelayAck(conn)) {
          if (!conn.ackDelayed) {
            conn.ackDelayed = true;
            if (this.#delayed.length === 0) this.#delayedSince = now;
            this.#delayed.push(conn);
          }
        } else {
          this.#sendAck(conn);
        }
      }
      this.#settle(conn);
    }
  }

  /**
   * Whether the pending ACK of `conn` may wait (see `TcpRelayOptions.delayAcks`): established,
   * less than two full segments acknowledged by it (RFC 9293 §3.8.6.3: at least every second
   * full-sized segment is acknowledged at once), and no window update the guest waits for.
   */
  #mayDelayAck(conn: TcpConnection): boolean {
    const mss = conn.sendMss;
    return conn.state === TcpState.ESTABLISHED &&
      seqDiff(conn.rcvNxt, conn.ackedNxt) < 2 * mss &&
      seqDiff(conn.advRight, conn.rcvNxt) >= mss;
  }

  /** Whether ACKs wait for {@link sendDelayedAcks}. */
  get owesAcks(): boolean {
    return this.#delayed.length > 0;
  }

  /** When the oldest ACK waiting for {@link sendDelayedAcks} was held back (Infinity: none). */
  get delayedSince(): number {
    return this.#delayedSince;
  }

  /**
   * Sends the ACKs `flush` held back and not sent since with a segment (the caller is about to
   * sleep); returns how many it sent.
   */
  sendDelayedAcks(): number {
    const delayed = this.#delayed;
    if (delayed.length === 0) return 0;
    this.#delayed = [];
    this.#delayedSince = Infinity;
    let sent = 0;
    for (const conn of delayed) {
      conn.ackDelayed = false;
      if (conn.removed || !conn.ackPending) continue;
      this.#sendAck(conn);
      sent++;
    }
    return sent;
  }

  /** Closes the host socket when both directions are done, and applies interest and timer. */
  #settle(conn: TcpConnection): void {
    if (conn.handle >= 0 && conn.hostEof && conn.hostWriteShut) {
      this.#sockets.close(conn.handle);
      conn.handle = -1;
      conn.watchRead = false;
      conn.watchWrite = false;
      this.#counters.bump(C["tcp.closed"]);
      if (conn.state === TcpState.CLOSED) {
        this.#remove(conn, "close");
        return;
      }
    }
    if (conn.handle >= 0) {
      const read = this.#wantsHostRead(conn);
      const write = conn.state === TcpState.CONNECTING ||
        (conn.hostBlocked && conn.recvQueue.length > 0);
      if (read !== conn.watchRead || write !== conn.watchWrite) {
        conn.watchRead = read;
        conn.watchWrite = write;
        this.#sockets.watch(conn.handle, conn.id, read, write);
      }
    }
    this.#wheel.arm(conn, this.#deadline(conn));
    if (this.#byId.size < this.tunables.maxConnections * 0.9) this.#tableFullLogged = false;
  }

  /** The one deadline a connection waits for in its state. */
  #deadline(conn: TcpConnection): number {
    switch (conn.state) {
      case TcpState.CONNECTING:
      case TcpState.TIME_WAIT:
      case TcpState.CLOSED:
        return conn.stateDeadline;
      case TcpState.SYN_RECEIVED:
      case TcpState.SYN_SENT:
        return conn.rtxAt;
    }
    if (conn.rtxAt !== Infinity) return conn.rtxAt;
    const t = this.tunables;
    return conn.lastGuestActivity + t.keepaliveIdleMs + conn.keepalivesSent * t.keepaliveIntervalMs;
  }

  /** When `advanceTimers` should run next (ms, same clock), or Infinity. */
  nextWake(now: number): number {
    return this.#wheel.nextWake(now);
  }

  /** Fires due timers. Call `flush` afterwards. */
  advanceTimers(now: number): void {
    this.#wheel.advance(now, (entry) => this.#timer(entry as TcpConnection, now));
  }

  #timer(conn: TcpConnection, now: number): void {
    if (conn.removed) return;
    const counters = this.#counters;
    const t = this.tunables;
    switch (conn.state) {
      case TcpState.CONNECTING:
        this.#connectFailed(conn, Errno.ETIMEDOUT, now);
        return;
      case TcpState.TIME_WAIT:
        this.#guestDone(conn, now);
        return;
      case TcpState.CLOSED:
        // The host never took the guest's last data.
        counters.bump(C["tcp.timeout"]);
        this.#remove(conn, "reset");
        return;
      case TcpState.SYN_SENT:
        if (now < conn.rtxAt) break;
        if (++conn.backoff > t.synAckRetries) {
          // The guest does not answer: the host client is reset.
          counters.bump(C["tcp.forward_timeout"]);
          this.#remove(conn, "reset");
          return;
        }
        counters.bump(C["tcp.retransmit"]);
        conn.rto = Math.min(t.rtoMaxMs, conn.rtoBase * 2 ** conn.backoff);
        conn.rtxAt = now + conn.rto;
        this.#emit(conn, conn.iss, TcpFlag.SYN, 0, 0);
        break;
      case TcpState.SYN_RECEIVED:
        if (now < conn.rtxAt) break;
        if (++conn.backoff > t.synAckRetries) {
          counters.bump(C["tcp.timeout"]);
          this.#remove(conn, "reset");
          return;
        }
        counters.bump(C["tcp.retransmit"]);
        conn.rto = Math.min(t.rtoMaxMs, conn.rtoBase * 2 ** conn.backoff);
        conn.rtxAt = now + conn.rto;
        this.#sendSynAck(conn, now);
        break;
      default:
        if (conn.rtxAt !== Infinity) {
          if (now >= conn.rtxAt) this.#retransmitTimer(conn, now);
        } else if (now >= this.#deadline(conn)) {
          this.#keepalive(conn);
        }
    }
    if (!conn.removed) this.#touch(conn);
  }

  /** RFC 6298 §5.4–5.7 on expiry; or a zero-window probe (RFC 9293 §3.8.6.1). */
  #retransmitTimer(conn: TcpConnection, now: number): void {
    const counters = this.#counters;
    const t = this.tunables;
    conn.rtxAt = Infinity;
    const outstanding = seqGt(conn.sndMax, conn.sndUna);
    if (conn.sndWnd === 0 && (this.#hasUnsent(conn) || outstanding)) {
      // Persist: the guest answers probes while it lives, however long its window stays shut.
      if (now - conn.lastGuestActivity >= t.userTimeoutMs) {
        counters.bump(C["tcp.timeout"]);
        this.#abort(conn);
        return;
      }
      counters.bump(C["tcp.window_probe"]);
      conn.sndNxt = conn.sndUna;
      const dataEnd = seqAdd(conn.dataSeq, conn.sendQueue.length);
      if (seqLt(conn.sndNxt, dataEnd)) {
        this.#sendSegment(conn, conn.sndNxt, TcpFlag.ACK, 1, now);
      } else if (conn.hostEof) {
        this.#sendSegment(conn, conn.sndNxt, TcpFlag.ACK | TcpFlag.FIN, 0, now);
      }
      // Probes stay frequent enough that a live guest is never silent for the user timeout.
      conn.backoff = Math.min(conn.backoff + 1, 16);
      const longest = Math.min(t.rtoMaxMs, t.userTimeoutMs / 3);
      conn.rtxAt = Math.min(
        now + Math.min(longest, conn.rtoBase * 2 ** conn.backoff),
        conn.lastGuestActivity + t.userTimeoutMs,
      );
      return;
    }
    if (!outstanding) return;
    if (now - conn.progressAt >= t.userTimeoutMs) {
      counters.bump(C["tcp.timeout"]);
      this.#abort(conn);
      return;
    }
    // Go back to the first unacknowledged byte, one segment at a time (slow start), backing off.
    conn.backoff = Math.min(conn.backoff + 1, 16);
    conn.rto = Math.min(t.rtoMaxMs, conn.rtoBase * 2 ** conn.backoff);
    conn.cwnd = conn.sendMss;
    conn.sndNxt = conn.sndUna;
    conn.rttStart = -1;
    this.#trySend(conn, now);
    // The next expiry, but never later than the user timeout, so that the abort is on time.
    conn.rtxAt = Math.min(now + conn.rto, conn.progressAt + t.userTimeoutMs);
  }

  /** Keep-alive (RFC 9293 §3.8.4): a segment the guest must acknowledge; abort after the probes. */
  #keepalive(conn: TcpConnection): void {
    const t = this.tunables;
    if (conn.keepalivesSent >= t.keepaliveProbes) {
      this.#counters.bump(C["tcp.timeout"]);
      this.#abort(conn);
      return;
    }
    if (conn.keepalivesSent === 0) {
      // Idle: give the queues' memory back until data flows again.
      conn.sendQueue.trim();
      conn.recvQueue.trim();
    }
    conn.keepalivesSent++;
    this.#counters.bump(C["tcp.keepalive"]);
    // SEG.SEQ = SND.NXT − 1: out of the guest's window, so it answers with an ACK.
    this.#emit(conn, seqAdd(conn.sndNxt, -1), TcpFlag.ACK, 0, 0);
  }

  /** Gives up on a connection: RST to the guest and to the host. */
  #abort(conn: TcpConnection): void {
    this.#counters.bump(C["tcp.rst_to_guest"]);
    this.#emit(conn, conn.sndNxt, TcpFlag.RST | TcpFlag.ACK, 0, 0);
    this.#remove(conn, "reset");
  }

  /**
   * Ends every connection (the network stops): the guest gets RST for each synchronized one, the
   * host sockets are closed.
   */
  closeAll(): void {
    for (const conn of [...this.#byId.values()]) {
      if (conn.state !== TcpState.CONNECTING && conn.state < TcpState.TIME_WAIT) {
        this.#emit(conn, conn.sndNxt, TcpFlag.RST | TcpFlag.ACK, 0, 0);
      }
      this.#remove(conn, "close");
    }
  }

  // ------------------------------------------------------------------------------ table

  #touch(conn: TcpConnection): void {
    if (!conn.dirty && !conn.removed) {
      conn.dirty = true;
      this.#dirty.push(conn);
    }
  }

  #allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= LAST_CONNECTION_ID ? FIRST_ID : this.#nextId + 1;
      if (!this.#byId.has(id)) return id;
    }
  }

  #lookup(
    guestAddr: IpAddress,
    guestPort: number,
    peerAddr: IpAddress,
    peerPort: number,
  ): TcpConnection | null {
    const last = this.#last;
    if (
      last !== null && last.peerPort === peerPort && last.guestPort === guestPort &&
      last.peerAddr === peerAddr && last.guestAddr === guestAddr && !last.removed
    ) {
      return last;
    }
    const conn = this.#byPeer.get(peerKey(peerAddr, peerPort))?.get(guestKey(guestAddr, guestPort));
    if (conn === undefined) return null;
    this.#last = conn;
    return conn;
  }

  #insert(conn: TcpConnection): void {
    const key = peerKey(conn.peerAddr, conn.peerPort);
    let guests = this.#byPeer.get(key);
    if (guests === undefined) {
      guests = new Map();
      this.#byPeer.set(key, guests);
    }
    guests.set(guestKey(conn.guestAddr, conn.guestPort), conn);
    this.#byId.set(conn.id, conn);
  }

  #forwardTally(forwardId: number): ForwardTally {
    let tally = this.#forwardTallies.get(forwardId);
    if (tally === undefined) {
      tally = { connections: 0, bytesFromGuest: 0, bytesToGuest: 0 };
      this.#forwardTallies.set(forwardId, tally);
    }
    return tally;
  }

  /**
   * Per port forward (by API id): its connections so far and the bytes of those that are closed
   * (add `bytesFromGuest`/`bytesToGuest` of the open ones for the total).
   */
  get forwardTallies(): ReadonlyMap<number, Readonly<ForwardTally>> {
    return this.#forwardTallies;
  }

  /** Takes a connection out of the table; its host socket is closed or reset. */
  #remove(conn: TcpConnection, host: "close" | "reset"): void {
    if (conn.removed) return;
    conn.removed = true;
    if (conn.forwardId !== 0) {
      const tally = this.#forwardTally(conn.forwardId);
      tally.bytesFromGuest += conn.bytesFromGuest;
      tally.bytesToGuest += conn.bytesToGuest;
    }
    if (conn.state === TcpState.CONNECTING || conn.state === TcpState.SYN_RECEIVED) {
      this.#halfOpen--;
    }
    conn.state = TcpState.CLOSED;
    if (conn.handle >= 0) {
      if (host === "reset") this.#sockets.reset(conn.handle);
      else this.#sockets.close(conn.handle);
      conn.handle = -1;
    }
    this.#wheel.cancel(conn);
    conn.sendQueue.release();
    conn.recvQueue.release();
    const key = peerKey(conn.peerAddr, conn.peerPort);
    const guests = this.#byPeer.get(key);
    if (guests !== undefined) {
      guests.delete(guestKey(conn.guestAddr, conn.guestPort));
      if (guests.size === 0) this.#byPeer.delete(key);
    }
    this.#byId.delete(conn.id);
    if (this.#last === conn) this.#last = null;
  }
}
