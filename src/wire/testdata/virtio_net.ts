/**
 * virtio-net headers for tests (the 10-byte struct virtio_net_hdr of <linux/virtio_net.h>,
 * little-endian), built field by field so that tests state what a header says.
 */

/** The fields of a struct virtio_net_hdr; omitted ones are 0. */
export interface VnetHeaderFields {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/**
 * The 10 bytes of a virtio-net header.
 *
 * @example
 * ```ts
 * import { vnetHeader } from "./virtio_net.ts";
 * const bytes = vnetHeader({ flags: 1, csumStart: 34, csumOffset: 16 });
 * console.assert(bytes.length === 10 && bytes[6] === 34);
 * ```
 */
export function vnetHeader(fields: Partial<VnetHeaderFields> = {}): Uint8Array {
  const bytes = new Uint8Array(10);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, fields.flags ?? 0);
  view.setUint8(1, fields.gsoType ?? 0);
  view.setUint16(2, fields.hdrLen ?? 0, true);
  view.setUint16(4, fields.gsoSize ?? 0, true);
  view.setUint16(6, fields.csumStart ?? 0, true);
  view.setUint16(8, fields.csumOffset ?? 0, true);
  return bytes;
}
