#!/usr/bin/env bash
# The addon without npm or node-gyp, for a machine with a compiler and Node but no npm (a lent GPU machine, see
# scripts/gpu-check.sh), and for the CUDA emulator (--emu). Kept as the name those scripts call; the build itself
# is scripts/native-build.js, which reads binding.gyp (sources, flags, nvcc rule).
#   scripts/build-addon-direct.sh OUT.node [--emu|--cpu|--cuda]
set -euo pipefail
exec node "$(dirname "$0")/native-build.js" addon "$1" "${2:---cuda}"
