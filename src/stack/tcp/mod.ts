/**
 * The TCP relay: guest TCP connections carried on host kernel sockets. Read this Theory of
 * Operation, then RFC 9293 §3.10 (event processing), RFC 5961 (blind-attack defences), RFC 6298
 * (retransmission timer), RFC 7323 §2 (window scaling) and RFC 5681 §3.2 (fast retransmit) before
 * editing anything under this folder.
 *
 * # Theory of Operation
 *
 * Like pasta (passt.top `tcp.c`), the relay is not a second full TCP stack: each guest connection
 * is the guest-facing half of a TCP connection, glued to one non-blocking host socket that the
 * host kernel's TCP drives. The relay terminates the guest's TCP (sequence numbers, windows,
 * retransmissions towards the guest) and moves bytes; it never relays segments one for one.
 *
 * ```
 *  guest ──SYN──▶ relay: CONNECTING ──connect()──▶ host socket
 *                        connect done: SYN-ACK ──▶ guest        (refused: RST; unreachable: ICMP)
 *  guest ──data──▶ recvQueue ──send()──▶ host        ACK to the guest once queued
 *  guest ◀──data── sendQueue ◀──recv()── host        freed when the guest ACKs it
 * ```
 *
 * ## Where it runs
 * Pure logic, no Deno API: `TcpRelay` gets frames from the guest (`handleFrame`), readiness of
 * host sockets (`hostEvent`) and time (`advanceTimers`), all with an injected `now`; it calls the
 * injected {@link HostSockets} and writes frames to a `GuestLink`. src/workers/tcp_table.ts runs
 * it in the TCP Worker over FFI sockets, epoll and the tap fd; the unit tests run it over an
 * in-memory link, fake sockets and a fake clock. Each event loop turn is a batch: handle every
 * event, then `flush(now)` once, which writes guest data to host sockets, sends what windows allow,
 * sends one ACK per connection that owes one (ACKs are coalesced per batch, except the immediate
 * ones RFC 9293 and RFC 5681 ask for), updates socket interest and re-arms timers. With
 * `delayAcks` (the worker), a pure ACK for less than two full segments is held back until the
 * loop is about to sleep (`sendDelayedAcks`, at most a busy-poll window later), so that the host's
 * answer to a request carries it: one segment to the guest per round trip, as slirp4netns's
 * delayed ACKs give (RFC 9293 §3.8.6.3).
 *
 * ## Both families
 * One engine serves IPv4 and IPv6 (`-6`): a connection's addresses are numbers or bigints
 * (src/wire/address.ts), the table keys them apart, and what differs is confined to the edges:
 * the header the segment is read from (`IpPacket`) and written behind (`GuestTx.sendIp`), the
 * pseudo-header of the checksum (RFC 8200 §8.1), our MSS (MTU − 40, or − 60 for IPv6; a guest
 * that sends no MSS option is taken at 536, or 1220), ICMP or ICMPv6 errors (RFC 4443 §3.1: no
 * route for net unreachable, address unreachable for host unreachable), and the routes
 * (routes.ts: the whole fd00::/64 but the DNS is the host's ::1).
 *
 * ## States (towards the guest; RFC 9293 names, the relay being the passive side)
 * - CONNECTING: the guest's SYN is held while the host socket connects. Nothing is sent to the
 *   guest; its retransmitted SYNs are ignored; its RST cancels the connect. The connect fails over
 *   to the next target (DNS: the next nameserver), then ends with RST (ECONNREFUSED), ICMP host
 *   unreachable (EHOSTUNREACH) or ICMP net unreachable (anything else, timeout included), as
 *   libslirp does.
 * - SYN_RECEIVED: SYN-ACK sent (MSS = MTU − 40, window scale if the guest offered it; no SACK, no
 *   timestamps: we do not offer them, so the guest does not use them). Host data read meanwhile
 *   waits in the send queue.
 * - ESTABLISHED. CLOSE_WAIT after the guest's FIN (the host socket gets shutdown(SHUT_WR) once the
 *   queued data is written); LAST_ACK once our FIN follows. FIN_WAIT_1/FIN_WAIT_2 after the host's
 *   EOF (our FIN sent, acknowledged), CLOSING, TIME_WAIT when both FINs crossed.
 * - CLOSED: the guest side is done; the entry lives on only while the host socket still drains
 *   the guest's last bytes.
 * - SYN_SENT: a port forward's connection (`openToGuest`): the host client is already accepted,
 *   our SYN (MSS, window scale) goes from the client's guest-visible address to the guest, and its
 *   SYN-ACK makes it ESTABLISHED like any other (RFC 9293 §3.10.7.3). The guest's RST, or no
 *   answer through 5 SYN retransmissions, resets the host client. The 4-tuple is looked up before
 *   a segment counts as new outbound traffic, so this works with --disable-host-loopback too; a
 *   4-tuple in use (two loopback clients with the same port both appear as the gateway) refuses
 *   the second client.
 * - An RST from the guest after both FINs (a guest that closed answering a late segment) closes
 *   the host socket gracefully: the host's peer still reads every byte already written to it.
 *
 * ## Events
 * - Guest segment: validated first (truncation, data offset, checksum, option list, SYN+FIN,
 *   SYN+RST, port 0: dropped and counted). Then RFC 9293 §3.10.7.4 in order: sequence
 *   acceptability (unacceptable: ACK and drop; that is also the answer to keep-alives and window
 *   probes), RST (RFC 5961 §3.2: exact RCV.NXT resets, in-window gets a challenge ACK), SYN in a
 *   synchronized state (challenge ACK), ACK (ACK of unsent data: ACK and drop; older than the
 *   largest window: challenge ACK; new data acknowledged frees the send queue; three duplicate
 *   ACKs go back to SND.UNA), window update (SND.WL1/WL2 rule), data, FIN. Out-of-order data is
 *   kept in the receive queue at its offset, up to 16 holes, and answered with an immediate
 *   duplicate ACK. No connection: RST as RFC 9293 §3.10.7.1 says; a SYN opens one.
 * - Host readable: read into the send queue while it has room; 0 is the host's EOF (our FIN
 *   follows the data). Host writable: write the receive queue. Host error: RST to the guest.
 * - Timer: one deadline per connection in a hashed timer wheel (10 ms ticks): the connect
 *   timeout, SYN-ACK retransmission, RTO/persist, keep-alive, TIME_WAIT end, or the drain limit.
 *
 * ## Timeouts (defaults in `TCP_DEFAULTS`)
 * - Host connect: 30 s (5 s per nameserver while more are left).
 * - RTO per RFC 6298: initial 1 s, min 200 ms, max 60 s, Karn's rule, exponential back-off; after
 *   a timeout one segment at a time (slow start) until the window is reached again. Data left
 *   unacknowledged for 30 s (the user timeout, RFC 9293 §3.8.3) aborts the connection: RST both
 *   ways. SYN-ACK: 5 retransmissions, then the host socket is reset.
 * - Zero window: persist probes of one byte (or the FIN) with back-off; the connection lives as
 *   long as the guest answers, and is aborted once the guest was silent for the user timeout.
 * - Keep-alive towards the guest: after 60 s without a segment from it, 3 probes 10 s apart, then
 *   abort. A guest that vanished therefore releases its host socket within about 90 s, and a host
 *   socket never sits in FIN_WAIT2 for a guest that is gone (slirp4netns #350).
 * - TIME_WAIT: 2 s (it only re-acknowledges a retransmitted FIN; the local link has no stray old
 *   duplicates). A new SYN with a higher sequence number replaces a TIME_WAIT entry at once.
 * - A finished guest side whose data the host does not take within the user timeout: reset.
 *
 * ## Back-pressure and memory
 * Guest→host: the window advertised to the guest is the free room of the receive queue (at most
 * `recvQueueLimit`, 2 MiB, and at most 512 full segments, so that a whole window sent at once fits
 * the guest's 1000-frame tap queue: what does not fit is dropped by the tap, and the guest waits
 * for its 200 ms RTO), so when the host does not read, the queue fills and the guest's window
 * closes; the right edge never moves left, and it opens by at least min(half the queue, one MSS)
 * (receiver SWS avoidance), with a window update once the guest was blocked. In-order segments of
 * 16 KiB or more go straight from the frame to an idle host socket. Host→guest: the send queue
 * holds data until the guest acknowledges it (it is the retransmission buffer); when it is full,
 * the host socket is no longer read (EPOLLIN off, and the socket leaves epoll altogether if it
 * needs nothing, so a hang-up cannot spin the loop), the kernel's buffers fill, and the host
 * sender blocks. The send queue grows only while the guest's window is larger than it.
 *
 * Memory bound per connection: `sendQueueLimit + recvQueueLimit` (2 MiB + 2 MiB by default) plus
 * about 1 KiB of state. Queues start at 32 KiB, double on demand, and are released when the
 * connection is idle (first keep-alive) or gone. All growth beyond the first allocation comes out
 * of one budget (`queueBudget`, 512 MiB), so the relay as a whole stays below
 * 512 MiB + 64 KiB × connections.
 *
 * ## Limits
 * The table holds at most 8192 connections (all states); at most 1024 may be half-open
 * (CONNECTING or SYN_RECEIVED), which bounds a SYN flood. Beyond either limit SYNs are dropped and
 * counted, with one warning line until the table drains below 90 %. RFC 5961 challenge ACKs are
 * limited to 1000 a second over all connections.
 *
 * ## Invariants
 * 1. SND.UNA ≤ SND.NXT ≤ SND.MAX; the send queue holds exactly the data bytes from SND.UNA (after
 *    the SYN) to the end of what was read from the host; our FIN, once sent, sits at the end of
 *    that data and is never followed by more.
 * 2. hostSeq ≤ RCV.NXT: the receive queue holds `RCV.NXT − hostSeq` in-order bytes from offset 0,
 *    then out-of-order ranges recorded in the assembler; every byte ACKed to the guest is either
 *    written to the host socket or in the queue (the relay ACKs what it has taken, and takes only
 *    what fits).
 * 3. The advertised right edge never moves left; data up to `hostSeq + recvQueueLimit` is accepted.
 * 4. A connection has exactly one timer deadline, derived from its state (`#deadline`), and is in
 *    the wheel iff that deadline is finite.
 * 5. A host socket leaves the relay through exactly one close or reset, and only in `#remove` or
 *    when both directions are done (EOF read and write side shut).
 * 6. Nothing is allocated per segment on the data path except the queues' growth.
 *
 * ## Not implemented
 * SACK and timestamps (not offered), urgent data (URG is ignored, the bytes flow in order),
 * TCP Fast Open (a SYN with data is dropped), ECN (not negotiated), congestion control beyond
 * slow start after a timeout (the guest link is a local tap).
 *
 * @module
 */

export { Assembler, MAX_RANGES } from "./assembler.ts";
export { ByteBudget, ByteRing } from "./byte_ring.ts";
export { Errno, HostEvent, type HostSockets } from "./host_sockets.ts";
export {
  TCP_DEFAULTS,
  TCP_STATE_NAMES,
  TcpConnection,
  TcpRelay,
  type TcpRelayOptions,
  TcpState,
  type TcpTunables,
} from "./relay.ts";
export {
  DNS_PORT,
  HOST_LOOPBACK,
  type TcpRoute,
  type TcpRouteConfig,
  tcpRoutes,
} from "./routes.ts";
export { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from "./seq.ts";
export { newTimerLinks, type TimerEntry, TimerWheel } from "./timer_wheel.ts";
