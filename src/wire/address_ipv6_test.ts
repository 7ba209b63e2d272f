// Expected values were checked against glibc 2.36's inet_pton/inet_ntop.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  formatIp,
  formatIpv6,
  formatIpv6Groups,
  inIpv6Prefix,
  IPV6_LOOPBACK,
  ipv6Groups,
  isIpv6,
  parseIpv6,
  parseIpv6Groups,
  readIpv6,
  writeIpv6,
} from "./address.ts";

const roundTrip = (text: string) => {
  const words = parseIpv6Groups(text);
  return words === null ? null : formatIpv6Groups(words);
};

Deno.test("parseIpv6Groups() reads full, compressed and IPv4-tailed forms", () => {
  deepStrictEqual(parseIpv6Groups("fd00::2"), [0xfd00, 0, 0, 0, 0, 0, 0, 2]);
  deepStrictEqual(parseIpv6Groups("1:2:3:4:5:6:7:8"), [1, 2, 3, 4, 5, 6, 7, 8]);
  deepStrictEqual(parseIpv6Groups("::"), [0, 0, 0, 0, 0, 0, 0, 0]);
  deepStrictEqual(parseIpv6Groups("::ffff:10.0.2.2"), [0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0202]);
  deepStrictEqual(parseIpv6Groups("1:2:3:4:5:6:1.2.3.4"), [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
  deepStrictEqual(parseIpv6Groups("ABCD::"), [0xabcd, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("parseIpv6Groups() rejects what inet_pton rejects", () => {
  for (
    const text of [
      "",
      ":",
      ":::",
      "1::2::3",
      ":1::",
      "1:::2",
      "1::2:",
      "12345::",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "1:2:3:4::5:6:7:8",
      "1.2.3.4::",
      "::1.2.3",
      "::01.2.3.4",
      "fe80::1%eth0",
      "g::",
      "10.0.2.2",
    ]
  ) {
    strictEqual(parseIpv6Groups(text), null, text);
  }
});

Deno.test("formatIpv6Groups() writes the form glibc's inet_ntop writes", () => {
  strictEqual(roundTrip("2001:DB8:0:0::1"), "2001:db8::1");
  strictEqual(roundTrip("::"), "::");
  strictEqual(roundTrip("::1"), "::1");
  strictEqual(roundTrip("::2"), "::2");
  strictEqual(roundTrip("1::"), "1::");
  strictEqual(roundTrip("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
  strictEqual(roundTrip("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
  strictEqual(roundTrip("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
  strictEqual(roundTrip("::ffff:10.0.2.2"), "::ffff:10.0.2.2");
  strictEqual(roundTrip("::1.2.3.4"), "::1.2.3.4");
  strictEqual(roundTrip("::fffe:1.2.3.4"), "::fffe:102:304");
  strictEqual(roundTrip("fd00::3"), "fd00::3");
});

Deno.test("parseIpv6() and formatIpv6() carry addresses as 128-bit bigints", () => {
  strictEqual(parseIpv6("fd00::2"), (0xfd00n << 112n) | 2n);
  strictEqual(parseIpv6("::1"), IPV6_LOOPBACK);
  strictEqual(parseIpv6("1:2:3:4:5:6:7:8"), 0x0001_0002_0003_0004_0005_0006_0007_0008n);
  strictEqual(parseIpv6("fd00::2%tap0"), null);
  strictEqual(formatIpv6((0xfe80n << 112n) | 2n), "fe80::2");
  strictEqual(formatIpv6(0n), "::");
  strictEqual(formatIp(0x0a000202), "10.0.2.2");
  strictEqual(formatIp(IPV6_LOOPBACK), "::1");
  strictEqual(isIpv6(1n), true);
  strictEqual(isIpv6(1), false);
});

Deno.test("readIpv6() and writeIpv6() round-trip in network byte order at any offset", () => {
  const address = parseIpv6("2001:db8:85a3::8a2e:370:7334")!;
  const bytes = new Uint8Array(21).fill(0xa5);
  writeIpv6(bytes, 3, address);
  deepStrictEqual(
    Array.from(bytes.subarray(3, 19)),
    [0x20, 0x01, 0x0d, 0xb8, 0x85, 0xa3, 0, 0, 0, 0, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34],
  );
  strictEqual(bytes[2], 0xa5);
  strictEqual(bytes[19], 0xa5);
  strictEqual(readIpv6(bytes, 3), address);
  const ones = (1n << 128n) - 1n;
  writeIpv6(bytes, 0, ones);
  strictEqual(readIpv6(bytes, 0), ones);
  deepStrictEqual(ipv6Groups(address), [0x2001, 0xdb8, 0x85a3, 0, 0, 0x8a2e, 0x370, 0x7334]);
});

Deno.test("inIpv6Prefix() compares the leading bits only", () => {
  const prefix = parseIpv6("fd00::")!;
  strictEqual(inIpv6Prefix(parseIpv6("fd00::1234:5678:9abc:def0")!, prefix, 64), true);
  strictEqual(inIpv6Prefix(parseIpv6("fd00:0:0:1::1")!, prefix, 64), false);
  strictEqual(inIpv6Prefix(parseIpv6("fdff::1")!, prefix, 8), true);
  strictEqual(inIpv6Prefix(parseIpv6("fe00::1")!, prefix, 8), false);
  strictEqual(inIpv6Prefix(prefix, prefix, 128), true);
  strictEqual(inIpv6Prefix(parseIpv6("::1")!, prefix, 0), true);
});
