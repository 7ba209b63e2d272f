/**
 * One running network: the tap-reader Worker runs the dispatcher and feeds the TCP and DNS
 * Workers and this thread through rings; this thread runs the UDP and ICMP NAT and the API.
 *
 * ```
 *  tap ─▶ [tap reader: Dispatcher] ─┬─ ARP, ICMP echo, DHCP ─────────────────────▶ tap
 *                                   ├─ ring ─▶ [TCP worker] ◀─▶ host TCP sockets ─▶ tap
 *                                   ├─ ring ─▶ [DNS worker] ◀─▶ nameservers ──────▶ tap
 *                                   └─ ring ─▶ this thread: UDP/ICMP NAT ◀─▶ host ─▶ tap
 * ```
 *
 * Every thread writes its own frames to the tap (tun writes are atomic per frame).
 */
import { setImmediate } from "node:timers";
import { type Addresses, type Config, deriveAddresses } from "./config.ts";
import { errnoText } from "./ffi/errno.ts";
import { loadShim, type Shim } from "./ffi/shim.ts";
import { LEVELS, logEnabled } from "./log.ts";
import { FrameRing } from "./ring/frame_ring.ts";
import { ArpResponder } from "./stack/arp.ts";
import { Counters } from "./stack/counters.ts";
import { GuestNeighbors } from "./stack/neighbors.ts";
import { GuestTx } from "./stack/guest_tx.ts";
import { NeighborDiscovery } from "./stack/ndp.ts";
import { IpProtocol } from "./wire/ipv4.ts";
import { readU32 } from "./wire/view.ts";
import { type IpAddress, readIpv6 } from "./wire/address.ts";
import { DatagramNat } from "./host/datagram_nat.ts";
import { DnsRelay } from "./host/dns_relay.ts";
import { TcpService } from "./host/tcp_service.ts";
import { WorkerThread } from "./host/worker_thread.ts";
import type { CaptureShare } from "./link/capture.ts";
import { type Tap, tapWriter } from "./link/tap_writer.ts";
import { NEIGHBOR6_RECORD, NEIGHBOR_RECORD } from "./workers/records.ts";
import type { TapReaderStart } from "./workers/tap_reader.ts";
import { ApiService, type ApiSocketFile, HostForwards } from "./api/mod.ts";
import { PortForwardSink } from "./host/port_forwards.ts";
import { TAP_READER_URL } from "./workers/urls.ts";
import { type StatsParts, statsReturn, udpForwardFlowStats } from "./api/stats.ts";

/** Bytes of ring from the tap reader to this thread (UDP and ICMP): 64 frames of 64 KiB. */
const DATAGRAM_RING_BYTES = 4 * 1024 * 1024;
/**
 * The largest frame read from the tap, and in the datagram ring: a 64 KiB datagram (a TCP
 * super-frame, or a reassembled one) behind Ethernet.
 */
const MAX_TAP_FRAME = 14 + 65535;
/** How long get_stats waits for a worker's snapshot; the request is answered within 100 ms. */
const SNAPSHOT_TIMEOUT_MS = 50;
/** Frames handled before the event loop gets a turn (signals, timers, API clients). */
const FRAMES_PER_TURN = 256;
/** Offset of the IPv4 protocol byte in a frame (RFC 791 header, behind 14 bytes of Ethernet). */
const IPV4_PROTOCOL_AT = 14 + 9;
/** Offset of the IPv6 next header byte (the upper layer's: the dispatcher strips the rest). */
const IPV6_NEXT_HEADER_AT = 14 + 6;

/** A running network. Create with {@link Network.start}. */
export class Network {
  /** The network's addresses (gateway, DNS, DHCP range, guest), from `--cidr`. */
  readonly addresses: Addresses;
  /** This thread's counters (UDP and ICMP NAT, port forwards). */
  private readonly counters: Counters = new Counters();
  /** The tap reader's counters (frames, ARP, IPv4, ICMP echo, DHCP, ring drops). */
  private readonly readerCounters: Counters = new Counters(
    new SharedArrayBuffer(Counters.BYTE_LENGTH),
  );
  /** UDP and ICMP NAT on this thread. */
  private readonly nat: DatagramNat;
  /** The DNS-resolver Worker, or null with `--disable-dns`. */
  private readonly dns: DnsRelay | null;
  /** The TCP connection-table Worker. */
  private readonly tcp: TcpService;
  /** The tap, and whether it carries virtio-net headers (TCP offload). */
  private readonly tap: Tap;
  /**
   * Resolves true once every Worker has started, so frames from the guest are answered; false
   * once one has failed to (it logged why). Frames the guest sends earlier wait in the tap's queue.
   */
  readonly started: Promise<boolean>;
  /**
   * Resolves when the link's peer has hung up: a BESS client closed its socket
   * (src/link/bess.ts). Never for a tap. The network still has to be stopped.
   */
  readonly hungUp: Promise<void>;
  readonly #shim: Shim;
  readonly #stopFd: number;
  readonly #datagrams: FrameRing;
  readonly #reader: WorkerThread;
  readonly #consumer: Promise<void>;
  /** The guest MACs the tap reader learned, replicated here for port forwards. */
  readonly #neighbors: GuestNeighbors;
  readonly #arp: ArpResponder;
  /** Neighbor solicitations for port forwards (with `-6`). */
  readonly #ndp: NeighborDiscovery | null;
  /** This thread's transmit side (NAT replies, ARP requests for port forwards). */
  readonly #tx: GuestTx;
  #api: ApiService | null = null;
  #forwardSink: PortForwardSink | null = null;
  #stopping: Promise<void> | undefined;

  private constructor(shim: Shim, config: Config, tap: Tap, stopFd: number) {
    this.#shim = shim;
    this.tap = tap;
    this.#stopFd = stopFd;
    const addresses = deriveAddresses(config.network, config.prefix, config.enableIpv6);
    this.addresses = addresses;
    const tx = new GuestTx(
      tapWriter(shim, tap, "NAT", this.counters),
      config.mtu,
      addresses,
      this.counters,
    );
    this.#tx = tx;
    this.#neighbors = new GuestNeighbors(addresses);
    this.#arp = new ArpResponder(addresses, this.#neighbors, tx, this.counters);
    this.#ndp = addresses.ipv6 &&
      new NeighborDiscovery(addresses, config.mtu, this.#neighbors, tx, this.counters);
    this.nat = DatagramNat.start({
      shim,
      addresses,
      tx,
      counters: this.counters,
      disableHostLoopback: config.disableHostLoopback,
      disableDns: config.disableDns,
      outboundAddr: config.outboundAddr,
      outboundAddr6: config.outboundAddr6,
    });
    let dns: DnsRelay | null = null;
    try {
      dns = config.disableDns ? null : DnsRelay.start({ shim, config, tap });
      this.tcp = TcpService.start({ shim, config, tap, counters: this.counters });
    } catch (error) {
      this.nat.stop();
      dns?.stop();
      throw error;
    }
    this.dns = dns;
    this.#datagrams = FrameRing.create(DATAGRAM_RING_BYTES, { maxFrame: MAX_TAP_FRAME });
    const start: TapReaderStart = {
      tap,
      stopFd,
      maxFrame: MAX_TAP_FRAME,
      mtu: config.mtu,
      network: config.network,
      prefix: config.prefix,
      ipv6: config.enableIpv6,
      counters: this.readerCounters.values.buffer as SharedArrayBuffer,
      logLevel: LEVELS.filter(logEnabled).at(-1) ?? "error",
      tcp: this.tcp.feed,
      dns: this.dns?.feed ?? null,
      datagrams: this.#datagrams.buffer,
    };
    this.#reader = WorkerThread.start(
      "tap reader",
      TAP_READER_URL,
      start,
    );
    this.hungUp = new Promise((resolve) => this.#reader.onHangup = resolve);
    this.#consumer = this.#consume();
    this.started = Promise.all([this.#reader.started, this.tcp.started, this.dns?.started ?? true])
      .then((all) => all.every(Boolean));
  }

  /**
   * Starts the stack on an open tap fd, capturing into `capture` (`--pcap`, see
   * src/link/capture.ts) when given. The network owns both fds from now on.
   */
  static async start(config: Config, tapFd: number, capture?: CaptureShare): Promise<Network> {
    const shim = await loadShim();
    const nonblocking = shim.shim_set_nonblocking(tapFd, 1);
    if (nonblocking < 0) {
      throw new Error(`Cannot make the tap fd non-blocking: ${errnoText(shim, -nonblocking)}`);
    }
    // A BESS socket carries plain frames; only a tap can be asked about virtio-net headers.
    const vnet = config.target.kind === "bess" ? 0 : shim.shim_tap_offload(tapFd);
    if (vnet < 0) throw new Error(`Cannot query the tap device: ${errnoText(shim, -vnet)}`);
    const stopFd = shim.shim_eventfd();
    if (stopFd < 0) throw new Error(`Cannot create an eventfd: ${errnoText(shim, -stopFd)}`);
    const tap: Tap = { fd: tapFd, vnet: vnet === 1 };
    if (capture !== undefined) tap.capture = capture;
    return new Network(shim, config, tap, stopFd);
  }

  /**
   * Opens the API socket at `path` (`--api-socket`) with port forwards into this network, or
   * serves a socket already bound there. Throws `ApiSocketError` (slirp4netns's message) when
   * the socket cannot be created. Closed by `stop`.
   */
  openApi(path: string | ApiSocketFile): void {
    if (this.#api !== null) throw new Error("The API socket is already open");
    const shim = this.#shim;
    const nat = this.nat;
    const sink = new PortForwardSink({
      shim,
      neighbors: this.#neighbors,
      requestMac: (ip) => this.#requestMac(ip),
      tcp: this.tcp,
      udpNat: nat.udpNat,
      frame: this.#tx.frame,
      counters: this.counters,
    });
    const v6 = this.addresses.ipv6;
    const listeners = new HostForwards(shim, nat.reactor, sink, {
      gateways: { ipv4: this.addresses.gateway, ipv6: v6?.gateway },
      dhcpStart: this.addresses.dhcpStart,
    });
    let api: ApiService;
    try {
      api = ApiService.start(shim, nat.reactor, {
        ...(typeof path === "string" ? { path } : { path: path.path, socket: path }),
        guestDefaults: {
          ipv4: this.addresses.guest,
          ipv6: v6 === null ? undefined : () => this.#neighbors.globalIpv6,
        },
        listeners,
        stats: (connections) => this.#stats(connections, listeners),
      });
    } catch (error) {
      sink.close();
      throw error;
    }
    nat.udpNat.forwardFlow = (guestAddr, guestPort, dstAddr, dstPort, now) =>
      listeners.flowForGuestReply(guestAddr, guestPort, dstAddr, dstPort, now);
    this.#api = api;
    this.#forwardSink = sink;
  }

  /**
   * The `return` object of get_stats (src/api/stats.ts): every thread's counters, and the TCP
   * and DNS workers' snapshots, asked for in parallel and waited for at most
   * `SNAPSHOT_TIMEOUT_MS` (a worker that does not answer shows as null).
   */
  async #stats(connections: boolean, forwards: HostForwards): Promise<unknown> {
    const [tcp, nameservers] = await Promise.all([
      this.tcp.snapshot(connections, SNAPSHOT_TIMEOUT_MS),
      this.dns?.nameserverStats(SNAPSHOT_TIMEOUT_MS),
    ]);
    const now = performance.now();
    const parts: StatsParts = {
      counters: this.#counterTable(),
      tcp,
      udpFlows: this.nat.udpNat.flows,
      icmpFlows: this.nat.icmpNat.flows,
      forwards: this.#api?.table.list() ?? [],
      forwardUsage: forwards.usage(),
    };
    if (nameservers !== undefined) parts.nameservers = nameservers;
    if (connections) {
      parts.flows = [
        ...this.nat.udpNat.flowList(now),
        ...this.nat.icmpNat.flowList(now),
        ...forwards.udpFlows().map((flow) => udpForwardFlowStats(flow, now)),
      ];
    }
    return statsReturn(parts);
  }

  /** Every thread's counters summed, as a table. */
  #counterTable(): Counters {
    const tables = [this.counters, this.readerCounters, this.tcp.counters];
    if (this.dns) tables.push(this.dns.counters);
    return Counters.sum(tables);
  }

  /** Every thread's non-zero counters summed, by name (drop reasons among them). */
  counterTotals(): Record<string, number> {
    return this.#counterTable().nonZero() as Record<string, number>;
  }

  /** Asks the guest for the MAC of `ip`: ARP, or a neighbor solicitation for IPv6. */
  #requestMac(ip: IpAddress): void {
    if (typeof ip === "bigint") this.#ndp?.solicit(ip);
    else this.#arp.request(ip);
  }

  /** A frame or neighbor record from the tap reader. */
  #fromReader(frame: Uint8Array, now: number): void {
    const length = frame.length;
    if (length === NEIGHBOR_RECORD.LENGTH) {
      this.#neighbors.learn(readU32(frame, NEIGHBOR_RECORD.IP), frame, NEIGHBOR_RECORD.MAC);
    } else if (length === NEIGHBOR6_RECORD.LENGTH) {
      this.#neighbors.learn(readIpv6(frame, NEIGHBOR6_RECORD.IP), frame, NEIGHBOR6_RECORD.MAC);
    } else if (
      frame[frame[14] >>> 4 === 6 ? IPV6_NEXT_HEADER_AT : IPV4_PROTOCOL_AT] === IpProtocol.UDP
    ) {
      this.nat.udp(frame, now);
    } else {
      this.nat.icmp(frame, now);
    }
  }

  async #consume(): Promise<void> {
    const ring = this.#datagrams;
    const handle = (frame: Uint8Array) => this.#fromReader(frame, performance.now());
    while (!ring.closed) {
      if (ring.drain(handle, FRAMES_PER_TURN) === FRAMES_PER_TURN) {
        // Not setTimeout(0): chained timers are clamped to 4 ms after five levels (HTML timers,
        // which Deno follows), so a busy ring got 256 frames per ~2-4 ms. setImmediate yields in
        // ~12 µs and still lets timers, signals and async FFI completions run.
        await new Promise((resolve) => setImmediate(resolve));
      } else {
        await ring.waitForDataAsync(1000);
      }
    }
  }

  /** Stops the reader, closes the fds. Safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    // The API first: its socket is unlinked and no forward accepts any more.
    this.#api?.close();
    this.#forwardSink?.close();
    this.nat.udpNat.forwardFlow = null;
    // Then the reader, which feeds everything else.
    this.#shim.shim_eventfd_signal(this.#stopFd);
    await this.#reader.stop();
    this.#datagrams.close();
    await this.#consumer;
    await Promise.all([this.nat.stop(), this.dns?.stop(), this.tcp.stop()]);
    this.#shim.shim_close(this.#stopFd);
    this.#shim.shim_close(this.tap.fd);
    if (this.tap.capture !== undefined) this.#shim.shim_close(this.tap.capture.fd);
  }
}
