#!/bin/sh
# Builds the native shim (native/build/libslirp4netns_shim.so) from native/*.c when it is missing
# or older than any source. Needs a C compiler: $CC, else cc. The package ships prebuilt copies
# (native/prebuilt/, `deno task prepublish`); this local build takes precedence over them.
set -eu
here=$(dirname "$0")
out="$here/build/libslirp4netns_shim.so"
stale=no
for src in "$here"/*.c "$here/shim_cc.sh"; do
  [ -f "$out" ] && [ "$out" -nt "$src" ] || stale=yes
done
[ "$stale" = yes ] || exit 0
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "native/build.sh: no C compiler ($cc) found; install one (e.g. apt-get install gcc) and run: deno task build:native" >&2
  exit 1
fi
mkdir -p "$here/build"
sh "$here/shim_cc.sh" "$cc" "$out.tmp"
mv "$out.tmp" "$out"
