#!/usr/bin/env bash
# Runs the CUDA backend's code on the CPU, with no GPU and no driver: native/cuda/*.cu and the check program are
# compiled by g++ against the emulator in native/tests/emu/ (blocks run one after another, each block's threads
# as host threads meeting at __syncthreads; launches rewritten by emu_launch.py), then the check compares the
# "CUDA" backend with the CPU backend on every case at a small size. This exercises the kernels' indexing,
# reductions, partial blocks, alignment decisions and the backend's host orchestration (arena, pinned ring, step
# phases, export/import); it cannot show speed, races the emulator's scheduling hides, or the device's own
# arithmetic. The build is scripts/native-build.js (binding.gyp's source lists); QSTEP_EMU_SANITIZE=1 builds and
# runs it under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: scripts/cuda-emu-check.sh [check args...]   (default: --n 20011 --timed 0)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mode=--emu
[ "${QSTEP_EMU_SANITIZE:-0}" = 1 ] && mode=--sanitize
exe=$(node "$top/scripts/native-build.js" check "$mode" --jobs "${QSTEP_EMU_JOBS:-2}" | tail -1)
if [ $# -eq 0 ]; then set -- --n 20011 --timed 0; fi
exec "$exe" "$@"
