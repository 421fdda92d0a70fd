#!/usr/bin/env bash
# The GPU check of issue 4, in ONE call on a lent GPU machine (nvcc, CMake, python3 + PyTorch; no Node, no npm, no
# network). Prepare on the build machine with scripts/gpu-pack.sh, then through the device tool:
#   run(command="bash scripts/gpu-check.sh", carry=[".device"], timeout_s=560)
# Decision: the addon and the check program are built on the build machine with nvcc (sm_80, sm_90, compute_90
# PTX; cudart static) and carried in .device/, because the GPU machine has no npm/node-gyp and its minutes are
# scarce; the device README says such an addon runs there. If a carried binary does not run, this script builds
# it there instead (CMake for the check program; scripts/build-addon-direct.sh with the carried Node headers).
#
# Stages, most important first, each under a timeout drawn from one budget (QSTEP_GPU_BUDGET seconds, default
# 480), each continuing after a failure of the one before:
#   check    qstep-cuda-check: every optimizer x mode x dtype, CUDA vs CPU, step time vs device copy
#   bench    qstep-cuda-check --bench: AdamW 16M/256M, fp32/bf16, fp32 state and blockwise8, grad on device
#   torch    bench/gpu_torch.py: torch.optim AdamW(fused=True) and Adam, same sizes, same GPU
#   mocha    the mocha suite, the service on the CUDA backend (QSTEP_BACKEND=cuda), test/cuda comparing backends
#   node     bench/gpu.ts: the engine from Node with host gradients
#   memcheck compute-sanitizer memcheck over a small run of the check
# Results (8 files at most) go to $OUT: gpu-check.log, check.json, bench-qstep.json, bench-torch.json,
# mocha.txt, bench-node.json, sanitizer.txt, summary.json; the short table (scripts/gpu-summary.py) comes last.
# Without a device (the dry run, scripts/gpu-dry-run.sh) every stage still runs its no-device path.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
OUT=${OUT:-$top/.device/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
t0=$(date +%s)
budget=${QSTEP_GPU_BUDGET:-480}
declare -A status
order=()

# stage NAME SECONDS CMD...: runs CMD under min(SECONDS, what is left of the budget); records ok/fail/timeout.
stage() {
  local name=$1 secs=$2
  shift 2
  local left=$((budget - ($(date +%s) - t0)))
  [ "$secs" -gt "$left" ] && secs=$left
  order+=("$name")
  if [ "$secs" -le 5 ]; then
    status[$name]=skipped-no-time
    echo "=== $name: skipped, budget spent"
    return 1
  fi
  echo "=== $name (limit ${secs}s) $(date +%T)"
  local s=$(date +%s)
  timeout --kill-after=10 "$secs" "$@"
  local rc=$?
  local took=$(($(date +%s) - s))
  case $rc in
    0) status[$name]=ok ;;
    124 | 137) status[$name]=timeout ;;
    77) status[$name]=no-device ;;
    *) status[$name]=fail-$rc ;;
  esac
  echo "=== $name: ${status[$name]} in ${took}s"
  return $rc
}

echo "=== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "nvidia-smi: none"
command -v nvcc >/dev/null && nvcc --version | tail -1
command -v cmake >/dev/null && cmake --version | head -1

# --- Node, carried: the binary (pack-node.sh), node_modules without the TypeScript toolchain, Node's headers.
export PATH=/tmp/qstep-node/bin:$PATH
if [ -f .device/node.xz ] && [ ! -x /tmp/qstep-node/bin/node ]; then
  mkdir -p /tmp/qstep-node/bin
  python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/qstep-node/bin/node','wb'))" &&
    chmod +x /tmp/qstep-node/bin/node
fi
if [ -f .device/node_modules.tar.xz ] && [ ! -d node_modules/mocha ]; then
  python3 -c "import tarfile;tarfile.open('.device/node_modules.tar.xz').extractall('.')"
fi
have_node=0
node --version >/dev/null 2>&1 && have_node=1 && echo "node $(node --version)"

# --- The check program: carried, else built here (scripts/native-build.js: binding.gyp's sources and flags).
check=.device/qstep-cuda-check
"$check" --only '(none)' --timed 0 >/dev/null 2>&1
rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
  echo "carried qstep-cuda-check does not run here (exit $rc): building it with nvcc"
  check=/tmp/qstep-build-check/qstep-cuda-check
  stage build-check 300 node scripts/native-build.js check --cuda "$check" --jobs "$(nproc)"
fi

# --- The addon: carried, else built here without npm.
export QSTEP_ADDON=$top/.device/qstep.node
if [ "$have_node" = 1 ] && ! node -e "require(process.env.QSTEP_ADDON)" 2>/dev/null; then
  echo "carried qstep.node does not load here: building it with nvcc"
  mkdir -p /tmp/qstep-node-include
  python3 -c "import tarfile;tarfile.open('.device/node-include.tar.xz').extractall('/tmp/qstep-node-include')"
  export QSTEP_ADDON=/tmp/qstep.node NODE_INCLUDE=/tmp/qstep-node-include/node QSTEP_BUILD_JOBS=$(nproc)
  stage build-addon 300 scripts/build-addon-direct.sh "$QSTEP_ADDON" --cuda
fi

# --- The stages.
stage check 180 "$check" --json "$OUT/check.json"
stage bench 90 "$check" --bench --json "$OUT/bench-qstep.json"
stage torch 120 python3 bench/gpu_torch.py "$OUT/bench-torch.json"
if [ "$have_node" = 1 ]; then
  export QSTEP_BACKEND=cuda
  [ "${status[check]:-}" = no-device ] && export QSTEP_BACKEND=auto  # the dry run: the same suite, CPU fallback
  stage mocha 180 bash -c "node node_modules/mocha/bin/mocha.js --reporter dot > '$OUT/mocha.txt' 2>&1"
  tail -25 "$OUT/mocha.txt"
  stage node 90 node --import tsx bench/gpu.ts "$OUT/bench-node.json"
else
  status[mocha]=no-node
  order+=(mocha)
fi
if command -v compute-sanitizer >/dev/null; then
  stage memcheck 90 bash -c "compute-sanitizer --tool memcheck --leak-check no '$check' --quick --n 70001 --steps 1 \
    --timed 0 > '$OUT/sanitizer.txt' 2>&1; rc=\$?; tail -5 '$OUT/sanitizer.txt'; exit \$rc"
fi

echo
args=()
for s in "${order[@]}"; do args+=("$s=${status[$s]:-}"); done
python3 scripts/gpu-summary.py "$OUT" "${args[@]}"
echo "total $(($(date +%s) - t0))s; results in $OUT"
for s in check bench; do
  case "${status[$s]:-}" in ok | no-device) ;; *) exit 1 ;; esac
done
exit 0
