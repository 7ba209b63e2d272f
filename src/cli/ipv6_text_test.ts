// Expected values were checked against glibc 2.36's inet_pton/inet_ntop.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { formatIpv6, parseIpv6 } from "./ipv6_text.ts";

const roundTrip = (text: string) => {
  const words = parseIpv6(text);
  return words === null ? null : formatIpv6(words);
};

Deno.test("parseIpv6() reads full, compressed and IPv4-tailed forms", () => {
  deepStrictEqual(parseIpv6("fd00::2"), [0xfd00, 0, 0, 0, 0, 0, 0, 2]);
  deepStrictEqual(parseIpv6("1:2:3:4:5:6:7:8"), [1, 2, 3, 4, 5, 6, 7, 8]);
  deepStrictEqual(parseIpv6("::"), [0, 0, 0, 0, 0, 0, 0, 0]);
  deepStrictEqual(parseIpv6("::ffff:10.0.2.2"), [0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0202]);
  deepStrictEqual(parseIpv6("1:2:3:4:5:6:1.2.3.4"), [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
  deepStrictEqual(parseIpv6("ABCD::"), [0xabcd, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("parseIpv6() rejects what inet_pton rejects", () => {
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
    strictEqual(parseIpv6(text), null, text);
  }
});

Deno.test("formatIpv6() writes the form glibc's inet_ntop writes", () => {
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
