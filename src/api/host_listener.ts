/**
 * The host side of port forwards: for each forward a TCP listen socket or a UDP socket bound to
 * `host_addr:host_port` in the host's namespaces, watched by the main thread's epoll loop. What
 * arrives is handed to a `ForwardSink` (the stack): accepted TCP connections as fds, UDP datagrams
 * as per-client flows whose replies go back to the client from the forward's socket.
 *
 * Theory of operation
 * - TCP: listen(2) with a real backlog (`FORWARD_BACKLOG`; slirp4netns uses 1 and resets most of
 *   100 simultaneous connections), accept4 up to `ACCEPT_BUDGET` per wake-up, each fd handed over at
 *   once. Nothing per connection is kept here: the sink owns the fd from the call on. When the
 *   process runs out of fds (or memory) the listener pauses `ACCEPT_PAUSE_MS` instead of spinning;
 *   clients wait in the kernel's backlog meanwhile.
 * - UDP: a flow per client address:port, created by its first datagram, kept while it is active in
 *   either direction (`UDP_FLOW_IDLE_MS`, libslirp's SO_EXPIRE), at most `MAX_UDP_FLOWS_PER_FORWARD`
 *   per forward (the least recently active goes first). The guest's replies find their flow through
 *   `flowForGuestReply` by the 4-tuple the guest sees.
 * - Sources as libslirp gives them to the guest: the client's real address, except that 127.0.0.0/8
 *   and 0.0.0.0 become the gateway address (reference §2.1, "Forwarding semantics"); the same for
 *   IPv6 (::1 and :: become fd00::2), and a client of the other family than the guest address
 *   (an IPv6 client of a forward to 10.0.2.100) appears as the gateway of the guest's family.
 * - IPv6 listeners are IPv6-only (IPV6_V6ONLY), so `0.0.0.0` and `::` forwards of one port coexist
 *   and every client address is of the listener's family.
 * - Removing a forward closes its socket at once. TCP connections already handed over are the
 *   sink's and finish normally; the forward's UDP flows end with it.
 *
 * Memory: per forward one fd and a few hundred bytes; per UDP flow about 200 bytes, so at most about
 * 200 KiB per UDP forward; per TCP connection nothing here (the kernel holds up to the backlog of
 * not yet accepted connections).
 */
import { EAGAIN, EBADF, ECONNABORTED, EINTR, errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import {
  AF_INET,
  AF_INET6,
  decodeSockaddr,
  encodeSockaddr,
  EPOLLIN,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  MSG_TRUNC,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOCKADDR_IN6_SIZE,
  SOL_SOCKET,
} from "../ffi/sockaddr.ts";
import { type IpAddress, IPV6_LOOPBACK } from "../wire/address.ts";
import { log } from "../log.ts";
import type { ForwardSpec } from "./protocol.ts";
import type { Readiness } from "./readiness.ts";

/** listen(2) backlog of a TCP forward; the kernel caps it at net.core.somaxconn (4096 by default). */
export const FORWARD_BACKLOG = 4096;
/** Connections accepted per wake-up before other fds get their turn. */
export const ACCEPT_BUDGET = 256;
/** Datagrams received per wake-up before other fds get their turn. */
export const RECEIVE_BUDGET = 64;
/** A UDP flow without traffic either way for this long is forgotten (libslirp SO_EXPIRE). */
export const UDP_FLOW_IDLE_MS = 240_000;
/** UDP clients remembered per forward. */
export const MAX_UDP_FLOWS_PER_FORWARD = 1024;
/** How long a TCP listener rests after accept failed for lack of fds or memory. */
export const ACCEPT_PAUSE_MS = 100;

/** A host client of a forward. */
export interface ForwardClient {
  /** The client's real address and port on the host. */
  readonly address: IpAddress;
  readonly port: number;
  /**
   * The source address the guest must see, of the guest address's family: `address`, or the
   * gateway for a loopback client or one of the other family.
   */
  readonly addressForGuest: IpAddress;
}

/** The gateway of each family: what loopback clients appear as. */
export interface Gateways {
  ipv4: number;
  /** fd00::2 with `-6`. */
  ipv6?: bigint;
}

/**
 * The source address libslirp shows the guest at `guestAddr` for a forwarded client: 127.0.0.0/8,
 * 0.0.0.0, ::1 and :: become the gateway (the guest could not answer them), every other address
 * of the guest's family is kept, and one of the other family is the gateway of the guest's.
 *
 * @example
 * ```ts
 * import { addressForGuest } from "./host_listener.ts";
 * const gateways = { ipv4: 0x0a000202, ipv6: 0xfd00n << 112n | 2n };
 * addressForGuest(0x7f000001, 0x0a000264, gateways); // 0x0a000202: 127.0.0.1 appears as 10.0.2.2
 * addressForGuest(0xc0000202, 0x0a000264, gateways); // 0xc0000202: 192.0.2.2 is kept
 * addressForGuest(1n, 0xfd00n << 112n | 100n, gateways); // fd00::2 for ::1
 * ```
 */
export function addressForGuest(
  client: IpAddress,
  guestAddr: IpAddress,
  gateways: Gateways,
): IpAddress {
  if (typeof guestAddr === "bigint") {
    const gateway = gateways.ipv6 ?? 0n;
    return typeof client !== "bigint" || client === IPV6_LOOPBACK || client === 0n
      ? gateway
      : client;
  }
  return typeof client !== "number" || client >>> 24 === 127 || client === 0
    ? gateways.ipv4
    : client;
}

/** One client of a UDP forward, as the stack sees it. */
export interface UdpForwardFlow {
  /** The id of the forward (as `add_hostfwd` returned it). */
  readonly forwardId: number;
  readonly client: ForwardClient;
  /** Where the datagrams go in the guest. */
  readonly guestAddr: IpAddress;
  readonly guestPort: number;
  /** When the flow was created (the forwards' clock, ms). */
  readonly createdAt: number;
  /** Payload bytes from the client to the guest, and from the guest to the client. */
  readonly bytesToGuest: number;
  readonly bytesFromGuest: number;
  /**
   * Sends a datagram from the guest to the client, from the forward's socket (so its source is
   * `host_addr:host_port`, what the client sent to). Returns the bytes sent or -errno (-EBADF once
   * the forward is removed or the flow forgotten).
   */
  sendToClient(payload: Uint8Array): number;
}

/**
 * Where forwarded traffic goes: the stack. Phase 2 connects it to the TCP relay and the UDP NAT.
 */
export interface ForwardSink {
  /**
   * A host client connected to a TCP forward. The sink owns `fd` (non-blocking, close-on-exec,
   * already accepted) from this call on and must close it; it opens a connection to
   * `guestAddr:guestPort` from `client.addressForGuest:client.port` and relays bytes both ways.
   * `forwardId` is the forward's API id (for get_stats).
   */
  acceptedTcp(
    fd: number,
    client: ForwardClient,
    guestAddr: IpAddress,
    guestPort: number,
    forwardId: number,
  ): void;
  /**
   * Where the next forwarded datagram is received, read before each receive: typically the
   * payload area of the next frame to the guest, so the datagram is copied once.
   */
  readonly udpBuffer: Uint8Array;
  readonly udpOffset: number;
  /** Bytes of room at `udpOffset`; a longer datagram is dropped (counted in `udpTooLong`). */
  readonly udpRoom: number;
  /**
   * A datagram of `length` bytes from `flow.client` is at `udpBuffer[udpOffset…]`: send it to the
   * guest as UDP from `flow.client.addressForGuest:flow.client.port` to
   * `flow.guestAddr:flow.guestPort`. The guest's answers come back through `flowForGuestReply`.
   */
  udpDatagram(flow: UdpForwardFlow, length: number, now: number): void;
}

/** Addresses the forwards need from the network's configuration. */
export interface HostForwardsOptions {
  /** What loopback clients appear as in the guest (network + 2; fd00::2 with `-6`). */
  gateways: Gateways;
  /** Where a forward to guest address 0.0.0.0 goes, as libslirp does (network + 15). */
  dhcpStart: number;
  /** The clock in milliseconds; default `performance.now`. */
  now?: () => number;
}

/** What the API needs of the host listeners: HostForwards, or a fake in tests. */
export interface ForwardListeners {
  /** Opens the host socket of forward `id`; 0, or -errno when the host refused. */
  open(id: number, spec: ForwardSpec): number;
  /** Closes the host socket of forward `id` at once; false if it is not open. */
  close(id: number): boolean;
  /** Closes every forward's socket. */
  closeAll(): void;
}

/** Events and failures, for logs and tests. */
export interface HostForwardStats {
  tcpAccepted: number;
  /** Times a TCP listener paused for lack of fds or memory. */
  tcpAcceptPaused: number;
  udpFromClients: number;
  /** Datagrams from clients longer than the sink's room, dropped. */
  udpTooLong: number;
  udpToClients: number;
  udpFlowsCreated: number;
  /** Flows forgotten to make room, before they were idle for `UDP_FLOW_IDLE_MS`. */
  udpFlowsEvicted: number;
}

/** A map key for an address and port: a 48-bit number for IPv4, a bigint for IPv6. */
function endpointKey(address: IpAddress, port: number): number | bigint {
  return typeof address === "bigint" ? (address << 16n) | BigInt(port) : address * 65536 + port;
}

/**
 * What one forward carried (get_stats): TCP clients accepted, or UDP flows created, and for UDP
 * the payload bytes each way (TCP bytes are counted by the TCP worker).
 */
export interface ForwardUsage {
  proto: "tcp" | "udp";
  connections: number;
  /** UDP flows alive now (0 for TCP). */
  openFlows: number;
  bytesToGuest: number;
  bytesFromGuest: number;
}

interface Listener {
  readonly id: number;
  readonly fd: number;
  readonly port: number;
  readonly usage: ForwardUsage;
  close(): void;
}

/** Scratch space for socket addresses: everything runs on one thread, one call at a time. */
class AddressScratch {
  readonly bytes = new Uint8Array(SOCKADDR_IN6_SIZE);
  readonly #length = new Int32Array(1);
  readonly lengthBytes = new Uint8Array(this.#length.buffer);

  /** Resets the in/out length before accept/recvfrom/getsockname. */
  reset(): Uint8Array {
    this.#length[0] = this.bytes.length;
    return this.lengthBytes;
  }
}

/**
 * The host listeners of all forwards.
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { Reactor } from "../host/reactor.ts";
 * import { HostForwards } from "./host_listener.ts";
 * const shim = await loadShim();
 * const reactor = Reactor.create(shim);
 * const sink = {
 *   acceptedTcp: (fd: number) => shim.shim_close(fd),
 *   udpBuffer: new Uint8Array(2048), udpOffset: 0, udpRoom: 2048,
 *   udpDatagram: () => {},
 * };
 * const forwards = new HostForwards(shim, reactor, sink, {
 *   gateways: { ipv4: 0x0a000202 },
 *   dhcpStart: 0x0a00020f,
 * });
 * const spec = { proto: "tcp" as const, hostAddr: 0x7f000001, hostPort: 0, guestAddr: 0x0a000264, guestPort: 80 };
 * forwards.open(1, spec); // 0, or -errno (e.g. -98 EADDRINUSE)
 * forwards.hostPort(1); // the port the kernel chose
 * forwards.close(1);
 * await reactor.stop();
 * ```
 */
export class HostForwards implements ForwardListeners {
  readonly stats: HostForwardStats = {
    tcpAccepted: 0,
    tcpAcceptPaused: 0,
    udpFromClients: 0,
    udpTooLong: 0,
    udpToClients: 0,
    udpFlowsCreated: 0,
    udpFlowsEvicted: 0,
  };
  readonly #shim: Shim;
  readonly #readiness: Readiness;
  readonly #sink: ForwardSink;
  readonly #gateways: Gateways;
  readonly #dhcpStart: number;
  /** @internal The clock. */
  readonly now: () => number;
  readonly #listeners = new Map<number, Listener>();
  /** @internal */
  readonly scratch = new AddressScratch();
  /** UDP flows by the guest's view: (addressForGuest:clientPort) → (guestAddr:guestPort) → flow. */
  readonly #replyIndex = new Map<number | bigint, Map<number | bigint, UdpFlow>>();

  constructor(shim: Shim, readiness: Readiness, sink: ForwardSink, options: HostForwardsOptions) {
    this.#shim = shim;
    this.#readiness = readiness;
    this.#sink = sink;
    this.#gateways = options.gateways;
    this.#dhcpStart = options.dhcpStart;
    this.now = options.now ?? (() => performance.now());
  }

  /** Forwards listening now. */
  get size(): number {
    return this.#listeners.size;
  }

  /** What each open forward carried so far, by id (a copy). */
  usage(): Map<number, ForwardUsage> {
    const out = new Map<number, ForwardUsage>();
    for (const [id, listener] of this.#listeners) out.set(id, { ...listener.usage });
    return out;
  }

  /** Every UDP flow of every forward now, for get_stats's flow list. */
  udpFlows(): UdpForwardFlow[] {
    const out: UdpForwardFlow[] = [];
    for (const inner of this.#replyIndex.values()) out.push(...inner.values());
    return out;
  }

  /**
   * Opens the host socket of forward `id`: binds `hostAddr:hostPort` (port 0 lets the kernel
   * choose, for tests; an IPv6 socket IPv6-only) and starts serving it. Returns 0, or -errno when
   * the host refused (the forward then does not exist).
   */
  open(id: number, spec: ForwardSpec): number {
    if (this.#listeners.has(id)) return -EBADF;
    const guestAddr = spec.guestAddr === 0 ? this.#dhcpStart : spec.guestAddr;
    const type = spec.proto === "tcp" ? SOCK_STREAM : SOCK_DGRAM;
    const shim = this.#shim;
    const ipv6 = typeof spec.hostAddr === "bigint";
    const fd = shim.shim_socket(ipv6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    const failed = (rc: number) => {
      shim.shim_close(fd);
      return rc;
    };
    if (ipv6) {
      const only = shim.shim_setsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
      if (only < 0) return failed(only);
    }
    // TCP: SO_REUSEADDR lets a forward be added again while old connections sit in TIME_WAIT; two
    // listeners on one port stay impossible. UDP: no SO_REUSEADDR (libslirp sets it), so that a
    // second socket on a port in use fails with EADDRINUSE instead of stealing datagrams.
    if (spec.proto === "tcp") shim.shim_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    const sa = this.scratch.bytes;
    const bound = shim.shim_bind(fd, sa, encodeSockaddr(sa, spec.hostAddr, spec.hostPort));
    if (bound < 0) return failed(bound);
    if (spec.proto === "tcp") {
      const listening = shim.shim_listen(fd, FORWARD_BACKLOG);
      if (listening < 0) return failed(listening);
    }
    const named = shim.shim_getsockname(fd, sa, this.scratch.reset());
    if (named < 0) return failed(named);
    const port = decodeSockaddr(sa)?.port ?? spec.hostPort;
    const listener = spec.proto === "tcp"
      ? new TcpListener(this, this.#sink, id, fd, port, guestAddr, spec.guestPort)
      : new UdpListener(this, this.#sink, id, fd, port, guestAddr, spec.guestPort);
    const token = this.#readiness.add(fd, EPOLLIN, (events) => listener.ready(events));
    if (token < 0) return failed(token);
    listener.token = token;
    this.#listeners.set(id, listener);
    return 0;
  }

  /** The port forward `id` listens on, if it is open. */
  hostPort(id: number): number | undefined {
    return this.#listeners.get(id)?.port;
  }

  /** Closes the socket of forward `id` at once; false if it is not open. */
  close(id: number): boolean {
    const listener = this.#listeners.get(id);
    if (listener === undefined) return false;
    this.#listeners.delete(id);
    listener.close();
    return true;
  }

  /** Closes every forward's socket. */
  closeAll(): void {
    for (const id of [...this.#listeners.keys()]) this.close(id);
  }

  /**
   * The UDP forward flow a datagram from the guest belongs to: one sent from `guestAddr:guestPort`
   * to `dstAddr:dstPort` is a reply to the forwarded client that appears to the guest as
   * `dstAddr:dstPort`. Ask before treating the datagram as new outbound traffic (this also makes
   * replies work with --disable-host-loopback, where slirp4netns drops them: Podman #4586).
   */
  flowForGuestReply(
    guestAddr: IpAddress,
    guestPort: number,
    dstAddr: IpAddress,
    dstPort: number,
    now: number,
  ): UdpForwardFlow | undefined {
    const flow = this.#replyIndex.get(endpointKey(dstAddr, dstPort))
      ?.get(endpointKey(guestAddr, guestPort));
    if (flow === undefined) return undefined;
    if (now - flow.lastActive >= UDP_FLOW_IDLE_MS) {
      flow.listener.forget(flow);
      return undefined;
    }
    return flow;
  }

  /** @internal */
  unwatch(listener: Listener & { token: number }): void {
    this.#readiness.remove(listener.token, listener.fd);
  }

  /** @internal Pauses (events 0) or resumes (EPOLLIN) a listener. */
  watch(listener: Listener & { token: number }, events: number): void {
    this.#readiness.modify(listener.token, listener.fd, events);
  }

  /** @internal */
  get shim(): Shim {
    return this.#shim;
  }

  /** @internal The client at `address:port` of a forward to `guestAddr`. */
  clientOf(address: IpAddress, port: number, guestAddr: IpAddress): ForwardClient {
    return { address, port, addressForGuest: addressForGuest(address, guestAddr, this.#gateways) };
  }

  /** @internal */
  indexFlow(flow: UdpFlow): void {
    const outer = endpointKey(flow.client.addressForGuest, flow.client.port);
    let inner = this.#replyIndex.get(outer);
    if (inner === undefined) this.#replyIndex.set(outer, inner = new Map());
    // Two clients that look alike to the guest (127.0.0.1:p and 127.0.0.2:p): the newer wins.
    inner.set(endpointKey(flow.guestAddr, flow.guestPort), flow);
  }

  /** @internal */
  unindexFlow(flow: UdpFlow): void {
    const outer = endpointKey(flow.client.addressForGuest, flow.client.port);
    const inner = this.#replyIndex.get(outer);
    const key = endpointKey(flow.guestAddr, flow.guestPort);
    if (inner?.get(key) !== flow) return;
    inner.delete(key);
    if (inner.size === 0) this.#replyIndex.delete(outer);
  }
}

class TcpListener implements Listener {
  token = -1;
  readonly usage: ForwardUsage = {
    proto: "tcp",
    connections: 0,
    openFlows: 0,
    bytesToGuest: 0,
    bytesFromGuest: 0,
  };
  #pauseTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    private readonly forwards: HostForwards,
    private readonly sink: ForwardSink,
    readonly id: number,
    readonly fd: number,
    readonly port: number,
    private readonly guestAddr: IpAddress,
    private readonly guestPort: number,
  ) {}

  ready(_events: number): void {
    const forwards = this.forwards;
    const shim = forwards.shim;
    const scratch = forwards.scratch;
    for (let i = 0; i < ACCEPT_BUDGET && !this.#closed; i++) {
      const conn = shim.shim_accept(this.fd, scratch.bytes, scratch.reset());
      if (conn === -EAGAIN) return;
      if (conn === -EINTR || conn === -ECONNABORTED) continue;
      if (conn < 0) {
        // EMFILE, ENFILE, ENOBUFS, ENOMEM: the socket stays readable, so rest instead of spinning.
        forwards.stats.tcpAcceptPaused++;
        log.warn(`forward ${this.id}: accept: ${errnoText(shim, -conn)}; pausing`);
        this.#pause();
        return;
      }
      forwards.stats.tcpAccepted++;
      this.usage.connections++;
      const peer = decodeSockaddr(scratch.bytes) ?? { address: 0, port: 0 };
      const client = forwards.clientOf(peer.address, peer.port, this.guestAddr);
      try {
        this.sink.acceptedTcp(conn, client, this.guestAddr, this.guestPort, this.id);
      } catch (error) {
        shim.shim_close(conn);
        log.error(`forward ${this.id}: ${error instanceof Error ? error.stack : error}`);
      }
    }
  }

  #pause(): void {
    this.forwards.watch(this, 0);
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = undefined;
      if (!this.#closed) this.forwards.watch(this, EPOLLIN);
    }, ACCEPT_PAUSE_MS);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pauseTimer);
    this.forwards.unwatch(this);
    this.forwards.shim.shim_close(this.fd);
  }
}

class UdpFlow implements UdpForwardFlow {
  /** When the flow last carried a datagram either way. */
  lastActive: number;
  readonly createdAt: number;
  bytesToGuest = 0;
  bytesFromGuest = 0;
  /** `lastActive` when the flow last moved to the tail of its listener's map. */
  orderedAt: number;
  closed = false;
  readonly #clientAddress = new Uint8Array(SOCKADDR_IN6_SIZE);
  readonly #clientAddressLength: number;

  constructor(
    readonly listener: UdpListener,
    readonly forwardId: number,
    readonly client: ForwardClient,
    readonly guestAddr: IpAddress,
    readonly guestPort: number,
    now: number,
  ) {
    this.lastActive = this.orderedAt = this.createdAt = now;
    this.#clientAddressLength = encodeSockaddr(this.#clientAddress, client.address, client.port);
  }

  sendToClient(payload: Uint8Array): number {
    if (this.closed) return -EBADF;
    const listener = this.listener;
    const n = listener.forwards.shim.shim_sendto(
      listener.fd,
      payload,
      payload.length,
      0,
      this.#clientAddress,
      this.#clientAddressLength,
    );
    if (n >= 0) {
      this.lastActive = listener.forwards.now();
      listener.forwards.stats.udpToClients++;
      listener.usage.bytesFromGuest += payload.length;
      this.bytesFromGuest += payload.length;
    }
    return n;
  }
}

class UdpListener implements Listener {
  token = -1;
  readonly usage: ForwardUsage = {
    proto: "udp",
    connections: 0,
    openFlows: 0,
    bytesToGuest: 0,
    bytesFromGuest: 0,
  };
  /** Flows by client address:port, roughly least recently active first (see `#sweep`). */
  readonly #flows = new Map<number | bigint, UdpFlow>();
  #closed = false;

  constructor(
    readonly forwards: HostForwards,
    private readonly sink: ForwardSink,
    readonly id: number,
    readonly fd: number,
    readonly port: number,
    private readonly guestAddr: IpAddress,
    private readonly guestPort: number,
  ) {}

  ready(_events: number): void {
    const forwards = this.forwards;
    const shim = forwards.shim;
    const scratch = forwards.scratch;
    const sink = this.sink;
    for (let i = 0; i < RECEIVE_BUDGET && !this.#closed; i++) {
      const offset = sink.udpOffset;
      const room = sink.udpRoom;
      const area = sink.udpBuffer.subarray(offset, offset + room);
      // MSG_TRUNC: the datagram's real length, so one that does not fit is dropped, not cut.
      const n = shim.shim_recvfrom(this.fd, area, room, MSG_TRUNC, scratch.bytes, scratch.reset());
      if (n === -EAGAIN) return;
      if (n < 0) continue; // EINTR, or an error queued by an earlier send: next datagram
      if (n > room) {
        forwards.stats.udpTooLong++;
        continue;
      }
      const peer = decodeSockaddr(scratch.bytes);
      if (peer === null) continue;
      const now = forwards.now();
      const flow = this.#flowFor(peer.address, peer.port, now);
      flow.lastActive = now;
      flow.bytesToGuest += n;
      this.usage.bytesToGuest += n;
      forwards.stats.udpFromClients++;
      try {
        sink.udpDatagram(flow, n, now);
      } catch (error) {
        log.error(`forward ${this.id}: ${error instanceof Error ? error.stack : error}`);
      }
    }
  }

  #flowFor(address: IpAddress, port: number, now: number): UdpFlow {
    const key = endpointKey(address, port);
    const known = this.#flows.get(key);
    if (known !== undefined) return known;
    this.#sweep(now);
    if (this.#flows.size >= MAX_UDP_FLOWS_PER_FORWARD) {
      const oldest = this.#flows.values().next().value;
      if (oldest !== undefined) {
        this.forwards.stats.udpFlowsEvicted++;
        this.forget(oldest);
      }
    }
    const client = this.forwards.clientOf(address, port, this.guestAddr);
    const flow = new UdpFlow(this, this.id, client, this.guestAddr, this.guestPort, now);
    this.#flows.set(key, flow);
    this.forwards.indexFlow(flow);
    this.forwards.stats.udpFlowsCreated++;
    this.usage.connections++;
    this.usage.openFlows++;
    return flow;
  }

  /**
   * Forgets idle flows from the head of the map. Activity only stamps `lastActive`; a head that
   * was active since it was ordered moves to the tail here, so the map stays in order of activity
   * at amortized constant cost, and the sweep stops at the first head that is neither.
   */
  #sweep(now: number): void {
    let steps = this.#flows.size;
    for (const [key, flow] of this.#flows) {
      if (steps-- <= 0) return;
      if (now - flow.lastActive >= UDP_FLOW_IDLE_MS) {
        this.forget(flow);
      } else if (flow.lastActive > flow.orderedAt) {
        this.#flows.delete(key);
        this.#flows.set(key, flow);
        flow.orderedAt = flow.lastActive;
      } else {
        return;
      }
    }
  }

  forget(flow: UdpFlow): void {
    if (flow.closed) return;
    flow.closed = true;
    this.usage.openFlows--;
    this.#flows.delete(endpointKey(flow.client.address, flow.client.port));
    this.forwards.unindexFlow(flow);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const flow of [...this.#flows.values()]) this.forget(flow);
    this.forwards.unwatch(this);
    this.forwards.shim.shim_close(this.fd);
  }
}
