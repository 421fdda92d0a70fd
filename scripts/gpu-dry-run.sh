#!/usr/bin/env bash
# Everything of the GPU check that can run without a GPU, on the build machine:
#   1. scripts/gpu-pack.sh: the addon and the check program built with nvcc (sm_80, sm_90, compute_90 PTX), Node,
#      node_modules and Node's API headers packed into .device/ (timed)
#   2. the no-device paths: the check program exits 77 saying "no CUDA device"; the carried addon loads, reports
#      cudaBuilt, and Engine.open({backend: 'cuda'}) fails with NO_DEVICE while 'auto' falls back to the CPU
#   3. the fallback build of the addon from the carried Node headers (CPU-only, to keep it short)
#   4. scripts/gpu-check.sh itself, in a copy of what the device tool sends (working tree + .device, no
#      node_modules, no build/): Node unpacked from node.xz, node_modules from the tarball, every stage on its
#      no-device path, the mocha suite on the CPU fallback (QSTEP_BACKEND=auto)
#   5. (QSTEP_DRY_EMU=1, default) the CUDA backend run on the CPU through the emulator (scripts/cuda-emu-check.sh)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
fail=0
step() { echo; echo "### $*"; }

step "1. pack (build with nvcc)"
s=$(date +%s)
scripts/gpu-pack.sh || { echo "gpu-pack failed"; exit 1; }
echo "pack took $(($(date +%s) - s))s"

step "2. no-device paths"
.device/qstep-cuda-check
rc=$?
echo "qstep-cuda-check exit $rc (77 = no CUDA device)"
[ "$rc" = 77 ] || fail=1
QSTEP_ADDON=$top/.device/qstep.node node --require tsx/cjs -e "
const b = require(process.env.QSTEP_ADDON);
const { Engine } = require('./native/lib');
console.log('cudaBuilt', b.cudaBuilt, JSON.stringify(b.cudaProbe()));
try { Engine.open({ backend: 'cuda' }); console.log('UNEXPECTED: a CUDA engine opened'); process.exit(1); }
catch (e) { console.log('cuda:', e.code, e.message); if (e.code !== 'NO_DEVICE' || !/no CUDA device/.test(e.message)) process.exit(1); }
let said = '';
const e = Engine.open({ backend: 'auto', threads: 1, onFallback: (r) => { said = r; } });
console.log('auto ->', e.backend, '|', said);
if (e.backend !== 'cpu' || !b.cudaBuilt) process.exit(1);
" || fail=1

step "3. fallback addon build from the carried Node-API headers"
inc=$(mktemp -d)
python3 -c "import tarfile;tarfile.open('.device/node-include.tar.xz').extractall('$inc')"
NODE_INCLUDE=$inc/node scripts/build-addon-direct.sh "$inc/qstep-cpu.node" --cpu &&
  QSTEP_ADDON=$inc/qstep-cpu.node node -e "const b=require(process.env.QSTEP_ADDON); console.log('cpu-only build loads; cudaBuilt', b.cudaBuilt)" ||
  fail=1
rm -rf "$inc"

step "4. scripts/gpu-check.sh in a copy of what the device tool sends"
dry=$(mktemp -d "${TMPDIR:-/tmp}/qstep-dry.XXXXXX")
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$dry"
cp -r .device "$dry/.device"
rm -rf /tmp/qstep-node  # unpack node.xz afresh, as on the device
(cd "$dry" && OUT=$dry/out QSTEP_GPU_BUDGET=${QSTEP_DRY_BUDGET:-600} bash scripts/gpu-check.sh)
echo "gpu-check.sh exit $? (files in $dry/out: $(ls "$dry/out" | tr '\n' ' '))"
grep -E "passing|failing|pending" "$dry/out/mocha.txt" || fail=1

if [ "${QSTEP_DRY_EMU:-1}" = 1 ]; then
  step "5. the CUDA backend on the CPU through the emulator"
  scripts/cuda-emu-check.sh --n 20011 --timed 0 --quick || fail=1
fi
echo
[ "$fail" = 0 ] && echo "dry run: ok" || echo "dry run: FAILED"
exit $fail
