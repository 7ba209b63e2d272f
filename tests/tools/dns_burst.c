/*
 * dns_burst: sends COUNT DNS queries for NAME (type A, IDs 0..COUNT-1, one UDP socket) to
 * SERVER:53 as fast as it can, then collects answers until every ID was answered or TIMEOUT_MS
 * passed. Prints "sent S answered A rcode0 N elapsed_ms T" (T: first send to last answer) and
 * exits 0 when every query was answered, 1 otherwise.
 *
 * usage: dns_burst SERVER COUNT NAME TIMEOUT_MS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: dns_burst SERVER COUNT NAME TIMEOUT_MS\n");
    return 2;
  }
  int count = atoi(argv[2]);
  int timeout = atoi(argv[4]);
  if (count < 1 || count > 65536) return 2;
  struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons(53)};
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) return 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof server) < 0) {
    perror("socket");
    return 2;
  }
  uint8_t query[300];
  int at = 12;
  memset(query, 0, sizeof query);
  query[2] = 0x01; /* RD */
  query[5] = 1;    /* QDCOUNT */
  for (char *label = strtok(argv[3], "."); label; label = strtok(NULL, ".")) {
    size_t n = strlen(label);
    if (n > 63 || at + n + 6 > sizeof query) return 2;
    query[at++] = (uint8_t)n;
    memcpy(query + at, label, n);
    at += (int)n;
  }
  query[at++] = 0;
  query[at++] = 0;
  query[at++] = 1; /* A */
  query[at++] = 0;
  query[at++] = 1; /* IN */
  uint8_t *seen = calloc((size_t)count, 1);
  int sent = 0, answered = 0, rcode0 = 0;
  double start = now_ms(), last = start;
  for (int id = 0; id < count; id++) {
    query[0] = (uint8_t)(id >> 8);
    query[1] = (uint8_t)id;
    if (send(fd, query, (size_t)at, 0) == at) sent++;
  }
  uint8_t answer[4096];
  while (answered < count) {
    double left = start + timeout - now_ms();
    if (left <= 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left + 1) <= 0) continue;
    ssize_t n = recv(fd, answer, sizeof answer, MSG_DONTWAIT);
    if (n < 12) continue;
    int id = (answer[0] << 8) | answer[1];
    if (id >= count || seen[id] || !(answer[2] & 0x80)) continue;
    seen[id] = 1;
    answered++;
    if ((answer[3] & 0x0f) == 0) rcode0++;
    last = now_ms();
  }
  printf("sent %d answered %d rcode0 %d elapsed_ms %.1f\n", sent, answered, rcode0, last - start);
  return answered == count ? 0 : 1;
}
