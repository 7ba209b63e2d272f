/**
 * The main-thread side of the TCP connection-table Worker (src/workers/tcp_table.ts), on a
 * {@link RingWorker}: the tap reader feeds the guest's segments into the worker's ring
 * ({@link TcpService.feed}); port forwards' accepted clients reach it through a second, small
 * ring fed from this thread (`openToGuest`), under the same sleep flag and eventfd. The worker
 * writes segments to the tap itself and counts in its own table.
 */

import type { TcpSnapshot } from "../stack/tcp/stats.ts";
import { SnapshotFlag } from "./snapshot.ts";
import type { Config } from "../config.ts";
import type { Shim } from "../ffi/shim.ts";
import type { Tap } from "../link/tap_writer.ts";
import { LEVELS, log, logEnabled } from "../log.ts";
import { C, Counters } from "../stack/counters.ts";
import { FORWARD_RECORD, SEGMENT_RECORD } from "../workers/records.ts";
import type { TcpTableStart } from "../workers/tcp_table.ts";
import { type IpAddress, writeIpv4, writeIpv6 } from "../wire/address.ts";
import { copyBytes, writeU16, writeU32 } from "../wire/view.ts";
import { createFeedChannel, RingFeed, type RingFeedChannel } from "./ring_feed.ts";
import { RingWorker } from "./ring_worker.ts";
import { TCP_TABLE_URL } from "../workers/urls.ts";

/**
 * Ring bytes for segments: 256 frames of 64 KiB, more than the windows of a few fast connections
 * hold in flight (a full ring drops the frame; the guest retransmits it).
 */
const SEGMENT_RING_BYTES = 16 << 20;
/** Largest segment record: its tag byte, Ethernet header and a 64 KiB datagram (a super-frame,
 * reassembled, or MTU 65520). */
const MAX_SEGMENT_RECORD = SEGMENT_RECORD.FRAME + 14 + 65535;
/** Ring bytes for accepted forward clients waiting to be taken by the worker. */
const FORWARD_RING_BYTES = 64 << 10;
/** Below this many open files, say how few connections fit. */
const FEW_FILES = 4096;

/** What the service needs from the network being started. */
export interface TcpServiceOptions {
  shim: Shim;
  config: Pick<
    Config,
    | "mtu"
    | "network"
    | "prefix"
    | "enableIpv6"
    | "outboundAddr"
    | "outboundAddr6"
    | "disableHostLoopback"
    | "disableDns"
  >;
  /** The tap fd, shared with the worker for writing segments. */
  tap: Tap;
  /** This thread's counters (`tcp.ring_full` of forward clients). */
  counters: Counters;
  /** resolv.conf to read (tests); default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/**
 * The running TCP worker.
 *
 * @example
 * ```ts ignore
 * const tcp = TcpService.start({ shim, config, tap, counters });
 * forwarders.tcp = tcp.tcp;
 * await tcp.stop();
 * ```
 */
export class TcpService {
  /** The worker's counters (`tcp.*`, and `tx.*` of its segments), readable from this thread. */
  readonly counters: Counters;
  /** The worker's segment input, for the tap reader. */
  readonly feed: RingFeedChannel;
  /** Resolves true when the worker has started, false when it failed to (the reason is logged). */
  readonly started: Promise<boolean>;
  readonly #worker: RingWorker;
  readonly #forwards: RingFeed;
  readonly #record = new Uint8Array(FORWARD_RECORD.LENGTH);

  private constructor(options: TcpServiceOptions) {
    const { shim, config } = options;
    const countersBuffer = new SharedArrayBuffer(Counters.BYTE_LENGTH);
    this.counters = new Counters(countersBuffer);
    const counters = options.counters;
    let forwards!: RingFeed;
    this.#worker = RingWorker.start({
      shim,
      name: "TCP worker",
      url: TCP_TABLE_URL,
      ringBytes: SEGMENT_RING_BYTES,
      maxFrame: MAX_SEGMENT_RECORD,
      start: (channel): TcpTableStart => {
        // The forward ring shares the segment ring's sleep flag and eventfd.
        const forwardChannel = createFeedChannel(
          FORWARD_RING_BYTES,
          FORWARD_RECORD.LENGTH,
          channel.signalFd,
          channel.sleeping,
        );
        forwards = new RingFeed(
          shim,
          forwardChannel.ring,
          () => counters.bump(C["tcp.ring_full"]),
          forwardChannel,
        );
        return {
          ...channel,
          forwards: forwardChannel.ring,
          tap: options.tap,
          mtu: config.mtu,
          network: config.network,
          prefix: config.prefix,
          ipv6: config.enableIpv6,
          disableHostLoopback: config.disableHostLoopback,
          disableDns: config.disableDns,
          outboundAddr: config.outboundAddr,
          outboundAddr6: config.outboundAddr6,
          counters: countersBuffer,
          logLevel: LEVELS.filter(logEnabled).at(-1) ?? "error",
          resolvConfPath: options.resolvConfPath,
        };
      },
    });
    this.#forwards = forwards;
    this.feed = this.#worker.feed;
    this.started = this.#worker.started;
  }

  /**
   * Starts the worker; throws if its eventfds cannot be created. Raises the fd limit first: each
   * connection holds a host socket.
   */
  static start(options: TcpServiceOptions): TcpService {
    const limit = options.shim.shim_raise_nofile();
    if (limit >= 0 && limit < FEW_FILES) {
      log.warn(`TCP: the open file limit is ${limit}: at most about that many connections`);
    }
    return new TcpService(options);
  }

  /**
   * Hands a port forward's accepted client to the worker, which opens the connection to
   * `guestAddr:guestPort` from `peerAddr:peerPort` (the guest's view of the client) at the MAC
   * `mac[macOffset..]` (see `TcpRelay.openToGuest`), counted for forward `forwardId` (its API
   * id; 0 for none). The worker owns `fd` once this returns
   * true; false (the ring is full) leaves it with the caller.
   */
  openToGuest(
    fd: number,
    peerAddr: IpAddress,
    peerPort: number,
    guestAddr: IpAddress,
    guestPort: number,
    mac: Uint8Array,
    macOffset: number,
    forwardId = 0,
  ): boolean {
    const record = this.#record;
    writeU32(record, FORWARD_RECORD.FD, fd);
    writeU32(record, FORWARD_RECORD.FORWARD_ID, forwardId);
    if (typeof peerAddr === "bigint" && typeof guestAddr === "bigint") {
      record[FORWARD_RECORD.IPV6] = 1;
      writeIpv6(record, FORWARD_RECORD.PEER_ADDR, peerAddr);
      writeIpv6(record, FORWARD_RECORD.GUEST_ADDR, guestAddr);
    } else if (typeof peerAddr === "number" && typeof guestAddr === "number") {
      record[FORWARD_RECORD.IPV6] = 0;
      writeIpv4(record, FORWARD_RECORD.PEER_ADDR, peerAddr);
      writeIpv4(record, FORWARD_RECORD.GUEST_ADDR, guestAddr);
    } else {
      throw new Error("A port forward connects addresses of one family");
    }
    writeU16(record, FORWARD_RECORD.PEER_PORT, peerPort);
    writeU16(record, FORWARD_RECORD.GUEST_PORT, guestPort);
    copyBytes(record, FORWARD_RECORD.GUEST_MAC, mac, macOffset, 6);
    if (!this.#forwards.push(record)) return false;
    this.#forwards.flush();
    return true;
  }

  /**
   * The worker's connections (get_stats), with the list of open ones when `flows`; null if it
   * gave no answer within `timeoutMs`.
   */
  snapshot(flows: boolean, timeoutMs: number): Promise<TcpSnapshot | null> {
    return this.#worker.snapshot(flows ? SnapshotFlag.FLOWS : 0, timeoutMs) as Promise<
      TcpSnapshot | null
    >;
  }

  /** Stops the worker (its connections are reset) and closes the eventfds (not the tap). */
  stop(): Promise<void> {
    return this.#worker.stop();
  }
}
