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
