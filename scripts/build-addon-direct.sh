#!/usr/bin/env bash
# Builds the addon without node-gyp or npm, with the flags of binding.gyp: for a machine that has a compiler but
# no npm (a lent GPU machine, see scripts/gpu-check.sh), and for the CUDA emulator (--emu: native/cuda compiled by
# g++ against native/tests/emu, so the Node-level CUDA tests run without a GPU).
#   scripts/build-addon-direct.sh OUT.node [--emu|--cpu]
# Needs Node's headers: NODE_INCLUDE (default: $npm_config_nodedir/include/node, else /usr/include/node) and
# node-addon-api (NAPI_INCLUDE, default node_modules/node-addon-api). CUDA: nvcc from scripts/cuda-config.js
# (QSTEP_NVCC, CUDA_HOME, PATH), architectures from QSTEP_CUDA_ARCHS as for the gyp build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "$1")
mode=${2:---cuda}
node_inc=${NODE_INCLUDE:-${npm_config_nodedir:+$npm_config_nodedir/include/node}}
node_inc=${node_inc:-/usr/include/node}
napi_inc=${NAPI_INCLUDE:-$top/node_modules/node-addon-api}
[ -f "$node_inc/node_api.h" ] || { echo "build-addon-direct: no node_api.h under $node_inc (set NODE_INCLUDE)" >&2; exit 2; }
[ -f "$napi_inc/napi.h" ] || { echo "build-addon-direct: no napi.h under $napi_inc (set NAPI_INCLUDE)" >&2; exit 2; }
obj=$(mktemp -d "${TMPDIR:-/tmp}/qstep-addon.XXXXXX")
trap 'rm -rf "$obj"' EXIT
version=$(node -p "require('$top/package.json').version" 2>/dev/null || echo 0.0.0)
read -r -a cpuflags < "$top/native/cpu.flags"  # the one definition of the host code-generation flags
cxx=(g++ -std=c++17 -O3 "${cpuflags[@]}" -fexceptions -fPIC -Wall -Wno-unknown-pragmas -pthread
     -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS "-DQSTEP_VERSION=\"$version\"" -I"$node_inc" -I"$napi_inc"
     -I"$top/native/include")
srcs=("$top"/native/binding/*.cc "$top/native/engine/engine.cc" "$top/native/cpu/cpu_backend.cc")
libs=()
expect=()  # every object the link needs: a failed background compile leaves one missing
run() { "$@" & while [ "$(jobs -r | wc -l)" -ge "${QSTEP_BUILD_JOBS:-2}" ]; do wait -n; done; }
case "$mode" in
  --cpu) srcs+=("$top/native/cuda/cuda_stub.cc") ;;
  --emu)
    mkdir -p "$obj/src/native/cuda"
    for d in include kernels formats engine; do ln -s "$top/native/$d" "$obj/src/native/$d"; done
    for h in "$top"/native/cuda/*.h "$top"/native/cuda/*.cuh; do ln -s "$h" "$obj/src/native/cuda/"; done
    for f in "$top"/native/cuda/*.cu; do
      b=$(basename "$f" .cu)
      python3 "$top/native/tests/emu/emu_launch.py" "$f" "$obj/src/native/cuda/$b.cc"
      run g++ -std=c++20 -O2 "${cpuflags[@]}" -fPIC -pthread -DQSTEP_CUDA_EMU -DQSTEP_WITH_CUDA \
        -I"$top/native/tests/emu" -I"$top/native/include" -include "$top/native/tests/emu/cuda_runtime.h" \
        -c "$obj/src/native/cuda/$b.cc" -o "$obj/$b.cu.o"
      expect+=("$obj/$b.cu.o")
    done
    run g++ -std=c++20 -O2 -fPIC -pthread -I"$top/native/tests/emu" -c "$top/native/tests/emu/emu.cc" -o "$obj/emu.o"
    expect+=("$obj/emu.o")
    ;;
  --cuda)
    nvcc=$(node "$top/scripts/cuda-config.js" nvcc 2>/dev/null || echo nvcc)
    read -r -a gencode <<< "$(node "$top/scripts/cuda-config.js" gencode 2>/dev/null ||
      echo -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90)"
    for f in "$top"/native/cuda/*.cu; do
      run "$nvcc" -c "$f" -o "$obj/$(basename "$f" .cu).cu.o" -std=c++17 -O3 "${gencode[@]}" \
        -Xcompiler "-fPIC,-O3,$(IFS=,; echo "${cpuflags[*]}")" -DQSTEP_WITH_CUDA -I"$top/native/include"
      expect+=("$obj/$(basename "$f" .cu).cu.o")
    done
    libs=("$(node "$top/scripts/cuda-config.js" lib 2>/dev/null || echo /usr/local/cuda/lib64)/libcudart_static.a" -ldl -lrt)
    ;;
  *) echo "usage: $0 OUT.node [--emu|--cpu|--cuda]" >&2; exit 2 ;;
esac
for s in "${srcs[@]}"; do
  run "${cxx[@]}" -c "$s" -o "$obj/$(basename "$s").o"
  expect+=("$obj/$(basename "$s").o")
done
wait
for o in "${expect[@]}"; do [ -f "$o" ] || { echo "build-addon-direct: $(basename "$o") failed to compile" >&2; exit 1; }; done
mkdir -p "$(dirname "$out")"
g++ -shared -pthread -o "$out" "${expect[@]}" "${libs[@]}"
echo "built $out ($mode)"
