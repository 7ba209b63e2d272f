/**
 * One open flow as get_stats lists it (`"arguments": {"connections": true}`), whichever thread
 * holds it: TCP connections in the TCP worker, UDP and ICMP flows and UDP forward clients on the
 * main thread. Keys are the API's (snake_case JSON); endpoints as text.
 */
import { formatIp, type IpAddress, isIpv6 } from "../wire/address.ts";

/** An open flow. */
export interface FlowStats {
  protocol: "tcp" | "udp" | "icmp";
  /** `outbound`: the guest opened it; `forwarded`: a port forward's client did. */
  direction: "outbound" | "forwarded";
  /** The guest's end: `10.0.2.100:40000`, `[fd00::100]:40000`; ICMP: the echo identifier. */
  guest: string;
  /**
   * The other end as the guest sees it (the destination it sent to; a forward's client as it
   * appears to the guest). UDP: the destination of the flow's last datagram.
   */
  host: string;
  /** TCP: the RFC 9293 state name; UDP and ICMP: `open`. */
  state: string;
  /** Payload bytes relayed from the guest, and to it. */
  bytes_from_guest: number;
  bytes_to_guest: number;
  /** Milliseconds since the flow was created. */
  age_ms: number;
  /** The port forward's API id (forwarded flows only). */
  forward_id?: number;
}

/**
 * `addr:port`, with IPv6 addresses in brackets (RFC 3986 §3.2.2).
 *
 * @example
 * ```ts
 * import { endpointText } from "./flow_stats.ts";
 * endpointText(0x0a000264, 80); // "10.0.2.100:80"
 * endpointText(0xfd00n << 112n | 2n, 53); // "[fd00::2]:53"
 * ```
 */
export function endpointText(address: IpAddress, port: number): string {
  return isIpv6(address) ? `[${formatIp(address)}]:${port}` : `${formatIp(address)}:${port}`;
}
