#!/bin/sh
# Builds a single self-contained binary, ./slirp4netns, with `deno compile`. The binary carries
# the prebuilt shims and sandbox launchers (native/prebuilt/, reached by literal dynamic imports in
# src/ffi/locate.ts) and loads or executes its architecture's through a memfd at run time, so it
# needs no file beside it (--enable-sandbox binds the binary itself into the sandbox). It runs the
# bundles (src/bundled/, made first: the command's chunks are literal imports, the Workers are
# included here).
# `deno compile` downloads its runtime (denort) on first use: this step needs network access.
set -eu
cd "$(dirname "$0")/.."
deno task bundle
deno compile --allow-ffi --allow-net \
  --include src/bundled/tap_reader.js --include src/bundled/tcp_table.js \
  --include src/bundled/dns_resolver.js \
  --output "${1:-slirp4netns}" cli.ts
