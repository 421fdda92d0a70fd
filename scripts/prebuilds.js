#!/usr/bin/env node
// Makes the prebuilt addons that ship in the package (npm run prebuilds; not "prebuild", which npm would run
// before every `npm run build`): prebuilds/<platform>-<arch>/qstep.cpu.napi.<libc>.node and, when nvcc works
// (scripts/cuda-config.js), qstep.cuda.napi.<libc>.node, each built by scripts/native-build.js from binding.gyp
// and loaded once to check that it is the variant it claims. Node-API 8 binaries: one per platform and
// architecture serves every Node >= 20.19. The loader (native/lib/addon-path.ts) prefers the CUDA one.
//   --cpu-only   skip the CUDA variant (QSTEP_CUDA=0 does the same)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const libc = process.report?.getReport()?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
const arch = process.env.npm_config_arch || process.arch;
const dir = path.join(ROOT, 'prebuilds', `${process.platform}-${arch}`);
const node = (args) =>
  execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

const variants = ['cpu'];
if (!process.argv.includes('--cpu-only') && node([path.join(__dirname, 'cuda-config.js'), 'enabled']).trim() === '1') {
  variants.push('cuda');
}
fs.mkdirSync(dir, { recursive: true });
for (const v of variants) {
  const out = path.join(dir, `qstep.${v}.napi.${libc}.node`);
  node([path.join(__dirname, 'native-build.js'), 'addon', out, `--${v}`]);
  if (arch === process.arch) {
    const cuda = node(['-p', 'require(process.argv[1]).cudaBuilt', out]).trim();
    if (cuda !== String(v === 'cuda')) throw new Error(`prebuilds: ${out} reports cudaBuilt=${cuda}`);
  }
  console.log(`prebuilds: ${path.relative(ROOT, out)} (${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB)`);
}
