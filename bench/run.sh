#!/bin/sh
# What `deno task bench` runs (after build:native): TCP throughput through 10.0.2.2 with iperf3,
# namespace→host and host→namespace, and host→namespace through an API port forward, at MTU 1500
# and 65520, side by side with slirp4netns.
#   BENCH_SECONDS=4 BENCH_RUNS=3 BENCH_MTUS=1500,65520 BENCH_SLIRP4NETNS=/usr/bin/slirp4netns
# Needs iperf3, unshare, nsenter, ping, ss and ncat; run as root (or rootless with user namespaces).
set -eu
cd "$(dirname "$0")/.."
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
for tool in iperf3 unshare nsenter ping ss ncat; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/run.sh: $tool is missing" >&2; exit 1; }
done
exec deno run --allow-run --allow-read --allow-env --allow-sys=uid bench/iperf3.ts "$@"
