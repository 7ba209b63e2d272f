#!/bin/sh
# What `deno task bench` runs (after build:native), side by side with slirp4netns in one run:
#   throughput  iperf3 through 10.0.2.2 both ways and through an API port forward (bench/iperf3.ts)
#   latency     ping and 1-byte TCP round trips to 10.0.2.2               (bench/metrics.ts)
#   cpu         CPU seconds per GiB moved by iperf3                      (bench/metrics.ts)
#   memory      VmRSS idle, with 1000 idle connections, during iperf3    (bench/metrics.ts)
#   startup     start to the --ready-fd byte                             (bench/metrics.ts)
#   BENCH_ONLY=throughput,latency,cpu,memory,startup BENCH_SECONDS=4 BENCH_RUNS=3
#   BENCH_MTUS=1500,65520 BENCH_SLIRP4NETNS=/usr/bin/slirp4netns (more knobs in bench/metrics.ts)
# Needs iperf3, unshare, nsenter, ping, ss, ncat and cc; run as root (or rootless with user
# namespaces).
set -eu
cd "$(dirname "$0")/.."
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
for tool in iperf3 unshare nsenter ping ss ncat cc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/run.sh: $tool is missing" >&2; exit 1; }
done
only=",${BENCH_ONLY:-throughput,latency,cpu,memory,startup},"
unknown=$(echo "$only" | tr ',' '\n' | grep -v -x -e '' -e throughput -e latency -e cpu -e memory \
  -e startup || true)
[ -z "$unknown" ] || { echo "bench/run.sh: unknown BENCH_ONLY section: $unknown" >&2; exit 1; }
deno="deno run --allow-run --allow-read --allow-env --allow-sys=uid"
case "$only" in
  *,throughput,*) $deno bench/iperf3.ts "$@" ;;
esac
metrics=$(echo "$only" | tr ',' '\n' | grep -x -e latency -e cpu -e memory -e startup | paste -sd, -)
if [ -n "$metrics" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  cc -O2 -Wall -o "$dir/tcptool" bench/tcptool.c
  BENCH_ONLY=$metrics BENCH_TOOL=$dir/tcptool $deno bench/metrics.ts "$@"
fi
