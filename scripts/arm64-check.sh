#!/usr/bin/env bash
# The aarch64 build (GH200 and other arm64 GPU hosts) checked from an x86-64 machine: binding.gyp's sources are
# cross-compiled with the flags native/cpu.flags gives arm64 (the portable loops, no x86 flag or intrinsic may
# leak in), then what can run without an arm64 Node runs under qemu's user-mode emulation: the exhaustive fp16 /
# bf16 conversion check against the (emulated) FCVT instruction, and the check program comparing the emulated CUDA
# kernels with the CPU backend's arm64 loops on every case. qemu shows that the code is right for the architecture,
# not how fast it is.
# Needs Debian's g++-aarch64-linux-gnu and qemu-user-static. Usage: scripts/arm64-check.sh [check args...]
# (default: --n 4099 --timed 0 --quick).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export CXX=${CXX_ARM64:-aarch64-linux-gnu-g++} npm_config_arch=arm64
sysroot=${QSTEP_ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
jobs=${QSTEP_BUILD_JOBS:-2}

# The addon itself (it cannot be loaded here: that needs an arm64 Node): compiles and links.
node scripts/native-build.js addon build/native/qstep-arm64.node --cpu --jobs "$jobs" >/dev/null
# ELF e_machine (2 bytes at offset 18) is 183 for aarch64.
[ "$(od -An -t u2 -j 18 -N 2 build/native/qstep-arm64.node | tr -d ' ')" = 183 ] || { echo "arm64-check: addon is not aarch64"; exit 1; }

# fp16 / bf16 conversions, every pattern (a few minutes under qemu).
"$CXX" -std=c++17 -O2 $(node scripts/cuda-config.js cpuflags) -static -Inative/include native/tests/dtype_check.cc \
  -o build/native/dtype_check-arm64
qemu-aarch64-static build/native/dtype_check-arm64

# Every optimizer x state mode x dtype: the CPU backend's arm64 loops against the emulated CUDA kernels.
exe=$(node scripts/native-build.js check --emu --jobs "$jobs" | tail -1)
if [ $# -eq 0 ]; then set -- --n 4099 --timed 0 --quick; fi
qemu-aarch64-static -L "$sysroot" "$exe" "$@"
