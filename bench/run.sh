#!/bin/sh
# What `deno task bench` runs (after build:native), side by side with slirp4netns and pasta in one
# run, each printing a Markdown table with ratios ours / each other (bench/common.ts says how pasta
# is set up and where its path differs):
#   throughput  iperf3 through the gateway both ways and through a port forward, 8 streams, one
#               beside 1000 idle connections; beside a veth pair as root (bench/iperf3.ts)
#   latency     ping and 1-byte TCP round trips to the gateway, DNS queries   (bench/metrics.ts)
#   cpu         CPU seconds per GiB moved by iperf3                         (bench/metrics.ts)
#   memory      VmRSS idle, with 1000 idle connections, during iperf3       (bench/metrics.ts)
#   startup     start to tap0 existing and to the ready signal              (bench/metrics.ts)
#   soak        VmRSS and fds over BENCH_SOAK_SECONDS of repeated work      (bench/soak.ts)
#   observe     ours only: what --pcap costs, get_stats latency idle and under load (bench/observe.ts)
#   BENCH_ONLY=throughput,latency,cpu,memory,startup,soak,observe BENCH_SECONDS=4 BENCH_RUNS=3
#   BENCH_MTUS=1500,65520 BENCH_SOAK_SECONDS=300 BENCH_SLIRP4NETNS=/usr/bin/slirp4netns
#   BENCH_PASTA=/usr/bin/pasta (empty: leave it out; more knobs in bench/metrics.ts)
# Needs iperf3, unshare, nsenter, setpriv, ping, ss, ncat and cc; run as root (or rootless with user
# namespaces). The DNS rows need root and dnsmasq (else "-").
set -eu
cd "$(dirname "$0")/.."
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
for tool in iperf3 unshare nsenter setpriv ping ss ncat cc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/run.sh: $tool is missing" >&2; exit 1; }
done
only=",${BENCH_ONLY:-throughput,latency,cpu,memory,startup,soak,observe},"
unknown=$(echo "$only" | tr ',' '\n' | grep -v -x -e '' -e throughput -e latency -e cpu -e memory \
  -e startup -e soak -e observe || true)
[ -z "$unknown" ] || { echo "bench/run.sh: unknown BENCH_ONLY section: $unknown" >&2; exit 1; }
deno="deno run --allow-run --allow-read --allow-env --allow-sys=uid"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Readable by all: as root, pasta's start-up timing runs the tool as nobody.
chmod 755 "$dir"
cc -O2 -Wall -o "$dir/tcptool" bench/tcptool.c
export BENCH_TOOL="$dir/tcptool"
# Ours runs its bundles, as from the registry or compiled (cli.ts, SLIRP4NETNS_BUNDLES).
deno task bundle >/dev/null
export SLIRP4NETNS_BUNDLES=1
case "$only" in
  *,throughput,*) $deno bench/iperf3.ts "$@" ;;
esac
metrics=$(echo "$only" | tr ',' '\n' | grep -x -e latency -e cpu -e memory -e startup | paste -sd, -)
case "$only" in
  *,soak,*) soak=soak ;;
  *) soak= ;;
esac
[ -z "$metrics" ] || BENCH_ONLY=$metrics $deno bench/metrics.ts "$@"
[ -z "$soak" ] || $deno bench/soak.ts "$@"
case "$only" in
  # Its get_stats requests connect to the API socket (net) in /tmp (write).
  *,observe,*) $deno --allow-write=/tmp --allow-net bench/observe.ts "$@" ;;
esac
