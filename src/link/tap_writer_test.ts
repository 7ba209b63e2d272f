/**
 * The tap writers against a datagram socket standing in for the tap: plain frames without a
 * header, and behind a virtio-net header on a `vnet` tap, where TCP frames carry the checksum and
 * segmentation request.
 */
import assert from "node:assert/strict";
import { unixDatagramPair } from "../ffi/_test_utils.ts";
import { loadShim } from "../ffi/shim.ts";
import { setLogLevel } from "../log.ts";
import { hasTcpOffload } from "../stack/guest_link.ts";
import { vnetHeader } from "../wire/testdata/virtio_net.ts";
import { VNET_F_NEEDS_CSUM, VNET_HDR_LEN, VnetGso } from "../wire/virtio_net.ts";
import { tapWriter, VnetTapWriter } from "./tap_writer.ts";

const frame = Uint8Array.from({ length: 3000 }, (_, i) => i % 253);

/** The header of a TCP frame whose checksum the guest finishes at `csumStart` + 16. */
const tcpHeader = (csumStart: number, gsoType: number, gsoSize: number) =>
  vnetHeader({ flags: VNET_F_NEEDS_CSUM, gsoType, gsoSize, csumStart, csumOffset: 16 });

Deno.test("tapWriter() on a tap without virtio-net headers writes bare frames, no TCP offload", async () => {
  const shim = await loadShim();
  using pair = unixDatagramPair(shim);
  const writer = tapWriter(shim, { fd: pair.writer, vnet: false }, "test");
  assert.equal(hasTcpOffload(writer), false);
  writer.sendFrame(frame.subarray(0, 60));
  assert.deepEqual(pair.read(), frame.subarray(0, 60));
  assert.equal(writer.writeErrors, 0);
});

Deno.test("VnetTapWriter puts a zero header before plain frames and offload requests before TCP", async () => {
  const shim = await loadShim();
  using pair = unixDatagramPair(shim);
  const writer = tapWriter(shim, { fd: pair.writer, vnet: true }, "test");
  assert.ok(writer instanceof VnetTapWriter);
  assert.ok(hasTcpOffload(writer));
  writer.sendFrame(frame.subarray(0, 60));
  assert.deepEqual(pair.read(), Uint8Array.from([...vnetHeader(), ...frame.subarray(0, 60)]));
  // A super-frame: the guest's kernel finishes the checksum at 34 + 16 and cuts 1460-byte segments.
  writer.sendTcpFrame(frame, 34, 1460);
  let sent = pair.read()!;
  assert.deepEqual(sent.subarray(0, VNET_HDR_LEN), tcpHeader(34, VnetGso.TCPV4, 1460));
  assert.deepEqual(sent.subarray(VNET_HDR_LEN), frame);
  // Within the MTU: the checksum only, no segmentation.
  writer.sendTcpFrame(frame.subarray(0, 100), 34, 0);
  sent = pair.read()!;
  assert.deepEqual(sent.subarray(0, VNET_HDR_LEN), tcpHeader(34, VnetGso.NONE, 0));
  assert.deepEqual(sent.subarray(VNET_HDR_LEN), frame.subarray(0, 100));
  // An IPv6 super-frame (version 6 behind the Ethernet header) is cut as TCPV6.
  const frame6 = frame.slice();
  frame6[14] = 0x60;
  writer.sendTcpFrame(frame6, 54, 1440);
  sent = pair.read()!;
  assert.deepEqual(sent.subarray(0, VNET_HDR_LEN), tcpHeader(54, VnetGso.TCPV6, 1440));
  assert.equal(writer.writeErrors, 0);
});

Deno.test("TapWriter counts failed writes", async () => {
  const shim = await loadShim();
  for (const vnet of [false, true]) {
    const writer = tapWriter(shim, { fd: 987654, vnet }, "test");
    // The first failure is logged as a warning; keep it off the test output.
    setLogLevel("error");
    try {
      writer.sendFrame(frame.subarray(0, 60));
      writer.sendFrame(frame.subarray(0, 60));
    } finally {
      setLogLevel("info");
    }
    assert.equal(writer.writeErrors, 2, `vnet ${vnet}`);
  }
});
