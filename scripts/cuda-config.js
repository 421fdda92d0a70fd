#!/usr/bin/env node
// Answers binding.gyp's (and the GPU scripts') questions about the CUDA toolkit, one per call:
//   enabled   1 when the CUDA backend is built: nvcc answers `nvcc --version` and QSTEP_CUDA is not 0; else 0.
//             QSTEP_CUDA=1 with no working nvcc is an error (a forced CUDA build must not silently fall back).
//   nvcc      the nvcc to run (QSTEP_NVCC, else CUDA_HOME/bin/nvcc, else nvcc on PATH)
//   lib       the directory holding libcudart_static.a (the addon links cudart statically: no CUDA library is
//             needed at run time, only the driver)
//   gencode   nvcc -gencode flags: machine code for sm_80 and sm_90 plus compute_90 PTX; QSTEP_CUDA_ARCHS="90"
//             (space or comma separated) narrows the list while iterating; the last one also gets PTX
//   headers   the native headers the .cu files depend on (inputs of the gyp rule, so edits rebuild them)
//   cpuflags  the host code-generation flags for this architecture (npm_config_arch, else Node's), from
//             native/cpu.flags (their one definition); `cpuflags ,` joins them with commas for nvcc -Xcompiler
// The toolkit root comes from nvcc itself (`nvcc --dryrun` prints _HERE_, its real bin directory), so wrapper
// scripts such as /usr/local/bin/nvcc -> /usr/local/cuda-13.0/bin/nvcc resolve correctly.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { existsSync, readFileSync, readdirSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

function nvccPath() {
  if (process.env.QSTEP_NVCC) return process.env.QSTEP_NVCC;
  const home = process.env.CUDA_HOME || process.env.CUDA_PATH;
  if (home && existsSync(path.join(home, 'bin', 'nvcc'))) return path.join(home, 'bin', 'nvcc');
  return 'nvcc';
}

function run(args) {
  return execFileSync(nvccPath(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
}

function nvccWorks() {
  try {
    return /release \d+/.test(run(['--version']));
  } catch {
    return false;
  }
}

function toolkitRoot() {
  // nvcc prints its dry run on stderr
  const r = spawnSync(nvccPath(), ['--dryrun', '-c', '-x', 'cu', '/dev/null', '-o', '/dev/null'], {
    encoding: 'utf8',
    timeout: 60000,
  });
  const out = `${r.stdout || ''}${r.stderr || ''}`;
  const m = /_HERE_=(.*)/.exec(out);
  const roots = [];
  if (m) roots.push(path.dirname(m[1].trim()));
  for (const r of [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) if (r) roots.push(r);
  return roots;
}

function libDir() {
  for (const root of toolkitRoot()) {
    for (const sub of ['lib64', 'targets/x86_64-linux/lib', 'targets/sbsa-linux/lib', 'lib']) {
      const dir = path.join(root, sub);
      if (existsSync(path.join(dir, 'libcudart_static.a'))) return dir;
    }
  }
  return '/usr/local/cuda/lib64';
}

function gencode() {
  const archs = (process.env.QSTEP_CUDA_ARCHS || '80 90').split(/[\s,]+/).filter(Boolean);
  for (const a of archs) if (!/^\d+a?$/.test(a)) throw new Error(`QSTEP_CUDA_ARCHS: bad architecture ${a}`);
  const flags = archs.map((a) => `-gencode=arch=compute_${a},code=sm_${a}`);
  const last = archs[archs.length - 1];
  flags.push(`-gencode=arch=compute_${last},code=compute_${last}`);
  return flags.join(' ');
}

function headers() {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/\.(h|cuh)$/.test(e.name)) out.push(rel);
    }
  };
  for (const d of ['native/include', 'native/kernels', 'native/formats', 'native/engine', 'native/cuda']) walk(d);
  return out.join(' ');
}

// native/cpu.flags: `all: FLAGS` for every architecture, then `ARCH: FLAGS` for one (Node's arch names).
function cpuFlags(arch) {
  const flags = [];
  for (const line of readFileSync(path.join(ROOT, 'native', 'cpu.flags'), 'utf8').split('\n')) {
    const m = /^\s*([\w-]+):(.*)$/.exec(line);
    if (m && (m[1] === 'all' || m[1] === arch)) flags.push(...m[2].trim().split(/\s+/).filter(Boolean));
  }
  return flags;
}

const what = process.argv[2];
switch (what) {
  case 'enabled': {
    const force = process.env.QSTEP_CUDA;
    if (force === '0') {
      console.log('0');
      break;
    }
    const ok = nvccWorks();
    if (force === '1' && !ok) {
      console.error(`qstep: QSTEP_CUDA=1 but \`${nvccPath()} --version\` does not work`);
      process.exit(1);
    }
    console.log(ok ? '1' : '0');
    break;
  }
  case 'nvcc':
    console.log(nvccPath());
    break;
  case 'lib':
    console.log(libDir());
    break;
  case 'gencode':
    console.log(gencode());
    break;
  case 'headers':
    console.log(headers());
    break;
  case 'cpuflags':
    console.log(cpuFlags(process.env.npm_config_arch || process.arch).join(process.argv[3] ?? ' '));
    break;
  default:
    console.error('usage: cuda-config.js enabled|nvcc|lib|gencode|headers|cpuflags [,]');
    process.exit(2);
}
