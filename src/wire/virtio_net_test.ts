import assert from "node:assert/strict";
import { vnetHeader } from "./testdata/virtio_net.ts";
import { RxOffload, rxOffload, VNET_F_NEEDS_CSUM, VNET_HDR_LEN, VnetGso } from "./virtio_net.ts";

/** A header as the tap delivers it with these flags and GSO fields. */
function header(flags: number, gsoType: number, gsoSize = 0, csumStart = 0, csumOffset = 0) {
  const hdrLen = gsoType === 0 ? 0 : 54;
  return vnetHeader({ flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset });
}

/** <linux/virtio_net.h> gso_type values other than TCPV4 and TCPV6, and the ECN bit. */
const GSO_UDP = 3;
const GSO_UDP_L4 = 5;
const GSO_ECN = 0x80;

Deno.test("VNET_HDR_LEN is the 10-byte struct virtio_net_hdr without num_buffers", () => {
  assert.equal(VNET_HDR_LEN, 10);
  assert.equal(VNET_F_NEEDS_CSUM, 1);
  assert.equal(VnetGso.NONE, 0);
  assert.equal(VnetGso.TCPV4, 1);
  assert.equal(VnetGso.TCPV6, 4);
});

Deno.test("rxOffload() of an all-zero header is NONE", () => {
  assert.equal(rxOffload(new Uint8Array(VNET_HDR_LEN)), RxOffload.NONE);
});

Deno.test("rxOffload() marks NEEDS_CSUM alone as CHECKSUM_PARTIAL, not TCP_SEGMENTED", () => {
  assert.equal(
    rxOffload(header(VNET_F_NEEDS_CSUM, VnetGso.NONE, 0, 34, 16)),
    RxOffload.CHECKSUM_PARTIAL,
  );
  // DATA_VALID (2) and other flag bits say nothing about a partial checksum.
  assert.equal(rxOffload(header(0x02, VnetGso.NONE)), RxOffload.NONE);
  assert.equal(rxOffload(header(0xfe, VnetGso.NONE)), RxOffload.NONE);
});

Deno.test("rxOffload() marks GSO TCPV4 and TCPV6 as TCP_SEGMENTED, with or without the ECN bit", () => {
  for (
    const gso of [VnetGso.TCPV4, VnetGso.TCPV4 | GSO_ECN, VnetGso.TCPV6, VnetGso.TCPV6 | GSO_ECN]
  ) {
    assert.equal(
      rxOffload(header(VNET_F_NEEDS_CSUM, gso, 1448, 34, 16)),
      RxOffload.CHECKSUM_PARTIAL | RxOffload.TCP_SEGMENTED,
      `gso_type ${gso}`,
    );
    assert.equal(rxOffload(header(0, gso, 1448)), RxOffload.TCP_SEGMENTED, `gso_type ${gso}`);
  }
});

Deno.test("rxOffload() does not mark other GSO types (UDP, UDP_L4) as TCP_SEGMENTED", () => {
  for (const gso of [GSO_UDP, GSO_UDP_L4, GSO_UDP | GSO_ECN, GSO_ECN]) {
    assert.equal(rxOffload(header(0, gso, 1448)), RxOffload.NONE, `gso_type ${gso}`);
    assert.equal(
      rxOffload(header(VNET_F_NEEDS_CSUM, gso, 1448, 34, 6)),
      RxOffload.CHECKSUM_PARTIAL,
      `gso_type ${gso}`,
    );
  }
});

Deno.test("rxOffload() reads the header at the start of a longer buffer and ignores the rest", () => {
  const frame = new Uint8Array(VNET_HDR_LEN + 60).fill(0xff);
  frame.set(header(VNET_F_NEEDS_CSUM, VnetGso.TCPV4, 1460, 34, 16));
  assert.equal(rxOffload(frame), RxOffload.CHECKSUM_PARTIAL | RxOffload.TCP_SEGMENTED);
});

Deno.test("rxOffload() reads the header at an offset (a frame read into a ring slot)", () => {
  const bytes = new Uint8Array(12 + VNET_HDR_LEN + 60);
  bytes.set(header(VNET_F_NEEDS_CSUM, VnetGso.NONE, 0, 34, 16), 12);
  assert.equal(rxOffload(bytes, 12), RxOffload.CHECKSUM_PARTIAL);
  assert.equal(rxOffload(bytes), RxOffload.NONE);
});
