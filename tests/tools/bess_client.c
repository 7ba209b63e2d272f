/*
 * bess_client: a User-Mode-Linux-like client of `--target-type=bess`. Connects to SOCKETPATH as
 * an AF_UNIX SOCK_SEQPACKET socket (one packet = one Ethernet frame, no header) and, from the
 * made-up MAC 02:00:00:00:b0:01, asks the emulated network three things:
 *   1. ARP: who has GATEWAY? (sender 0.0.0.0 until DHCP; RFC 826)
 *   2. DHCPDISCOVER (RFC 2131), broadcast; expects a DHCPOFFER
 *   3. ICMP echo request to GATEWAY from the offered address (RFC 792); expects the echo reply
 * Every frame goes to the gateway or to the broadcast DHCP server, which the stack answers itself:
 * nothing can leave the machine.
 *
 * usage: bess_client SOCKETPATH GATEWAY
 *        bess_client --stale SOCKETPATH   (binds a socket there and exits: a stale socket file)
 *        bess_client --burst SOCKETPATH GATEWAY N
 *                                         (an empty packet, then N ARP requests for GATEWAY, then
 *                                         hangs up at once without reading: every frame sent
 *                                         before a hang-up must still be read; exits 0)
 * Prints one line per answer ("arp GATEWAY is-at MAC", "dhcp offer IP", "icmp echo reply from
 * GATEWAY id ID seq SEQ"), then closes the socket (hangs up) and exits 0. Exits 1 on a socket
 * error, 2 when an answer does not come within 10 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000

static const uint8_t OUR_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0xb0, 0x01};
static const uint8_t BROADCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint16_t checksum(const uint8_t *p, size_t len) {
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2) sum += get16(p + i);
	if (len & 1) sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void ethernet(uint8_t *f, const uint8_t *dst, uint16_t type) {
	memcpy(f, dst, 6);
	memcpy(f + 6, OUR_MAC, 6);
	put16(f + 12, type);
}

/* An IPv4 header at f+14 for `payload` bytes of `proto`; addresses in network order. */
static void ipv4(uint8_t *f, uint8_t proto, uint32_t src, uint32_t dst, size_t payload) {
	uint8_t *ip = f + 14;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + payload));
	put16(ip + 4, 1);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	put16(ip + 10, checksum(ip, 20));
}

static void send_frame(int fd, const uint8_t *f, size_t len) {
	if (send(fd, f, len, 0) != (ssize_t)len) {
		perror("send");
		exit(1);
	}
}

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads frames until `match` accepts one (returns its length) or the wait is over (exit 2). */
static ssize_t receive(int fd, uint8_t *f, size_t cap, int (*match)(const uint8_t *, ssize_t),
		       const char *what) {
	long deadline = now_ms() + WAIT_MS;
	for (;;) {
		long left = deadline - now_ms();
		struct pollfd p = {fd, POLLIN, 0};
		int ready = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (ready < 0) {
			perror("poll");
			exit(1);
		}
		if (ready == 0) {
			fprintf(stderr, "no %s within %d ms\n", what, WAIT_MS);
			exit(2);
		}
		ssize_t n = recv(fd, f, cap, 0);
		if (n <= 0) {
			fprintf(stderr, "recv while waiting for %s: %s\n", what, n == 0 ? "hung up" : "error");
			exit(1);
		}
		if (match(f, n)) return n;
	}
}

static uint32_t gateway;
static uint32_t offered;
static const uint32_t XID = 0x5eed0b55;

static int is_arp_reply(const uint8_t *f, ssize_t n) {
	return n >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
	       memcmp(f + 28, &gateway, 4) == 0 && memcmp(f + 32, OUR_MAC, 6) == 0;
}

static int is_dhcp_offer(const uint8_t *f, ssize_t n) {
	if (n < 14 + 20 + 8 + 240 || get16(f + 12) != 0x0800 || f[14 + 9] != 17) return 0;
	const uint8_t *udp = f + 14 + (f[14] & 0x0f) * 4;
	if (udp + 8 + 240 > f + n || get16(udp) != 67 || get16(udp + 2) != 68) return 0;
	const uint8_t *bootp = udp + 8;
	uint32_t xid;
	memcpy(&xid, bootp + 4, 4);
	if (bootp[0] != 2 || ntohl(xid) != XID || memcmp(bootp + 28, OUR_MAC, 6) != 0) return 0;
	for (const uint8_t *o = bootp + 240; o + 2 < f + n && *o != 255; o += o[0] == 0 ? 1 : 2 + o[1]) {
		if (o[0] == 53 && o[1] == 1 && o[2] == 2) {
			memcpy(&offered, bootp + 16, 4);
			return 1;
		}
	}
	return 0;
}

static int is_echo_reply(const uint8_t *f, ssize_t n) {
	if (n < 14 + 20 + 8 || get16(f + 12) != 0x0800 || f[14 + 9] != 1) return 0;
	const uint8_t *icmp = f + 14 + (f[14] & 0x0f) * 4;
	return icmp + 8 <= f + n && icmp[0] == 0 && memcmp(f + 14 + 12, &gateway, 4) == 0 &&
	       get16(icmp + 4) == 0x1234 && get16(icmp + 6) == 1;
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "--stale") == 0) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[2]);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			perror("bind");
			return 1;
		}
		return 0;
	}
	int burst = 0;
	if (argc == 5 && strcmp(argv[1], "--burst") == 0) {
		burst = atoi(argv[4]);
		argv += 1;
		argc = 3;
	}
	if (argc != 3 || inet_pton(AF_INET, argv[2], &gateway) != 1) {
		fprintf(stderr, "usage: bess_client SOCKETPATH GATEWAY\n");
		return 1;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (fd < 0 || strlen(argv[1]) >= sizeof sa.sun_path) {
		perror("socket");
		return 1;
	}
	strcpy(sa.sun_path, argv[1]);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("connect");
		return 1;
	}
	static uint8_t f[65536];
	char text[INET_ADDRSTRLEN];

	/* 1. ARP request, as a host without an address yet probes (sender IP 0.0.0.0). */
	memset(f, 0, 60);
	ethernet(f, BROADCAST, 0x0806);
	put16(f + 14, 1);      /* htype Ethernet */
	put16(f + 16, 0x0800); /* ptype IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1); /* request */
	memcpy(f + 22, OUR_MAC, 6);
	memcpy(f + 38, &gateway, 4);
	if (burst > 0) {
		send_frame(fd, f, 0);
		for (int i = 0; i < burst; i++) send_frame(fd, f, 60);
		close(fd);
		return 0;
	}
	send_frame(fd, f, 60);
	receive(fd, f, sizeof f, is_arp_reply, "ARP reply");
	uint8_t gateway_mac[6];
	memcpy(gateway_mac, f + 22, 6);
	printf("arp %s is-at %02x:%02x:%02x:%02x:%02x:%02x\n", argv[2], gateway_mac[0],
	       gateway_mac[1], gateway_mac[2], gateway_mac[3], gateway_mac[4], gateway_mac[5]);

	/* 2. DHCPDISCOVER from 0.0.0.0:68 to 255.255.255.255:67. */
	size_t bootp_len = 240 + 4;
	memset(f, 0, sizeof f);
	ethernet(f, BROADCAST, 0x0800);
	uint8_t *udp = f + 14 + 20;
	uint8_t *bootp = udp + 8;
	bootp[0] = 1;
	bootp[1] = 1;
	bootp[2] = 6;
	uint32_t xid = htonl(XID);
	memcpy(bootp + 4, &xid, 4);
	put16(bootp + 10, 0x8000); /* broadcast reply */
	memcpy(bootp + 28, OUR_MAC, 6);
	put16(bootp + 236, 0x6382);
	put16(bootp + 238, 0x5363);
	bootp[240] = 53; /* DHCP message type: DISCOVER */
	bootp[241] = 1;
	bootp[242] = 1;
	bootp[243] = 255;
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(8 + bootp_len)); /* checksum 0: none (RFC 768) */
	ipv4(f, 17, htonl(0), htonl(0xffffffff), 8 + bootp_len);
	send_frame(fd, f, 14 + 20 + 8 + bootp_len);
	receive(fd, f, sizeof f, is_dhcp_offer, "DHCPOFFER");
	printf("dhcp offer %s\n", inet_ntop(AF_INET, &offered, text, sizeof text));

	/* 3. ICMP echo request to the gateway from the offered address. */
	memset(f, 0, 14 + 20 + 8 + 16);
	ethernet(f, gateway_mac, 0x0800);
	uint8_t *icmp = f + 14 + 20;
	icmp[0] = 8;
	put16(icmp + 4, 0x1234);
	put16(icmp + 6, 1);
	memcpy(icmp + 8, "bess echo data!!", 16);
	put16(icmp + 2, checksum(icmp, 8 + 16));
	ipv4(f, 1, offered, gateway, 8 + 16);
	send_frame(fd, f, 14 + 20 + 8 + 16);
	receive(fd, f, sizeof f, is_echo_reply, "ICMP echo reply");
	printf("icmp echo reply from %s id 4660 seq 1\n", argv[2]);

	fflush(stdout);
	close(fd); /* hang up: the command should end */
	return 0;
}
