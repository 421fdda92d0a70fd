#!/usr/bin/env bash
# Fills .device/ (git-ignored) with what scripts/gpu-check.sh needs on a lent GPU machine, which has nvcc and
# PyTorch but no Node, npm or network. Run on the build machine (nvcc 13 here builds for the H200's sm_90):
#   node.xz             this machine's Node binary, xz-compressed (the GPU machine has none)
#   qstep.node          the addon, CUDA built in (scripts/build-addon-direct.sh --cuda: binding.gyp's flags)
#   qstep-cuda-check    the check program (scripts/native-build.js check --cuda), cudart static
#   node_modules.tar.xz the packages the suite and benches load (not the TypeScript compiler or @types)
#   node-include.tar.xz Node's headers, for building the addon there if the carried one does not load
# Everything plus the working tree must stay under the device tool's 64 MiB.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p .device
# The Node binary that runs here, compressed; gpu-check.sh unpacks it with Python's lzma (xz may be missing there).
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >>.git/info/exclude
if [ "$(cat .device/node.version 2>/dev/null)" != "$(node --version)" ] || [ ! -f .device/node.xz ]; then
  echo "node binary (xz, about a minute)..."
  xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >.device/node.xz.tmp && mv .device/node.xz.tmp .device/node.xz
  node --version >.device/node.version
fi
echo "addon (nvcc; a few minutes on 2 cores)..."
scripts/build-addon-direct.sh .device/qstep.node --cuda
echo "check program (scripts/native-build.js check --cuda)..."
node scripts/native-build.js check --cuda .device/qstep-cuda-check
echo "node_modules..."
tar -cf - --exclude=node_modules/typescript --exclude='node_modules/@types' --exclude='node_modules/.cache' node_modules |
  xz -T0 -6 > .device/node_modules.tar.xz
node_inc=${NODE_INCLUDE:-${npm_config_nodedir:+$npm_config_nodedir/include/node}}
node_inc=${node_inc:-/usr/include/node}
# Node-API needs only these (node_api.h and js_native_api.h with their types); not V8, uv or OpenSSL.
(cd "$(dirname "$node_inc")" && tar -chf - "$(basename "$node_inc")"/node_api*.h "$(basename "$node_inc")"/js_native_api*.h) |
  xz -T0 -6 > .device/node-include.tar.xz
rm -rf .device/out
tree_kib=$(git ls-files -co --exclude-standard -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
dev_kib=$(du -sk .device | cut -f1)
echo "packed: .device $((dev_kib / 1024)) MiB + working tree $((tree_kib / 1024)) MiB (limit 64 MiB)"
ls -la .device
[ $((dev_kib + tree_kib)) -lt $((64 * 1024)) ] || { echo "gpu-pack: over the 64 MiB the device tool carries" >&2; exit 1; }
