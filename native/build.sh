#!/bin/sh
# Builds the native shim (native/build/libslirp4netns_shim.so) from native/*.c when it is missing
# or older than any source. Needs a C compiler: $CC, else cc.
set -eu
here=$(dirname "$0")
out="$here/build/libslirp4netns_shim.so"
stale=no
for src in "$here"/*.c; do
  [ -f "$out" ] && [ "$out" -nt "$src" ] || stale=yes
done
[ "$stale" = yes ] || exit 0
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "native/build.sh: no C compiler ($cc) found; install one (e.g. apt-get install gcc) and run: deno task build:native" >&2
  exit 1
fi
mkdir -p "$here/build"
"$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -o "$out.tmp" "$here"/*.c
mv "$out.tmp" "$out"
