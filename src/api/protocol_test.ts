import assert from "node:assert/strict";
import { parseIpv6 } from "../wire/address.ts";
import {
  addedReply,
  addFailedReply,
  errorReply,
  ERRORS,
  type GuestDefaults,
  listReply,
  type ParsedRequest,
  parseRequest,
  REMOVED_REPLY,
  TOO_LARGE_REPLY,
} from "./protocol.ts";

const GUEST = 0x0a000264; // 10.0.2.100, network + 100 of the default 10.0.2.0/24
/** The guest's SLAAC address, as the network learned it. */
const GUEST6 = parseIpv6("fd00::5054:ff:fe12:3456")!;
const DEFAULTS: GuestDefaults = { ipv4: GUEST };
const encoder = new TextEncoder();

function parse(text: string, defaults: GuestDefaults = DEFAULTS): ParsedRequest {
  return parseRequest(encoder.encode(text), defaults);
}

/** The reply a request gets without running anything: its error, or "ok" for a valid command. */
function replyOf(text: string): string {
  const parsed = parse(text);
  return parsed.ok ? "ok" : parsed.reply;
}

function add(args: Record<string, unknown>): string {
  return replyOf(JSON.stringify({ execute: "add_hostfwd", arguments: args }));
}

// --- Byte-exact replies (reference §2) ---

Deno.test("error replies are slirp4netns's bytes: compact, no trailing newline", () => {
  assert.equal(
    errorReply(ERRORS.cannotParse),
    '{"error":{"desc":"bad request: cannot parse JSON"}}',
  );
  assert.equal(
    errorReply(ERRORS.notObject),
    '{"error":{"desc":"bad request: json_object() failed"}}',
  );
  assert.equal(errorReply(ERRORS.noExecute), '{"error":{"desc":"bad request: no execute found"}}');
  assert.equal(
    errorReply(ERRORS.unknownExecute),
    '{"error":{"desc":"bad request: unknown execute"}}',
  );
  assert.equal(TOO_LARGE_REPLY, '{"error":{"desc":"bad request: too large message"}}');
  assert.equal(
    errorReply(ERRORS.proto),
    '{"error":{"desc":"bad request: add_hostfwd: bad arguments.proto"}}',
  );
  assert.equal(
    errorReply(ERRORS.id),
    '{"error":{"desc":"bad request: remove_hostfwd: bad arguments.id"}}',
  );
});

Deno.test("success replies are slirp4netns's bytes", () => {
  assert.equal(addedReply(1), '{"return":{"id":1}}');
  assert.equal(addedReply(42), '{"return":{"id":42}}');
  assert.equal(REMOVED_REPLY, '{"return":{}}');
  assert.equal(listReply([]), '{"entries":[]}');
  assert.equal(
    listReply([
      { id: 1, proto: "tcp", hostAddr: 0, hostPort: 8080, guestAddr: GUEST, guestPort: 80 },
      {
        id: 2,
        proto: "udp",
        hostAddr: 0x7f000001,
        hostPort: 18081,
        guestAddr: GUEST,
        guestPort: 81,
      },
    ]),
    '{"entries":[' +
      '{"id":1,"proto":"tcp","host_addr":"0.0.0.0","host_port":8080,"guest_addr":"10.0.2.100","guest_port":80},' +
      '{"id":2,"proto":"udp","host_addr":"127.0.0.1","host_port":18081,"guest_addr":"10.0.2.100","guest_port":81}' +
      "]}",
  );
});

Deno.test("addFailedReply() keeps slirp4netns's prefix and adds the reason", () => {
  assert.equal(
    addFailedReply("Address already in use"),
    '{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed: Address already in use"}}',
  );
});

// --- The upstream test-slirp4netns-api-socket.sh requests, verbatim (with echo's newline) ---

Deno.test("parseRequest() answers the upstream api-socket test's bad requests as slirp4netns", () => {
  assert.equal(replyOf("badjson\n"), errorReply(ERRORS.cannotParse));
  assert.equal(replyOf('{"unexpectedjson": 42}\n'), errorReply(ERRORS.noExecute));
  assert.equal(replyOf('{"execute": "bad"}\n'), errorReply(ERRORS.unknownExecute));
  assert.equal(
    replyOf('{"execute": "add_hostfwd", "arguments":{"proto": "bad"}}\n'),
    errorReply(ERRORS.proto),
  );
});

Deno.test("parseRequest() reads the upstream api-socket test's commands", () => {
  assert.deepEqual(
    parse(
      '{"execute": "add_hostfwd", "arguments":{"proto": "tcp","host_port":8080,"guest_port":80}}\n',
    ),
    {
      ok: true,
      command: {
        execute: "add_hostfwd",
        forward: { proto: "tcp", hostAddr: 0, hostPort: 8080, guestAddr: GUEST, guestPort: 80 },
      },
    },
  );
  assert.deepEqual(parse('{"execute": "list_hostfwd"}\n'), {
    ok: true,
    command: { execute: "list_hostfwd" },
  });
  assert.deepEqual(parse('{"execute": "remove_hostfwd", "arguments":{"id": 1}}\n'), {
    ok: true,
    command: { execute: "remove_hostfwd", id: 1 },
  });
});

Deno.test("parseRequest() reads the man page's full add_hostfwd example", () => {
  const text =
    '{"execute": "add_hostfwd", "arguments": {"proto": "udp", "host_addr": "127.0.0.1", ' +
    '"host_port": 8080, "guest_addr": "10.0.2.15", "guest_port": 80}}';
  assert.deepEqual(parse(text), {
    ok: true,
    command: {
      execute: "add_hostfwd",
      forward: {
        proto: "udp",
        hostAddr: 0x7f000001,
        hostPort: 8080,
        guestAddr: 0x0a00020f,
        guestPort: 80,
      },
    },
  });
});

// --- Generic errors ---

Deno.test("parseRequest() gives json_object() failed for JSON that is not an object", () => {
  assert.equal(replyOf("[1,2]"), errorReply(ERRORS.notObject));
  assert.equal(replyOf('"add_hostfwd"'), errorReply(ERRORS.notObject));
  assert.equal(replyOf("42"), errorReply(ERRORS.notObject));
  assert.equal(replyOf("null"), errorReply(ERRORS.notObject));
});

Deno.test("parseRequest() gives no execute found for a missing or non-string execute", () => {
  assert.equal(replyOf("{}"), errorReply(ERRORS.noExecute));
  assert.equal(replyOf('{"execute":1}'), errorReply(ERRORS.noExecute));
  assert.equal(replyOf('{"execute":null}'), errorReply(ERRORS.noExecute));
  assert.equal(replyOf('{"execute":["list_hostfwd"]}'), errorReply(ERRORS.noExecute));
  assert.equal(replyOf('{"arguments":{"execute":"list_hostfwd"}}'), errorReply(ERRORS.noExecute));
});

Deno.test("parseRequest() knows only the three commands, case-sensitively", () => {
  for (const execute of ["get_info", "info", "query", "ADD_HOSTFWD", "list_hostfwd ", ""]) {
    assert.equal(replyOf(JSON.stringify({ execute })), errorReply(ERRORS.unknownExecute), execute);
  }
});

Deno.test("parseRequest() gives cannot parse JSON for empty and broken input", () => {
  for (
    const text of [
      "",
      " \n",
      "{",
      '{"execute":"list_hostfwd"',
      '{"execute":"list_hostfwd",}',
      "{'execute':'list_hostfwd'}",
      '{"execute":"list_\u0001hostfwd"}',
      '{execute:"list_hostfwd"}',
      "\0",
      "/* comment */ {}",
    ]
  ) {
    assert.equal(replyOf(text), errorReply(ERRORS.cannotParse), JSON.stringify(text));
  }
});

Deno.test("parseRequest() rejects a repeated name, as parson does", () => {
  assert.equal(
    replyOf('{"execute":"list_hostfwd","execute":"add_hostfwd"}'),
    errorReply(ERRORS.cannotParse),
  );
  assert.equal(
    replyOf('{"execute":"remove_hostfwd","arguments":{"id":1,"id":2}}'),
    errorReply(ERRORS.cannotParse),
  );
});

Deno.test("parseRequest() runs the first value and ignores what follows, as slirp4netns", () => {
  assert.equal(replyOf('{"execute":"list_hostfwd","arguments":{}}  trailing'), "ok");
  assert.deepEqual(
    parse('{"execute":"remove_hostfwd","arguments":{"id":3}}{"execute":"list_hostfwd"}'),
    { ok: true, command: { execute: "remove_hostfwd", id: 3 } },
  );
  assert.equal(replyOf('  \r\n\t{"execute":"list_hostfwd"}\n'), "ok");
  assert.equal(replyOf('{"execute":"list_hostfwd"}\0garbage'), "ok");
});

Deno.test("parseRequest() ignores list_hostfwd's arguments", () => {
  assert.equal(replyOf('{"execute":"list_hostfwd","arguments":{"proto":"bad"}}'), "ok");
  assert.equal(replyOf('{"execute":"list_hostfwd","arguments":7}'), "ok");
});

Deno.test("parseRequest() decodes escapes and UTF-8 in names and values", () => {
  assert.equal(replyOf('{"\\u0065xecute":"list_hostfw\\u0064"}'), "ok");
  assert.equal(replyOf('{"execute":"list_hostfwd","x":"caf\u00e9 \\ud83d\\ude00"}'), "ok");
  const invalidUtf8 = new Uint8Array([...encoder.encode('{"execute":"'), 0xff, 0x22, 0x7d]);
  assert.deepEqual(parseRequest(invalidUtf8, DEFAULTS), {
    ok: false,
    reply: errorReply(ERRORS.cannotParse),
  });
});

// --- add_hostfwd ---

Deno.test("add_hostfwd: a missing or non-string proto is an error, not a crash", () => {
  // slirp4netns segfaults on these (strcmp(NULL, ...)); reference §1.5.
  assert.equal(replyOf('{"execute":"add_hostfwd"}'), errorReply(ERRORS.proto));
  assert.equal(replyOf('{"execute":"add_hostfwd","arguments":{}}'), errorReply(ERRORS.proto));
  assert.equal(replyOf('{"execute":"add_hostfwd","arguments":5}'), errorReply(ERRORS.proto));
  for (const proto of [null, 6, true, ["tcp"], { tcp: 1 }]) {
    assert.equal(add({ proto, host_port: 8080, guest_port: 80 }), errorReply(ERRORS.proto));
  }
});

Deno.test("add_hostfwd: proto is exactly tcp or udp", () => {
  for (const proto of ["bad", "TCP", "Udp", "tcp4", "tcp6", "udp6", "sctp", "", "tcp "]) {
    assert.equal(add({ proto, host_port: 8080, guest_port: 80 }), errorReply(ERRORS.proto), proto);
  }
});

Deno.test("add_hostfwd: a missing, null or empty host_addr means 0.0.0.0", () => {
  for (const hostAddr of [undefined, null, ""]) {
    const parsed = parse(JSON.stringify({
      execute: "add_hostfwd",
      arguments: { proto: "tcp", host_addr: hostAddr, host_port: 8080, guest_port: 80 },
    }));
    assert.ok(parsed.ok && parsed.command.execute === "add_hostfwd");
    assert.equal(parsed.command.forward.hostAddr, 0);
  }
});

Deno.test("add_hostfwd: host_addr must be IPv4 as inet_pton takes it", () => {
  for (
    const host_addr of ["localhost", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", " 1.2.3.4", 1]
  ) {
    assert.equal(
      add({ proto: "tcp", host_addr, host_port: 8080, guest_port: 80 }),
      errorReply(ERRORS.hostAddr),
      String(host_addr),
    );
  }
});

/** The forward an add request with these arguments describes, or its error reply. */
function forwardOf(args: Record<string, unknown>, defaults: GuestDefaults = DEFAULTS) {
  const parsed = parse(JSON.stringify({ execute: "add_hostfwd", arguments: args }), defaults);
  if (!parsed.ok) return parsed.reply;
  assert.equal(parsed.command.execute, "add_hostfwd");
  return parsed.command.execute === "add_hostfwd" ? parsed.command.forward : null;
}

Deno.test("add_hostfwd: an IPv6 host_addr listens on IPv6 and forwards to the guest's IPv6 address", () => {
  const withIpv6 = { ipv4: GUEST, ipv6: () => GUEST6 };
  for (
    const [host_addr, address] of [["::", 0n], ["::1", 1n], [
      "2001:db8::7",
      parseIpv6("2001:db8::7"),
    ]] as const
  ) {
    assert.deepEqual(
      forwardOf({ proto: "tcp", host_addr, host_port: 8080, guest_port: 80 }, withIpv6),
      {
        proto: "tcp",
        hostAddr: address,
        hostPort: 8080,
        guestAddr: GUEST6,
        guestPort: 80,
      },
    );
  }
  // "::" as the guest address means the same default; a given address is kept.
  assert.deepEqual(
    forwardOf(
      { proto: "udp", host_addr: "::", host_port: 53, guest_addr: "::", guest_port: 53 },
      withIpv6,
    ),
    { proto: "udp", hostAddr: 0n, hostPort: 53, guestAddr: GUEST6, guestPort: 53 },
  );
  const given = parseIpv6("fd00::abcd")!;
  assert.deepEqual(
    forwardOf(
      { proto: "tcp", host_port: 8080, guest_addr: "fd00::abcd", guest_port: 80 },
      withIpv6,
    ),
    { proto: "tcp", hostAddr: 0, hostPort: 8080, guestAddr: given, guestPort: 80 },
  );
});

Deno.test("add_hostfwd: the families may differ: an IPv6 listener to the IPv4 guest, even without -6", () => {
  assert.deepEqual(
    forwardOf({
      proto: "tcp",
      host_addr: "::",
      host_port: 8080,
      guest_addr: "10.0.2.100",
      guest_port: 80,
    }),
    { proto: "tcp", hostAddr: 0n, hostPort: 8080, guestAddr: GUEST, guestPort: 80 },
  );
});

Deno.test("add_hostfwd: an IPv6 guest without -6, or with no address learned yet, is a clear error", () => {
  assert.equal(
    add({ proto: "tcp", host_port: 8080, guest_addr: "fd00::100", guest_port: 80 }),
    errorReply(ERRORS.guestAddr + ERRORS.ipv6Off),
  );
  assert.equal(
    add({ proto: "tcp", host_addr: "::", host_port: 8080, guest_port: 80 }),
    errorReply(ERRORS.guestAddr + ERRORS.ipv6Off),
  );
  const reply = forwardOf(
    { proto: "tcp", host_addr: "::1", host_port: 8080, guest_port: 80 },
    { ipv4: GUEST, ipv6: () => null },
  );
  assert.equal(reply, errorReply(ERRORS.guestAddr + ERRORS.noGuestIpv6));
  assert.match(
    String(reply),
    /^\{"error":\{"desc":"bad request: add_hostfwd: bad arguments\.guest_addr: /,
  );
});

Deno.test("add_hostfwd: IPv6 text as inet_pton(AF_INET6) takes it, no zone ids", () => {
  for (const host_addr of ["fe80::1%eth0", "::1::", "1:2:3:4:5:6:7:8:9", "[::1]", "::g"]) {
    assert.equal(
      add({ proto: "tcp", host_addr, host_port: 8080, guest_port: 80 }),
      errorReply(ERRORS.hostAddr),
      host_addr,
    );
  }
});

Deno.test("add_hostfwd: host_port must be a whole number in 1..65535", () => {
  // slirp4netns truncates 18091.7, accepts 70000 (binds 4464) and takes the string "18090" as 0.
  for (const host_port of [undefined, null, 0, -1, 65536, 70000, 18091.7, "18090", true, 1e400]) {
    assert.equal(
      add({ proto: "tcp", host_port, guest_port: 80 }),
      errorReply(ERRORS.hostPort),
      String(host_port),
    );
  }
  assert.equal(
    replyOf(
      '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1e400,"guest_port":80}}',
    ),
    errorReply(ERRORS.hostPort),
  );
  assert.equal(add({ proto: "tcp", host_port: 1, guest_port: 80 }), "ok");
  assert.equal(add({ proto: "tcp", host_port: 65535, guest_port: 80 }), "ok");
  assert.equal(
    replyOf(
      '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8.08e3,"guest_port":80}}',
    ),
    "ok",
  );
});

Deno.test("add_hostfwd: guest_port must be a whole number in 1..65535", () => {
  for (const guest_port of [undefined, 0, -5, 65536, 80.5, "80", false]) {
    assert.equal(
      add({ proto: "udp", host_port: 8080, guest_port }),
      errorReply(ERRORS.guestPort),
      String(guest_port),
    );
  }
});

Deno.test("add_hostfwd: a missing or empty guest_addr is network + 100, following --cidr", () => {
  const parsed = parse(
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8080,"guest_addr":"","guest_port":80}}',
    { ipv4: 0x0a0087e4 }, // --cidr 10.0.135.128/25: 10.0.135.228
  );
  assert.ok(parsed.ok && parsed.command.execute === "add_hostfwd");
  assert.equal(parsed.command.forward.guestAddr, 0x0a0087e4);
});

Deno.test("add_hostfwd: an explicit guest_addr 0.0.0.0 is kept (libslirp sends it to DHCP start)", () => {
  const parsed = parse(
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8080,"guest_addr":"0.0.0.0","guest_port":80}}',
  );
  assert.ok(parsed.ok && parsed.command.execute === "add_hostfwd");
  assert.equal(parsed.command.forward.guestAddr, 0);
});

Deno.test("add_hostfwd: guest_addr must be IPv4", () => {
  for (const guest_addr of ["guest", "10.0.2", 100]) {
    assert.equal(
      add({ proto: "tcp", host_port: 8080, guest_addr, guest_port: 80 }),
      errorReply(ERRORS.guestAddr),
    );
  }
});

Deno.test("add_hostfwd: checks run in slirp4netns's order: proto, host_addr, host_port, guest_addr, guest_port", () => {
  const allBad = { proto: "x", host_addr: "x", host_port: 0, guest_addr: "x", guest_port: 0 };
  assert.equal(add(allBad), errorReply(ERRORS.proto));
  assert.equal(add({ ...allBad, proto: "tcp" }), errorReply(ERRORS.hostAddr));
  assert.equal(add({ ...allBad, proto: "tcp", host_addr: "" }), errorReply(ERRORS.hostPort));
  assert.equal(
    add({ ...allBad, proto: "tcp", host_addr: "", host_port: 1 }),
    errorReply(ERRORS.guestAddr),
  );
  assert.equal(
    add({ ...allBad, proto: "tcp", host_addr: "", host_port: 1, guest_addr: "" }),
    errorReply(ERRORS.guestPort),
  );
});

// --- remove_hostfwd ---

Deno.test("remove_hostfwd: id must be a whole positive number", () => {
  for (const args of ["{}", '{"id":"1"}', '{"id":0}', '{"id":-1}', '{"id":1.5}', '{"id":null}']) {
    assert.equal(
      replyOf(`{"execute":"remove_hostfwd","arguments":${args}}`),
      errorReply(ERRORS.id),
      args,
    );
  }
  assert.equal(replyOf('{"execute":"remove_hostfwd"}'), errorReply(ERRORS.id));
  assert.deepEqual(parse('{"execute":"remove_hostfwd","arguments":{"id":1.0}}'), {
    ok: true,
    command: { execute: "remove_hostfwd", id: 1 },
  });
});

Deno.test("parseRequest() reads get_stats with no arguments or a boolean connections", () => {
  const parse = (text: string) =>
    parseRequest(new TextEncoder().encode(text), { ipv4: 0x0a000264 });
  assert.deepEqual(parse('{"execute":"get_stats"}'), {
    ok: true,
    command: { execute: "get_stats", connections: false },
  });
  assert.deepEqual(parse('{"execute":"get_stats","arguments":null}'), {
    ok: true,
    command: { execute: "get_stats", connections: false },
  });
  assert.deepEqual(parse('{"execute":"get_stats","arguments":{}}'), {
    ok: true,
    command: { execute: "get_stats", connections: false },
  });
  assert.deepEqual(parse('{"execute":"get_stats","arguments":{"connections":true}}'), {
    ok: true,
    command: { execute: "get_stats", connections: true },
  });
});

Deno.test("parseRequest() answers bad get_stats arguments with an error object naming them", () => {
  const reply = (text: string) => {
    const parsed = parseRequest(new TextEncoder().encode(text), { ipv4: 0x0a000264 });
    assert.equal(parsed.ok, false, text);
    return parsed.ok ? "" : parsed.reply;
  };
  assert.equal(
    reply('{"execute":"get_stats","arguments":{"connections":1}}'),
    '{"error":{"desc":"bad request: get_stats: bad arguments.connections"}}',
  );
  assert.equal(
    reply('{"execute":"get_stats","arguments":[true]}'),
    '{"error":{"desc":"bad request: get_stats: bad arguments"}}',
  );
  assert.equal(
    reply('{"execute":"get_stats","arguments":{"connections":true,"x\\"y":0}}'),
    '{"error":{"desc":"bad request: get_stats: unknown argument: \\"x\\\\\\"y\\""}}',
  );
});
