#!/usr/bin/env bash
# Builds Examples/HelloMajicFlux, a separate SwiftPM package that uses the MajicFlux library by path,
# runs it on the default model and checks that it wrote a PNG. A debug build: the example's own
# build compiles the library a second time, and debug compiles it several times faster than
# release while the default model's 128x128 picture still takes only seconds to make.
set -euo pipefail
cd "$(dirname "$0")/../Examples/HelloMajicFlux"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$SECONDS
swift build
echo "HelloMajicFlux: built in $((SECONDS - start)) s"
start=$SECONDS
"$(swift build --show-bin-path)/HelloMajicFlux" ../../Models/default "$out/hello.png"
echo "HelloMajicFlux: ran in $((SECONDS - start)) s"
# A PNG starts with the 8-byte signature 89 50 4E 47 0D 0A 1A 0A.
signature=$(head -c 8 "$out/hello.png" | od -An -tx1 | tr -d ' \n')
if [ "$signature" != "89504e470d0a1a0a" ]; then
    echo "HelloMajicFlux: $out/hello.png is not a PNG (starts with $signature)" >&2
    exit 1
fi
echo "HelloMajicFlux: wrote a PNG of $(wc -c < "$out/hello.png") bytes"
