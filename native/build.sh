#!/bin/sh
# Builds the native shim (native/build/libslirp4netns_shim.so) from native/*.c and the sandbox
# launcher (native/build/slirp4netns-sandbox) from native/launcher/*.c when missing or older than
# any source. Needs a C compiler: $CC, else cc. The package ships prebuilt copies
# (native/prebuilt/, `deno task prepublish`); this local build takes precedence over them.
set -eu
here=$(dirname "$0")
out="$here/build/libslirp4netns_shim.so"
launcher="$here/build/slirp4netns-sandbox"
stale=no
for src in "$here"/*.c "$here"/launcher/*.c "$here/shim_cc.sh"; do
  [ -f "$out" ] && [ "$out" -nt "$src" ] && [ -f "$launcher" ] && [ "$launcher" -nt "$src" ] ||
    stale=yes
done
[ "$stale" = yes ] || exit 0
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "native/build.sh: no C compiler ($cc) found; install one (e.g. apt-get install gcc) and run: deno task build:native" >&2
  exit 1
fi
mkdir -p "$here/build"
sh "$here/shim_cc.sh" "$cc" "$out.tmp"
"$cc" -O2 -Wall -Wextra -Werror -o "$launcher.tmp" "$here"/launcher/*.c
mv "$out.tmp" "$out"
mv "$launcher.tmp" "$launcher"
