/**
 * UDP NAT (issue 4; reference §4.6): datagrams to 10.0.2.2 reach the host's 127.0.0.1, datagrams to
 * other addresses reach them from a host socket, replies come back to the right guest port, large
 * datagrams are fragmented both ways, and ICMP errors from the host make a closed port fail at once.
 * The command runs in a private host-side namespace whose only other host is a test host behind a
 * veth (198.51.100.2), under a private resolv.conf.
 */
import assert from "node:assert/strict";
import { HostSide } from "../helpers/hostside.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns } from "../helpers/netns.ts";
import { waitFor } from "../helpers/process.ts";

async function privateResolvConf(v: Variant): Promise<string> {
  const path = `${await v.tempDir()}/resolv.conf`;
  await Deno.writeTextFile(path, "nameserver 127.0.0.53\n");
  await Deno.chmod(path, 0o644);
  return path;
}

/** A UDP echo server (socat) on `address:port`. */
const echo = (address: string, port: number) => [
  "socat",
  `UDP4-RECVFROM:${port},bind=${address},fork`,
  "EXEC:cat",
];

const UDP_7777 = { protocol: "udp", port: 7777 } as const;

// socat stops waiting for the reply -t seconds after its input ends (0.5 s by default, which a
// loaded machine can miss: forks, ARP on both veth ends); -T ends it a second after the last data.
/** Sends "$2" to UDP "$1" and prints the reply. */
const SEND = 'echo "$2" | socat -t 3 -T 1 - "UDP4:$1"';
/** Sends N random bytes to UDP "$1" and checks that the same bytes come back. */
const ROUND_TRIP = `f=$(mktemp) && head -c "$2" /dev/urandom > "$f" &&
  socat -t 3 -T 1 -b 65535 - "UDP4:$1" < "$f" | cmp - "$f"; status=$?; rm -f "$f"; exit $status`;

matrix(
  "UDP echo through 10.0.2.2 (host 127.0.0.1) and to a test host, 5000-byte datagrams too",
  async (v) => {
    const side = await HostSide.create(v);
    const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
    await side.spawnServer(v, echo("127.0.0.1", 7777), "echo on the host's loopback", UDP_7777);
    await host.spawnServer(v, echo("198.51.100.2", 7777), "echo on the test host", UDP_7777);
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, await privateResolvConf(v));

    const viaGateway = await guest.shOk(SEND, ["10.0.2.2:7777", "hello gateway"]);
    assert.equal(viaGateway.stdout.trim(), "hello gateway");
    const toHost = await guest.shOk(SEND, ["198.51.100.2:7777", "hello test host"]);
    assert.equal(toHost.stdout.trim(), "hello test host");
    // Above the MTU of 1500: the guest fragments, we reassemble; the reply is fragmented for it.
    await guest.shOk(ROUND_TRIP, ["10.0.2.2:7777", "5000"]);
    await guest.shOk(ROUND_TRIP, ["198.51.100.2:7777", "5000"]);
    assert.ok(proc.running, proc.describe());
  },
);

matrix("UDP to a closed port fails at once: ICMP port unreachable reaches the guest", async (v) => {
  const side = await HostSide.create(v);
  await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
  const guest = await createNetns(v);
  await side.startConfigured(v, guest, await privateResolvConf(v));
  for (const target of ["10.0.2.2", "198.51.100.2"]) {
    const started = performance.now();
    const result = await guest.run([
      "dig",
      `@${target}`,
      "-p",
      "9",
      "+time=5",
      "+tries=1",
      "x.test",
    ]);
    const ms = performance.now() - started;
    assert.match(result.stdout + result.stderr, /connection refused/, result.stdout);
    assert.ok(ms < 2000, `${target}: took ${ms} ms`);
  }
});

matrix("--disable-host-loopback: UDP to 10.0.2.2 is refused, other hosts still work", async (v) => {
  const side = await HostSide.create(v);
  const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
  await side.spawnServer(v, echo("127.0.0.1", 7777), "echo on the host's loopback", UDP_7777);
  await host.spawnServer(v, echo("198.51.100.2", 7777), "echo on the test host", UDP_7777);
  const guest = await createNetns(v);
  await side.startConfigured(v, guest, await privateResolvConf(v), ["--disable-host-loopback"]);
  // libslirp answers with ICMP net unreachable, a soft error a UDP socket does not report:
  // count the guest kernel's received destination-unreachable messages instead.
  const unreachables = async () => {
    const snmp = (await guest.shOk("cat /proc/net/snmp")).stdout.split("\n");
    const names = snmp.find((line) => line.startsWith("Icmp: InMsgs"))!.split(/\s+/);
    const values = snmp.filter((line) => line.startsWith("Icmp: "))[1].split(/\s+/);
    return Number(values[names.indexOf("InDestUnreachs")]);
  };
  const before = await unreachables();
  const refused = await guest.sh(SEND, ["10.0.2.2:7777", "hello"]);
  assert.equal(refused.stdout.trim(), "", "the host's 127.0.0.1 answered");
  assert.equal(await unreachables(), before + 1);
  const toHost = await guest.shOk(SEND, ["198.51.100.2:7777", "still works"]);
  assert.equal(toHost.stdout.trim(), "still works");
});

matrix("--outbound-addr: UDP leaves from that address (slirp4netns binds only TCP)", async (v) => {
  const side = await HostSide.create(v);
  const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
  await side.shOk("ip addr add 198.51.100.3/24 dev vt0");
  // Replies with the address the datagram came from.
  await host.spawnServer(
    v,
    ["socat", "UDP4-RECVFROM:7777,bind=198.51.100.2,fork", "SYSTEM:echo $SOCAT_PEERADDR"],
    "peer address echo",
    UDP_7777,
  );
  const guest = await createNetns(v);
  await side.startConfigured(v, guest, await privateResolvConf(v), [
    "--outbound-addr=198.51.100.3",
  ]);
  // One datagram each way with no retransmission: on a loaded machine socat's forked responder
  // has been seen to miss one (the request was on the veth), so ask up to three times.
  const peer = await waitFor("a reply from the test host", async () => {
    const reply = await guest.sh(SEND, ["198.51.100.2:7777", "who am i"]);
    return reply.stdout.trim() || null;
  }, { timeoutMs: 30_000 });
  assert.equal(peer, "198.51.100.3");
});
