/** The way frames reach the guest: the tap device, or a test double. */

/**
 * Where the stack sends Ethernet frames for the guest.
 *
 * `sendFrame` must consume the bytes before it returns (write them to the tap, or copy them):
 * `frame` is a view of a scratch buffer that the next reply overwrites. Frames are complete
 * Ethernet II frames without FCS, at least 60 bytes and at most MTU + 14.
 */
export interface GuestLink {
  sendFrame(frame: Uint8Array): void;
}

/**
 * A link that also takes TCP frames whose checksum the guest's kernel finishes, and TCP frames
 * above the MTU that it cuts into segments itself (the tap's virtio-net offload): one frame and
 * one write per up to 64 KiB of data instead of one per MSS, and no checksum pass over the data.
 */
export interface TcpOffloadLink extends GuestLink {
  /**
   * Sends an Ethernet + IPv4 + TCP frame whose TCP header starts at `tcpOffset` and whose TCP
   * checksum field holds the folded pseudo-header sum (not inverted). `segmentSize` > 0: the
   * frame may exceed the MTU and is cut into segments of that many data bytes (the guest's MSS);
   * 0: a frame within the MTU.
   */
  sendTcpFrame(frame: Uint8Array, tcpOffset: number, segmentSize: number): void;
}

/** Whether `link` takes offloaded TCP frames. */
export function hasTcpOffload(link: GuestLink): link is TcpOffloadLink {
  return typeof (link as Partial<TcpOffloadLink>).sendTcpFrame === "function";
}
