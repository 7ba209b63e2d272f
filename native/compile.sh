#!/bin/sh
# Builds a single self-contained binary, ./slirp4netns, with `deno compile`. The binary carries
# the prebuilt shims and sandbox launchers (native/prebuilt/, reached by literal dynamic imports in
# src/ffi/locate.ts) and loads or executes its architecture's through a memfd at run time, so it
# needs no file beside it (--enable-sandbox binds the binary itself into the sandbox).
# `deno compile` downloads its runtime (denort) on first use: this step needs network access.
set -eu
cd "$(dirname "$0")/.."
deno compile --allow-ffi --allow-net \
  --include src/workers/tap_reader.ts --include src/workers/tcp_table.ts \
  --include src/workers/dns_resolver.ts \
  --output "${1:-slirp4netns}" cli.ts
