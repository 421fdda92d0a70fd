#!/usr/bin/env bash
# Runs the CUDA backend's code on the CPU, with no GPU and no driver: native/cuda/*.cu and qstep-cuda-check are
# compiled by g++ against the emulator in native/tests/emu/ (blocks run one after another, each block's threads
# as host threads meeting at __syncthreads; launches rewritten by emu_launch.py), then the check compares the
# "CUDA" backend with the CPU backend on every case at a small size. This exercises the kernels' indexing,
# reductions, partial blocks, alignment decisions and the backend's host orchestration (arena, pinned ring, step
# phases, export/import); it cannot show speed, races the emulator's scheduling hides, or the device's own
# arithmetic. Usage: scripts/cuda-emu-check.sh [check args...]   (default: --n 20011 --timed 0)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${QSTEP_EMU_DIR:-${TMPDIR:-/tmp}/qstep-cuda-emu}
mkdir -p "$out/src/native/cuda" "$out/obj"
for d in include kernels formats engine cpu tests; do ln -sfn "$top/native/$d" "$out/src/native/$d"; done
for h in "$top"/native/cuda/*.h "$top"/native/cuda/*.cuh; do ln -sfn "$h" "$out/src/native/cuda/"; done
for f in "$top"/native/cuda/*.cu; do
  python3 "$top/native/tests/emu/emu_launch.py" "$f" "$out/src/native/cuda/$(basename "$f" .cu).cc"
done
read -r -a cpuflags < "$top/native/cpu.flags"  # the one definition of the host code-generation flags
flags=(-std=c++20 -O2 "${cpuflags[@]}" -pthread -DQSTEP_CUDA_EMU -DQSTEP_WITH_CUDA
       -I"$top/native/tests/emu" -I"$top/native/include" -include "$top/native/tests/emu/cuda_runtime.h")
srcs=("$out"/src/native/cuda/*.cc "$top/native/tests/cuda_vs_cpu.cc" "$top/native/tests/bench.cc"
      "$top/native/engine/engine.cc" "$top/native/cpu/cpu_backend.cc" "$top/native/tests/emu/emu.cc")
jobs=${QSTEP_EMU_JOBS:-2}
objs=()
for s in "${srcs[@]}"; do
  o="$out/obj/$(basename "$s").o"
  objs+=("$o")
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find "$top/native" -newer "$o" -name '*.h' -o -newer "$o" -name '*.cuh' | head -1)" ]; then
    g++ "${flags[@]}" -c "$s" -o "$o" &
    while [ "$(jobs -r | wc -l)" -ge "$jobs" ]; do wait -n; done
  fi
done
wait
g++ -pthread -o "$out/qstep-cuda-check-emu" "${objs[@]}"
if [ $# -eq 0 ]; then set -- --n 20011 --timed 0; fi
exec "$out/qstep-cuda-check-emu" "$@"
