#!/bin/sh
# Compiles the native shim from native/*.c into OUT with the C compiler CC: the one compile command,
# used by build.sh (a local build) and by prebuild.ts (the prebuilt copies the package ships). The
# output depends only on the sources, the compiler and these flags: the sources are named relative
# to native/ in C-locale order, and the result is stripped (no paths, no timestamps), so the same
# compiler gives the same bytes in any checkout.
# Usage: sh native/shim_cc.sh CC OUT
set -eu
cc=$1
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
cd "$(dirname "$0")"
export LC_ALL=C
# shellcheck disable=SC2046 # the file names are ours, without spaces
"$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -s -o "$out" $(ls ./*.c | sort)
