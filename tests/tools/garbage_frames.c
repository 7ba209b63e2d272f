/*
 * garbage_frames: writes malformed Ethernet frames into an interface through an AF_PACKET socket,
 * so that the user-mode network reading the other end of a tap gets what a hostile guest could
 * send (the input classes of the CVEs listed in the reference, §6): runts, truncated
 * ARP/IPv4/IPv6/ICMP/UDP/TCP/BOOTP/TFTP headers, lengths that disagree with the frame, bad header
 * lengths and checksums, fragments (overlapping, past 64 KiB), oversized frames, random bytes.
 *
 * Safety: every frame with an IPv4 or IPv6 ethertype is addressed to the gateway (GATEWAY and
 * fd00::2), which slirp4netns maps to the host's loopback, so even a parser that accepts a bad
 * header cannot send anything off the host; IPv6 frames may also go to the router's link-local
 * address fe80::2 and to link-scope multicast groups (ff02::1, ff02::2, ff02::16 and fd00::2's
 * solicited-node group), which the stack answers itself or drops, never forwards. Nothing is
 * addressed to the DNS forwarder, and no VLAN ethertype is used. `sanitize()` enforces this on
 * every frame, whatever built it.
 *
 * usage: garbage_frames IFNAME CLASS COUNT SEED GATEWAY
 * CLASS: link (runts, random bytes, ARP, IPv6), ipv4 (malformed, unfragmented), fragments,
 * oversized (up to the interface MTU, at most 64 KiB), ipv6 (malformed headers, extension
 * headers, fragments, ICMPv6 and Neighbor Discovery, UDP and TCP), or all.
 * Prints "sent S refused R dropped D" (refused: the kernel rejected the frame, e.g. a runt
 * shorter than an Ethernet header; dropped: ENOBUFS after retries) and exits 0; exits 3 if the
 * interface disappears (the process behind the tap died).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME 65535
#define ETH_LEN 14

static uint64_t rng_state;

static uint32_t rnd(void) {
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static uint32_t below(uint32_t n) { return n == 0 ? 0 : rnd() % n; }
static int chance(uint32_t percent) { return below(100) < percent; }

static void fill_random(uint8_t *p, size_t n) {
	for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static uint16_t checksum(const uint8_t *p, size_t n) {
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint8_t gateway4[4];
static const uint8_t gateway6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
/* The IPv6 destinations a frame may have besides fd00::2: all local to the stack. */
static const uint8_t local6[][16] = {
	{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},          /* fe80::2 */
	{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},          /* ff02::1 */
	{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},          /* ff02::2 */
	{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16},       /* ff02::16 */
	{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2},       /* ff02::1:ff00:2 */
};
static const uint8_t gateway_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};

/* Ethernet header: broadcast, the gateway's MAC or a random one; a random unicast source. */
static void ethernet(uint8_t *f, uint16_t type) {
	switch (below(3)) {
	case 0: memset(f, 0xff, 6); break;
	case 1: memcpy(f, gateway_mac, 6); break;
	default: fill_random(f, 6);
	}
	fill_random(f + 6, 6);
	f[6] = (uint8_t)((f[6] & 0xfe) | 0x02);
	put16(f + 12, type);
}

/* The safety net: whatever a builder did, IP frames go to the gateway, and no VLAN tags. */
static void sanitize(uint8_t *f, size_t len) {
	if (len < ETH_LEN) return;
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == 0x8100 || type == 0x88a8 || type == 0x9100) put16(f + 12, type = 0x88b5);
	if (type == 0x0800) {
		for (size_t i = 0; i < 4 && ETH_LEN + 16 + i < len; i++) f[ETH_LEN + 16 + i] = gateway4[i];
	} else if (type == 0x86dd) {
		int local = 0;
		for (size_t k = 0; k < sizeof local6 / sizeof local6[0]; k++)
			if (len >= ETH_LEN + 40 && memcmp(f + ETH_LEN + 24, local6[k], 16) == 0) local = 1;
		if (!local)
			for (size_t i = 0; i < 16 && ETH_LEN + 24 + i < len; i++) f[ETH_LEN + 24 + i] = gateway6[i];
	}
}

static const uint16_t SAFE_PORTS[] = {7, 9, 67, 68, 69, 123, 1, 0, 65535};

static uint16_t port(void) { return SAFE_PORTS[below(sizeof SAFE_PORTS / sizeof SAFE_PORTS[0])]; }

/* A BOOTP/DHCP body that is truncated or has broken options (CVE-2021-3592 class). */
static size_t bootp(uint8_t *p, size_t room) {
	size_t n = below(2) ? below(300) : 240 + below(200);
	if (n > room) n = room;
	fill_random(p, n);
	if (n > 3) { p[0] = 1; p[1] = 1; p[2] = 6; p[3] = 0; }
	if (n >= 240 && chance(70)) {
		p[236] = 99; p[237] = 130; p[238] = 83; p[239] = 99; /* magic cookie */
		for (size_t i = 240; i + 2 < n; ) {
			p[i] = chance(30) ? 53 : (uint8_t)rnd();
			p[i + 1] = (uint8_t)(chance(50) ? below(8) : rnd()); /* may run past the end */
			i += 2 + p[i + 1];
		}
	}
	return n;
}

/* A TFTP request with unterminated strings or absurd options (CVE-2021-3595 class). */
static size_t tftp(uint8_t *p, size_t room) {
	static const char *words[] = {"../../etc/passwd", "octet", "blksize", "65535", "tsize", "0", "netascii"};
	size_t n = 0;
	if (room < 2) return 0;
	put16(p, (uint16_t)(1 + below(6)));
	n = 2;
	for (int w = below(6); w > 0 && n < room; w--) {
		const char *s = words[below(7)];
		size_t l = strlen(s);
		if (n + l + 1 > room) break;
		memcpy(p + n, s, l);
		n += l;
		if (chance(80)) p[n++] = 0;
	}
	return n;
}

/* An IPv4 packet to the gateway with a bad field or two; `frag` makes it a fragment. */
static size_t ipv4(uint8_t *f, size_t max, int frag) {
	uint8_t *ip = f + ETH_LEN;
	size_t room = max - ETH_LEN;
	size_t ihl = chance(75) ? 5 : below(16);
	size_t hlen = ihl * 4 < 20 ? 20 : ihl * 4;
	if (hlen > room) return 0;
	ethernet(f, 0x0800);
	fill_random(ip, hlen);
	ip[0] = (uint8_t)((chance(92) ? 4 : below(16)) << 4 | ihl);
	ip[1] = (uint8_t)rnd();
	put16(ip + 4, (uint16_t)(frag ? 0x4242 : rnd()));
	if (frag) {
		/* MF and/or an offset; some reach past 64 KiB, some overlap (offsets in one flow). */
		uint16_t off = (uint16_t)(chance(50) ? below(8) * 185 : below(0x2000));
		put16(ip + 6, (uint16_t)((chance(70) ? 0x2000 : 0) | (chance(10) ? 0x8000 : 0) | off));
	} else {
		/* Not a fragment: no MF, offset 0; DF and the reserved bit vary. */
		put16(ip + 6, (uint16_t)(below(4) << 14));
	}
	ip[8] = chance(20) ? (uint8_t)below(2) : 64;
	static const uint8_t protos[] = {1, 6, 17, 17, 2, 0, 255};
	uint8_t proto = chance(85) ? protos[below(sizeof protos)] : (uint8_t)rnd();
	ip[9] = proto;
	ip[12] = 10; ip[13] = 0; ip[14] = 2; ip[15] = (uint8_t)(chance(80) ? 100 : rnd());
	memcpy(ip + 16, gateway4, 4);

	uint8_t *l4 = ip + hlen;
	size_t l4room = room - hlen;
	size_t l4len;
	if (proto == 17 && l4room >= 8 && chance(90)) {
		uint16_t dport = port();
		put16(l4, (uint16_t)(chance(50) ? 68 : rnd()));
		put16(l4 + 2, dport);
		size_t body = dport == 67 ? bootp(l4 + 8, l4room - 8)
		            : dport == 69 ? tftp(l4 + 8, l4room - 8)
		            : below((uint32_t)(l4room - 8 < 1500 ? l4room - 8 + 1 : 1500));
		if (dport != 67 && dport != 69) fill_random(l4 + 8, body);
		put16(l4 + 4, (uint16_t)(chance(60) ? 8 + body : rnd()));
		put16(l4 + 6, chance(50) ? 0 : (uint16_t)rnd());
		l4len = 8 + body;
	} else if (proto == 6 && l4room >= 20 && chance(90)) {
		fill_random(l4, 20);
		put16(l4 + 2, port());
		l4[12] = (uint8_t)((chance(70) ? 5 : below(16)) << 4);
		l4[13] = (uint8_t)(chance(50) ? 0x02 : rnd()); /* SYN, or any mix of flags */
		l4len = 20 + below((uint32_t)(l4room - 20 < 200 ? l4room - 20 + 1 : 200));
		fill_random(l4 + 20, l4len - 20);
	} else if (proto == 1 && l4room >= 8 && chance(90)) {
		static const uint8_t types[] = {8, 8, 0, 3, 11, 12, 13, 17};
		l4len = 8 + below((uint32_t)(l4room - 8 < 2000 ? l4room - 8 + 1 : 2000));
		fill_random(l4, l4len);
		l4[0] = types[below(sizeof types)];
		if (l4[0] == 3 || l4[0] == 11 || l4[0] == 12) {
			/* An error quoting a (maybe truncated) header, which also points at the gateway. */
			if (l4len >= 8 + 20) {
				l4[8] = 0x45;
				memcpy(l4 + 8 + 16, gateway4, 4);
			}
		}
		if (chance(50)) {
			l4[2] = l4[3] = 0;
			put16(l4 + 2, checksum(l4, l4len));
		}
	} else {
		l4len = below((uint32_t)(l4room < 1500 ? l4room + 1 : 1500));
		fill_random(l4, l4len);
	}
	size_t total = hlen + l4len;
	put16(ip + 2, (uint16_t)(chance(60) ? total : chance(50) ? total + 1 + below(100) : rnd()));
	ip[10] = ip[11] = 0;
	if (chance(80)) put16(ip + 10, checksum(ip, hlen));
	else put16(ip + 10, (uint16_t)rnd());
	/* Sometimes cut the frame short of what the header says. */
	size_t len = ETH_LEN + total;
	if (chance(15)) len = ETH_LEN + below((uint32_t)total);
	return len;
}

static size_t arp(uint8_t *f, size_t max) {
	size_t len = ETH_LEN + (chance(50) ? 28 : below(60));
	if (len > max) len = max;
	ethernet(f, 0x0806);
	fill_random(f + ETH_LEN, len - ETH_LEN);
	uint8_t *a = f + ETH_LEN;
	if (len >= ETH_LEN + 28 && chance(70)) {
		put16(a, chance(80) ? 1 : (uint16_t)rnd());
		put16(a + 2, chance(80) ? 0x0800 : (uint16_t)rnd());
		a[4] = chance(80) ? 6 : (uint8_t)rnd();
		a[5] = chance(80) ? 4 : (uint8_t)rnd();
		put16(a + 6, (uint16_t)(chance(80) ? 1 + below(2) : rnd()));
		if (chance(60)) memcpy(a + 24, gateway4, 4);
	}
	return len;
}

static size_t ipv6(uint8_t *f, size_t max) {
	size_t len = ETH_LEN + 40 + below(600);
	if (chance(20)) len = ETH_LEN + below(40);
	if (len > max) len = max;
	ethernet(f, 0x86dd);
	uint8_t *ip = f + ETH_LEN;
	fill_random(ip, len - ETH_LEN);
	if (len >= ETH_LEN + 40) {
		static const uint8_t next[] = {58, 58, 17, 6, 44, 0, 60, 59};
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(chance(50) ? len - ETH_LEN - 40 : rnd()));
		ip[6] = next[below(sizeof next)];
		ip[7] = chance(50) ? 255 : (uint8_t)rnd();
		ip[8] = 0xfe; ip[9] = 0x80;
	}
	return len;
}

/* The ICMPv6/UDP/TCP checksum over the IPv6 pseudo-header (RFC 8200 §8.1). */
static uint16_t checksum6(const uint8_t *ip, uint8_t next, const uint8_t *l4, size_t n) {
	uint32_t sum = next + (uint32_t)(n >> 16) + (uint32_t)(n & 0xffff);
	for (size_t i = 8; i < 40; i += 2) sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(l4[i] << 8 | l4[i + 1]);
	if (n & 1) sum += (uint32_t)(l4[n - 1] << 8);
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* NDP options: lengths of 0, 1, too long or right; link-layer, prefix, MTU, RDNSS, random. */
static size_t ndp_options(uint8_t *p, size_t room) {
	size_t n = 0;
	for (int k = below(4); k > 0 && n + 2 <= room; k--) {
		static const uint8_t types[] = {1, 2, 3, 5, 14, 25, 0, 255};
		uint8_t len = chance(60) ? 1 : chance(50) ? 0 : (uint8_t)below(8);
		p[n] = types[below(sizeof types)];
		p[n + 1] = len;
		size_t size = len ? (size_t)len * 8 : 8;
		if (n + size > room) size = room - n;
		fill_random(p + n + 2, size - 2);
		n += size;
	}
	return n;
}

/* An extension header (hop-by-hop, destination options, routing, fragment) at p with `next`. */
static size_t extension(uint8_t *p, size_t room, uint8_t type, uint8_t next) {
	if (room < 8) return 0;
	if (type == 44) {
		p[0] = next;
		p[1] = 0;
		/* A few identifications, offsets that overlap, reach past 64 KiB, or are atomic. */
		put16(p + 2, (uint16_t)((chance(50) ? below(8) * 1448 : rnd()) & 0xfff8) | (chance(60) ? 1 : 0));
		p[4] = p[5] = p[6] = 0;
		p[7] = (uint8_t)below(4);
		return 8;
	}
	size_t units = chance(70) ? 0 : below(4);
	size_t size = (units + 1) * 8;
	if (size > room) size = 8, units = 0;
	p[0] = next;
	p[1] = (uint8_t)(chance(90) ? units : rnd());
	if (type == 43) {
		p[2] = (uint8_t)below(5);
		p[3] = chance(60) ? 0 : (uint8_t)rnd(); /* segments left */
		fill_random(p + 4, size - 4);
	} else {
		/* Options: padding (sometimes too much), router alert, unknown types of each action. */
		for (size_t i = 2; i < size;) {
			static const uint8_t kinds[] = {0, 1, 1, 5, 0x1e, 0x40, 0x80, 0xc2};
			p[i] = kinds[below(sizeof kinds)];
			if (p[i] == 0) { i++; continue; }
			if (i + 1 >= size) break;
			p[i + 1] = (uint8_t)(chance(80) ? below((uint32_t)(size - i - 1)) : rnd());
			fill_random(p + i + 2, size - i - 2 < p[i + 1] ? size - i - 2 : p[i + 1]);
			i += 2 + p[i + 1];
		}
	}
	return size;
}

/* An IPv6 packet for the stack with a bad field or two: extension headers, fragments, ICMPv6
 * (echo, NDP with broken options, MLD, errors), UDP or TCP to fd00::2. */
static size_t ipv6_packet(uint8_t *f, size_t max) {
	static const uint8_t sources[][16] = {
		{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64},
		{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64},
		{0},
	};
	uint8_t *ip = f + ETH_LEN;
	size_t room = (max < 1514 ? max : 1514) - ETH_LEN - 40;
	ethernet(f, 0x86dd);
	ip[0] = (uint8_t)(chance(95) ? 0x60 : rnd());
	ip[1] = ip[2] = ip[3] = 0;
	ip[7] = chance(70) ? 255 : (uint8_t)rnd();
	if (chance(85)) memcpy(ip + 8, sources[below(3)], 16);
	else fill_random(ip + 8, 16);
	int to = (int)below(7);
	memcpy(ip + 24, to < 2 ? gateway6 : local6[to - 2], 16);
	if (f[0] & 1) { /* a multicast destination MAC follows the address (RFC 2464 §7) */
		f[0] = f[1] = 0x33;
		memcpy(f + 2, ip + 36, 4);
	}

	/* The chain: 0..3 extension headers, then the upper layer. */
	static const uint8_t uppers[] = {58, 58, 58, 17, 6, 59, 132};
	uint8_t upper = uppers[below(sizeof uppers)];
	uint8_t chain[4];
	int headers = chance(60) ? 0 : (int)below(4);
	for (int k = 0; k < headers; k++) {
		static const uint8_t exts[] = {0, 60, 43, 44};
		chain[k] = exts[below(4)];
	}
	uint8_t *p = ip + 40;
	size_t used = 0;
	ip[6] = headers ? chain[0] : upper;
	for (int k = 0; k < headers; k++) {
		used += extension(p + used, room - used, chain[k], k + 1 < headers ? chain[k + 1] : upper);
	}
	uint8_t *l4 = p + used;
	size_t l4room = room - used;
	size_t l4len = 0;
	if (upper == 58 && l4room >= 24) {
		static const uint8_t types[] = {128, 128, 133, 135, 135, 136, 134, 137, 143, 1, 2, 3, 4, 129};
		uint8_t type = chance(90) ? types[below(sizeof types)] : (uint8_t)rnd();
		l4[0] = type;
		l4[1] = chance(90) ? 0 : (uint8_t)rnd();
		fill_random(l4 + 4, 20);
		if (type == 135 || type == 136) {
			memcpy(l4 + 8, chance(70) ? gateway6 : local6[0], 16);
			l4len = 24 + ndp_options(l4 + 24, l4room - 24 < 64 ? l4room - 24 : 64);
		} else if (type == 133 || type == 134) {
			size_t fixed = type == 133 ? 8 : 16;
			l4len = fixed + ndp_options(l4 + fixed, l4room - fixed < 64 ? l4room - fixed : 64);
		} else {
			l4len = 8 + below((uint32_t)(l4room - 8 < 1400 ? l4room - 8 + 1 : 1400));
			fill_random(l4 + 8, l4len - 8);
		}
		if (chance(20)) l4len = below((uint32_t)l4len); /* shorter than the message */
		l4[2] = l4[3] = 0;
		if (l4len >= 4) put16(l4 + 2, chance(75) ? checksum6(ip, 58, l4, l4len) : (uint16_t)rnd());
	} else if (upper == 17 && l4room >= 8) {
		l4len = 8 + below((uint32_t)(l4room - 8 < 600 ? l4room - 8 + 1 : 600));
		fill_random(l4, l4len);
		put16(l4 + 2, port());
		put16(l4 + 4, (uint16_t)(chance(70) ? l4len : rnd()));
		l4[6] = l4[7] = 0;
		if (chance(70)) put16(l4 + 6, checksum6(ip, 17, l4, l4len));
	} else if (upper == 6 && l4room >= 20) {
		l4len = 20 + below(64);
		if (l4len > l4room) l4len = l4room;
		fill_random(l4, l4len);
		put16(l4 + 2, port());
		l4[12] = (uint8_t)((chance(70) ? 5 : below(16)) << 4);
	} else {
		l4len = below((uint32_t)(l4room < 64 ? l4room + 1 : 64));
		fill_random(l4, l4len);
	}
	size_t payload = used + l4len;
	put16(ip + 4, (uint16_t)(chance(85) ? payload : chance(50) ? payload + 1 + below(100) : rnd()));
	size_t len = ETH_LEN + 40 + payload;
	if (chance(10)) len = ETH_LEN + below((uint32_t)(40 + payload));
	return len;
}

/* The frame classes a test can ask for. */
enum frame_class { LINK, IPV4, FRAGMENTS, OVERSIZED, IPV6, ALL };
static const char *CLASS_NAMES[] = {"link", "ipv4", "fragments", "oversized", "ipv6", "all"};

/* Which kinds (cases of build()) each class draws from. */
static int pick_kind(enum frame_class class) {
	static const int link[] = {0, 1, 2, 4, 5};
	switch (class) {
	case LINK: return link[below(5)];
	case IPV4: return 7;
	case FRAGMENTS: return 6;
	case OVERSIZED: return 3;
	case IPV6: return 8;
	default: return (int)below(10);
	}
}

/* One frame of a kind of `class` into f (MAX_FRAME bytes); returns its length. */
static size_t build(uint8_t *f, size_t big, enum frame_class class) {
	size_t len;
	switch (pick_kind(class)) {
	case 0: /* runt: shorter than an Ethernet header */
		len = below(ETH_LEN);
		fill_random(f, len);
		break;
	case 1: /* header-only and sub-minimum frames */
		len = ETH_LEN + below(46);
		fill_random(f, len);
		if (chance(60)) put16(f + 12, (uint16_t[]){0x0800, 0x0806, 0x86dd}[below(3)]);
		break;
	case 2: /* random bytes, random ethertype, any size up to the MTU */
		len = ETH_LEN + below(1500 + 1);
		fill_random(f, len);
		break;
	case 3: /* oversized: up to 64 KiB when the MTU allows */
		len = ETH_LEN + 1500 + below((uint32_t)(big - ETH_LEN - 1500 + 1));
		if (chance(50)) {
			size_t n = ipv4(f, len, 0);
			if (n > 0) len = n;
		} else {
			fill_random(f, len);
		}
		break;
	case 4: len = arp(f, big); break;
	case 5: len = ipv6(f, big); break;
	case 6: len = ipv4(f, chance(80) ? 1514 : big, 1); break;
	case 8: len = ipv6_packet(f, big); break;
	default: len = ipv4(f, 1514, 0); break;
	}
	sanitize(f, len);
	return len;
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: %s IFNAME CLASS COUNT SEED GATEWAY\n", argv[0]);
		return 2;
	}
	enum frame_class class = ALL;
	while (class > LINK && strcmp(argv[2], CLASS_NAMES[class]) != 0) class--;
	if (strcmp(argv[2], CLASS_NAMES[class]) != 0) {
		fprintf(stderr, "unknown class %s: link, ipv4, fragments, oversized, ipv6 or all\n", argv[2]);
		return 2;
	}
	long count = strtol(argv[3], NULL, 10);
	rng_state = strtoull(argv[4], NULL, 10) * 0x9e3779b97f4a7c15ULL + 1;
	if (inet_pton(AF_INET, argv[5], gateway4) != 1) {
		fprintf(stderr, "bad gateway address: %s\n", argv[5]);
		return 2;
	}
	unsigned ifindex = if_nametoindex(argv[1]);
	if (ifindex == 0) {
		perror(argv[1]);
		return 1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", argv[1]);
	size_t big = MAX_FRAME;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s >= 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0 && (size_t)ifr.ifr_mtu + ETH_LEN < big)
		big = (size_t)ifr.ifr_mtu + ETH_LEN;
	if (big < ETH_LEN + 1500) big = ETH_LEN + 1500;
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifindex, .sll_halen = 6};
	static uint8_t frame[MAX_FRAME];
	long sent = 0, refused = 0, dropped = 0;
	for (long i = 0; i < count; i++) {
		size_t len = build(frame, big, class);
		for (int attempt = 0;; attempt++) {
			if (sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof to) >= 0) {
				sent++;
				break;
			}
			if ((errno == ENOBUFS || errno == EAGAIN) && attempt < 100) {
				usleep(200);
				continue;
			}
			if (errno == ENXIO || errno == ENODEV || errno == ENETDOWN) {
				/* The tap went away: whoever held it died, probably on an earlier frame. */
				printf("sent %ld refused %ld dropped %ld\n", sent, refused, dropped);
				printf("%s is gone after %ld frames: %s\n", argv[1], sent, strerror(errno));
				return 3;
			}
			if (errno == ENOBUFS || errno == EAGAIN) dropped++;
			else refused++;
			break;
		}
	}
	printf("sent %ld refused %ld dropped %ld\n", sent, refused, dropped);
	return 0;
}
