#!/bin/bash
# npm run bench:cpu8: builds bench/cpu8.cc with the module's CPU flags (native/cpu.flags for this architecture), runs it and writes
# bench/results/cpu8.json. Needs only g++.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -O3 -std=c++17 $(node scripts/cuda-config.js cpuflags) -Inative -Inative/include bench/cpu8.cc -o "$out/cpu8"
"$out/cpu8" | tee bench/results/cpu8.json
