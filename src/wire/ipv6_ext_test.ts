import assert from "node:assert/strict";
import { FragmentHeader, Ipv6ExtensionHeaders, MAX_EXTENSION_HEADERS } from "./ipv6_ext.ts";
import { Ipv6NextHeader as N } from "./ipv6.ts";
import { MLDV2_REPORT_FROM_UNSPECIFIED } from "./testdata/ipv6_captured.ts";

/** An options header (hop-by-hop or destination) with `next` and the option bytes, padded. */
function optionsHeader(next: number, options: number[]): number[] {
  const body = [next, 0, ...options];
  while (body.length % 8 !== 0) body.push(0); // Pad1
  body[1] = body.length / 8 - 1;
  return body;
}

function walk(chain: number[], first: number, start = 0): [string, Ipv6ExtensionHeaders] {
  const bytes = new Uint8Array([...chain, 0xaa, 0xbb, 0xcc, 0xdd]);
  const headers = new Ipv6ExtensionHeaders();
  return [headers.walk(bytes, start, bytes.length, first), headers];
}

Deno.test("walk() of no extension header is the upper layer at the start", () => {
  const [check, headers] = walk([], N.TCP);
  assert.equal(check, "ok");
  assert.equal(headers.protocol, N.TCP);
  assert.equal(headers.upperOffset, 0);
  assert.equal(headers.count, 0);
});

Deno.test("walk() of the captured MLD report passes its hop-by-hop router alert", () => {
  const frame = MLDV2_REPORT_FROM_UNSPECIFIED;
  const headers = new Ipv6ExtensionHeaders();
  assert.equal(headers.walk(frame, 54, frame.length, frame[20]), "ok");
  assert.equal(headers.protocol, N.ICMPV6);
  assert.equal(headers.upperOffset, 62);
  assert.equal(headers.count, 1);
});

Deno.test("walk() passes destination options, a spent routing header and an atomic fragment", () => {
  const chain = [
    ...optionsHeader(N.ROUTING, [1, 2, 0, 0, 0x1e, 1, 0]), // PadN, an unknown skippable option
    N.FRAGMENT,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // routing type 0, segments left 0
    N.DESTINATION_OPTIONS,
    0,
    0,
    0,
    0,
    0,
    0,
    7, // atomic fragment
    ...optionsHeader(N.UDP, []),
  ];
  const [check, headers] = walk(chain, N.DESTINATION_OPTIONS);
  assert.equal(check, "ok");
  assert.equal(headers.protocol, N.UDP);
  assert.equal(headers.upperOffset, chain.length);
  assert.equal(headers.count, 4);
  assert.ok(headers.atomicFragment);
});

Deno.test("walk() stops at a real fragment header and reads it", () => {
  for (
    const [word, offset, more] of [[0x0001, 0, true], [0x0008, 8, false], [0xfff9, 0xfff8, true]]
  ) {
    const chain = [
      N.UDP,
      0,
      (word as number) >> 8,
      (word as number) & 0xff,
      0x12,
      0x34,
      0x56,
      0x78,
    ];
    const [check, headers] = walk([...optionsHeader(N.FRAGMENT, []), ...chain], N.HOP_BY_HOP);
    assert.equal(check, "fragment");
    assert.equal(headers.protocol, N.FRAGMENT);
    assert.equal(headers.upperOffset, 8);
    const fragment = new FragmentHeader().wrap(
      new Uint8Array([...optionsHeader(N.FRAGMENT, []), ...chain]),
      headers.upperOffset,
      8,
    );
    assert.equal(fragment.check(), "ok");
    assert.equal(fragment.nextHeader, N.UDP);
    assert.equal(fragment.fragmentOffset, offset);
    assert.equal(fragment.moreFragments, more);
    assert.equal(fragment.identification, 0x12345678);
  }
  // Reserved bits alone make no fragment (RFC 8200 §4.5: ignored on reception).
  const [check] = walk([N.UDP, 0xff, 0, 6, 0, 0, 0, 1], N.FRAGMENT);
  assert.equal(check, "ok");
});

Deno.test("walk() drops a hop-by-hop header that is not first", () => {
  const chain = [...optionsHeader(N.HOP_BY_HOP, []), ...optionsHeader(N.UDP, [])];
  assert.equal(walk(chain, N.DESTINATION_OPTIONS)[0], "hop_by_hop_not_first");
  // Not at the fixed header at all (the fragmentable part of a reassembled datagram).
  const headers = new Ipv6ExtensionHeaders();
  const bytes = new Uint8Array(optionsHeader(N.UDP, []));
  assert.equal(headers.walk(bytes, 0, 8, N.HOP_BY_HOP, false), "hop_by_hop_not_first");
  assert.equal(headers.walk(bytes, 0, 8, N.HOP_BY_HOP, true), "ok");
});

Deno.test("walk() drops unrecognized options whose action is not skip (RFC 8200 §4.2)", () => {
  for (const type of [0x40, 0x80, 0xc2, /* jumbo payload */ 0xff]) {
    const chain = optionsHeader(N.UDP, [type, 4, 0, 0, 0, 0]);
    assert.equal(walk(chain, N.DESTINATION_OPTIONS)[0], "unrecognized_option", `${type}`);
  }
  for (const type of [0x05, 0x1e, 0x3f]) {
    const chain = optionsHeader(N.UDP, [type, 2, 0, 0]);
    assert.equal(walk(chain, N.HOP_BY_HOP)[0], "ok", `${type}`);
  }
});

Deno.test("walk() drops malformed options: past the header, long padding, too many", () => {
  assert.equal(walk(optionsHeader(N.UDP, [1, 9]), N.HOP_BY_HOP)[0], "bad_options");
  // 8 bytes of Pad1 in a 16-byte header.
  assert.equal(
    walk([N.UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], N.HOP_BY_HOP)[0],
    "bad_options",
  );
  assert.equal(
    walk(optionsHeader(N.UDP, [1, 8, 0, 0, 0, 0, 0, 0, 0, 0]), N.DESTINATION_OPTIONS)[0],
    "bad_options",
  );
  // Nine one-byte-long skippable options.
  const nine = Array.from({ length: 9 }, () => [0x1e, 1, 0]).flat();
  assert.equal(walk(optionsHeader(N.UDP, nine), N.DESTINATION_OPTIONS)[0], "bad_options");
  const eight = Array.from({ length: 8 }, () => [0x1e, 1, 0]).flat();
  assert.equal(walk(optionsHeader(N.UDP, eight), N.DESTINATION_OPTIONS)[0], "ok");
  // An option type with no room for its length byte.
  assert.equal(
    walk([N.UDP, 0, 1, 3, 0, 0, 0, 0x1e], N.DESTINATION_OPTIONS)[0],
    "bad_options",
  );
});

Deno.test("walk() drops a routing header with segments left", () => {
  const chain = [N.UDP, 2, 4, 1, 0, 0, 0, 0, ...new Array(16).fill(0)];
  assert.equal(walk(chain, N.ROUTING)[0], "routing_header");
});

Deno.test("walk() drops headers past the payload, and long chains", () => {
  // Hdr Ext Len 1 (16 bytes) with 12 present.
  assert.equal(walk([N.UDP, 1, 1, 0, 0, 0, 0, 0], N.DESTINATION_OPTIONS)[0], "truncated");
  assert.equal(walk([N.UDP, 0, 1], N.DESTINATION_OPTIONS)[0], "truncated");
  const headers = new Ipv6ExtensionHeaders();
  assert.equal(headers.walk(new Uint8Array(8), 4, 2, N.UDP), "truncated");
  assert.equal(headers.walk(new Uint8Array(8), 0, 9, N.UDP), "truncated");

  const chain: number[] = [];
  for (let i = 0; i < MAX_EXTENSION_HEADERS; i++) {
    chain.push(...optionsHeader(N.DESTINATION_OPTIONS, []));
  }
  chain.push(...optionsHeader(N.UDP, []));
  assert.equal(walk(chain, N.DESTINATION_OPTIONS)[0], "too_many_headers");
  assert.equal(walk(chain.slice(8), N.DESTINATION_OPTIONS)[0], "ok");
  // One 1032-byte header (checked before its options).
  const big = [N.UDP, 128, ...new Array(1030).fill(0)];
  assert.equal(walk(big, N.DESTINATION_OPTIONS)[0], "too_many_headers");
});
