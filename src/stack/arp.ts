/**
 * ARP for the emulated hosts (RFC 826): answer requests for the gateway and DNS addresses with
 * their `52:55:` MACs, and learn the guest's MAC from every request and reply. Like libslirp
 * (`arp_input`), other addresses, even inside the network, get no answer: the guest's own
 * duplicate address detection (RFC 5227) must not see a conflict.
 */

import type { Addresses } from "../config.ts";
import { ARP_LEN, ArpOp, type ArpPacket, emitArp } from "../wire/arp.ts";
import {
  BROADCAST_MAC,
  emitEthernetHeader,
  ETHERNET_HEADER_LEN,
  type EthernetFrame,
  EtherType,
} from "../wire/ethernet.ts";
import { C, type Counters } from "./counters.ts";

/** The unknown target hardware address of a request (RFC 826: "does not matter"). */
const ZERO_MAC = new Uint8Array(6);
import type { GuestTx } from "./guest_tx.ts";
import type { GuestNeighbors } from "./neighbors.ts";
import { writeSlirpMac } from "./slirp_mac.ts";

/**
 * Handles ARP packets from the guest.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { ArpPacket } from "../wire/arp.ts";
 * import { EthernetFrame } from "../wire/ethernet.ts";
 * import { ARP_REQUEST_FOR_GATEWAY } from "../wire/testdata/captured.ts";
 * import { ArpResponder } from "./arp.ts";
 * import { Counters } from "./counters.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * import { GuestNeighbors } from "./neighbors.ts";
 * const addresses = deriveAddresses(0x0a000200, 24);
 * const counters = new Counters();
 * const link = new MemoryLink();
 * const arp = new ArpResponder(
 *   addresses,
 *   new GuestNeighbors(addresses),
 *   new GuestTx(link, 1500, addresses, counters),
 *   counters,
 * );
 * const eth = new EthernetFrame().wrap(ARP_REQUEST_FOR_GATEWAY);
 * arp.handle(eth, new ArpPacket().wrap(eth.bytes, eth.payloadOffset, eth.payloadLength));
 * if (link.take().length !== 1) throw new Error("no reply");
 * ```
 */
export class ArpResponder {
  readonly #addresses: Addresses;
  readonly #neighbors: GuestNeighbors;
  readonly #tx: GuestTx;
  readonly #counters: Counters;
  readonly #mac = new Uint8Array(6);

  constructor(addresses: Addresses, neighbors: GuestNeighbors, tx: GuestTx, counters: Counters) {
    this.#addresses = addresses;
    this.#neighbors = neighbors;
    this.#tx = tx;
    this.#counters = counters;
  }

  /**
   * Asks the guest for the MAC of `targetIp` (RFC 826 request, broadcast, from the gateway), as
   * libslirp does when it must send to a guest address it has not learned; the reply is learned
   * like any ARP packet.
   */
  request(targetIp: number): void {
    const frame = this.#tx.frame;
    const mac = this.#mac;
    const gateway = this.#addresses.gateway;
    writeSlirpMac(mac, 0, gateway);
    emitEthernetHeader(frame, 0, BROADCAST_MAC, 0, mac, 0, EtherType.ARP);
    emitArp(frame, ETHERNET_HEADER_LEN, ArpOp.REQUEST, mac, 0, gateway, ZERO_MAC, 0, targetIp);
    if (this.#tx.send(ETHERNET_HEADER_LEN + ARP_LEN)) this.#counters.bump(C["arp.request_sent"]);
  }

  /** Handles one ARP packet; `arp` is wrapped over the Ethernet payload of `eth`. */
  handle(eth: EthernetFrame, arp: ArpPacket): void {
    const counters = this.#counters;
    switch (arp.check()) {
      case "ok":
        break;
      case "truncated":
        counters.bump(C["arp.truncated"]);
        return;
      case "unsupported_hardware":
        counters.bump(C["arp.unsupported_hardware"]);
        return;
      case "unsupported_protocol":
        counters.bump(C["arp.unsupported_protocol"]);
        return;
    }
    const operation = arp.operation;
    if (operation !== ArpOp.REQUEST && operation !== ArpOp.REPLY) {
      counters.bump(C["arp.unsupported_op"]);
      return;
    }
    // RFC 826 "merge": remember the sender, whatever the packet asks.
    const senderIp = arp.senderIp;
    if (this.#neighbors.learn(senderIp, arp.bytes, arp.senderMacOffset)) {
      counters.bump(C["arp.learned"]);
    }
    if (operation === ArpOp.REPLY) return;

    counters.bump(C["arp.request"]);
    const targetIp = arp.targetIp;
    if (targetIp !== this.#addresses.gateway && targetIp !== this.#addresses.dns) {
      counters.bump(C["arp.request_ignored"]);
      return;
    }
    // RFC 826: swap sender and target, fill in our hardware address, opcode reply; sent back
    // to the frame's source, as libslirp does.
    const frame = this.#tx.frame;
    const mac = this.#mac;
    writeSlirpMac(mac, 0, targetIp);
    emitEthernetHeader(frame, 0, eth.bytes, eth.srcOffset, mac, 0, EtherType.ARP);
    emitArp(
      frame,
      ETHERNET_HEADER_LEN,
      ArpOp.REPLY,
      mac,
      0,
      targetIp,
      arp.bytes,
      arp.senderMacOffset,
      senderIp,
    );
    if (this.#tx.send(ETHERNET_HEADER_LEN + ARP_LEN)) counters.bump(C["arp.reply"]);
  }
}
