#!/usr/bin/env node
// Every native build other than node-gyp's, derived from binding.gyp (the one build description): its source
// lists, defines, flags, libraries and nvcc rule are read from the file, so a source or flag added there reaches
// every variant. Objects go to a per-variant folder under build/native/ (reused while newer than their inputs).
//   node scripts/native-build.js addon OUT.node [--cpu|--cuda|--emu]   the addon without npm or node-gyp (a lent
//        GPU machine with only a compiler; --emu: the CUDA backend compiled by g++ against native/tests/emu, so
//        the Node-level CUDA tests run without a GPU)
//   node scripts/native-build.js check [--cuda|--emu|--sanitize]      the check program (native/tests: the CUDA
//        backend against the CPU backend on every case) with nvcc, on the emulator, or on the emulator under
//        AddressSanitizer + UndefinedBehaviorSanitizer; prints the executable's path last
// Options: --jobs N (default QSTEP_BUILD_JOBS or 2); CXX (default g++). Node's headers: NODE_INCLUDE, else
// $npm_config_nodedir/include/node, else /usr/include/node (addon only). CUDA: nvcc and architectures from
// scripts/cuda-config.js (QSTEP_NVCC, CUDA_HOME, QSTEP_CUDA_ARCHS) as for the gyp build.
'use strict';
const { execSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
// The host compiler; CXX=aarch64-linux-gnu-g++ npm_config_arch=arm64 checks the arm64 build from an x64 machine.
const CXX = process.env.CXX || 'g++';

// binding.gyp is a Python literal with # comments; without them it is a JavaScript object literal.
function readGyp() {
  const text = fs
    .readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  return new Function(`return (${text});`)();
}

const gyp = readGyp();
const target = gyp.targets.find((t) => t.target_name === 'qstep');
const [cudaIf, cudaThen, cudaElse] = target.conditions.find((c) => /^qstep_cuda\s*==\s*1$/.test(c[0]));
if (!cudaIf) throw new Error('native-build: binding.gyp has no qstep_cuda==1 condition');

const commandCache = new Map();
function command(cmd) {
  if (!commandCache.has(cmd)) commandCache.set(cmd, execSync(cmd, { cwd: ROOT, encoding: 'utf8' }).trim());
  return commandCache.get(cmd);
}

/** Expands one gyp list item into strings: <@(list), <!@(command), <!(command), <(variable). */
function expand(item, vars) {
  let m = /^<@\((\w+)\)$/.exec(item);
  if (m) return expandAll(gyp.variables[m[1]], vars);
  m = /^<!@\((.*)\)$/.exec(item);
  if (m) return command(m[1]).split(/\s+/).filter(Boolean);
  const s = item
    .replace(/<!\(((?:[^()]|\([^()]*\))*)\)/g, (_, cmd) => command(cmd))
    .replace(/<\((\w+)\)/g, (_, name) => {
      if (name in vars) return vars[name];
      if (name in gyp.variables) return expand(gyp.variables[name], vars).join(' ');
      throw new Error(`native-build: binding.gyp variable ${name} is not known here`);
    });
  return [s];
}
const expandAll = (list, vars = {}) => (list ?? []).flatMap((x) => expand(x, vars));
const abs = (p) => (path.isAbsolute(p) ? p : path.join(ROOT, p));
const VARS = { module_root_dir: ROOT };

/** Compile flags of the addon target (g++): defines, includes, cflags_cc. */
function hostFlags({ node }) {
  // node-addon-api's include answer comes quoted, for gyp's shell.
  const incs = expandAll(target.include_dirs, VARS).map((i) => abs(i.replace(/^"(.*)"$/, '$1')));
  if (node) {
    const inc =
      process.env.NODE_INCLUDE ||
      (process.env.npm_config_nodedir ? path.join(process.env.npm_config_nodedir, 'include', 'node') : '') ||
      '/usr/include/node';
    if (!fs.existsSync(path.join(inc, 'node_api.h'))) throw new Error(`native-build: no node_api.h under ${inc}`);
    incs.push(inc);
  }
  return [
    ...expandAll(target.cflags_cc, VARS),
    '-fPIC',
    '-pthread',
    ...expandAll(target.defines, VARS).map((d) => `-D${d}`),
    ...incs.map((i) => `-I${i}`),
  ];
}

/** nvcc's command for IN -> OUT: binding.gyp's rule action with the rule variables filled in. */
function nvccCommand(input, output) {
  const rule = cudaThen.rules.find((r) => r.rule_name === 'nvcc');
  const vars = {
    ...VARS,
    RULE_INPUT_PATH: input,
    INTERMEDIATE_DIR: path.dirname(output),
    RULE_INPUT_ROOT: path.basename(output, '.cu.o'),
  };
  return expandAll(rule.action, vars);
}

const EMU = path.join(ROOT, 'native', 'tests', 'emu');
/** The emulator build of a .cu file: launches rewritten by emu_launch.py, then g++ as C++20. */
function emuSteps(cu, obj, extra) {
  const dir = path.join(obj, 'src', 'native', 'cuda');
  const cc = path.join(dir, `${path.basename(cu, '.cu')}.cc`);
  return [
    ['python3', [path.join(EMU, 'emu_launch.py'), cu, cc]],
    [CXX, [...emuFlags(extra), '-c', cc, '-o', path.join(obj, `${path.basename(cu)}.o`)]],
  ];
}
function emuFlags(extra) {
  return [
    '-std=c++20',
    '-O2',
    ...expand('<!@(node scripts/cuda-config.js cpuflags)', VARS),
    '-fPIC',
    '-pthread',
    '-DQSTEP_CUDA_EMU',
    '-DQSTEP_WITH_CUDA',
    `-I${EMU}`,
    `-I${path.join(ROOT, 'native', 'include')}`,
    '-include',
    path.join(EMU, 'cuda_runtime.h'),
    ...extra,
  ];
}
/** The emulator's .cu sources see the real headers through a mirror of native/ (they include "../x/y.h"). */
function mirrorForEmu(obj) {
  const dir = path.join(obj, 'src', 'native', 'cuda');
  fs.mkdirSync(dir, { recursive: true });
  const link = (from, to) => {
    fs.rmSync(to, { force: true, recursive: false });
    fs.symlinkSync(from, to);
  };
  for (const d of ['include', 'kernels', 'formats', 'engine', 'cpu', 'tests']) {
    link(path.join(ROOT, 'native', d), path.join(obj, 'src', 'native', d));
  }
  for (const f of fs.readdirSync(path.join(ROOT, 'native', 'cuda'))) {
    if (/\.(h|cuh)$/.test(f)) link(path.join(ROOT, 'native', 'cuda', f), path.join(dir, f));
  }
}

const SANITIZE = ['-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'];

/** Newest input a compiled object depends on: the source and every native header (coarse, but safe). */
let headersTime;
function inputsTime(src) {
  if (headersTime === undefined) {
    headersTime = 0;
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(h|cuh|flags)$/.test(e.name) || e.name === 'binding.gyp') {
          headersTime = Math.max(headersTime, fs.statSync(p).mtimeMs);
        }
      }
    };
    walk(path.join(ROOT, 'native'));
    headersTime = Math.max(headersTime, fs.statSync(path.join(ROOT, 'binding.gyp')).mtimeMs);
  }
  return Math.max(headersTime, fs.statSync(src).mtimeMs);
}

function runOne([cmd, args]) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit' });
    p.on('error', reject);
    p.on('exit', (code, sig) =>
      code === 0
        ? resolve()
        : reject(new Error(`native-build: ${path.basename(cmd)} failed (${code ?? sig}): ${args.join(' ')}`)),
    );
  });
}

/** Runs jobs (each a list of steps run in order) `jobs` at a time; skips those whose output is current. */
async function runJobs(list, jobs) {
  const todo = list.filter((j) => !fs.existsSync(j.out) || fs.statSync(j.out).mtimeMs < inputsTime(j.src));
  let next = 0;
  let failed;
  const worker = async () => {
    while (next < todo.length && !failed) {
      const j = todo[next++];
      try {
        for (const step of j.steps) await runOne(step);
      } catch (e) {
        failed = e;
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  if (failed) throw failed;
}

function parseArgs(argv) {
  const o = { what: argv[0], mode: null, out: null, jobs: Number(process.env.QSTEP_BUILD_JOBS || 2) };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--jobs') o.jobs = Number(argv[++i]);
    else if (/^--(cpu|cuda|emu|sanitize)$/.test(a)) o.mode = a.slice(2);
    else if (!a.startsWith('--') && o.out === null) o.out = path.resolve(a);
    else throw new Error(`native-build: unknown argument ${JSON.stringify(a.slice(0, 60))}`);
  }
  if (!Number.isInteger(o.jobs) || o.jobs < 1) throw new Error('native-build: --jobs expects a positive integer');
  if (o.what === 'addon') {
    o.mode ??= 'cuda';
    if (!o.out || o.mode === 'sanitize') throw new Error('usage: native-build.js addon OUT.node [--cpu|--cuda|--emu]');
  } else if (o.what === 'check') {
    o.mode ??= 'cuda';
    if (o.mode === 'cpu')
      throw new Error('native-build: the check program compares CUDA with the CPU: --cuda, --emu or --sanitize');
  } else {
    throw new Error('usage: native-build.js addon OUT.node [--cpu|--cuda|--emu] | check [--cuda|--emu|--sanitize]');
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const variant = `${o.what}-${o.mode}-${process.env.npm_config_arch || process.arch}`;
  const obj = path.join(ROOT, 'build', 'native', variant);
  fs.mkdirSync(obj, { recursive: true });
  const addon = o.what === 'addon';
  const sanitize = o.mode === 'sanitize' ? SANITIZE : [];
  const emu = o.mode === 'emu' || o.mode === 'sanitize';
  // The sanitizer build replaces the optimisation level; everything else keeps binding.gyp's flags.
  const strip = (flags) => (sanitize.length ? flags.filter((f) => !/^-O\d$/.test(f)) : flags);
  // The check program on the emulator is compiled as the emulator's CUDA sources are (it calls the runtime API).
  const cxx = !addon && emu ? emuFlags(sanitize) : strip(hostFlags({ node: addon })).concat(sanitize);
  if (o.mode !== 'cpu') cxx.push(...expandAll(cudaThen.defines).map((d) => `-D${d}`));
  if (!addon && o.mode === 'cuda')
    cxx.push(`-I${path.join(path.dirname(command('node scripts/cuda-config.js lib')), 'include')}`);

  const host = [
    ...(addon ? expandAll(['<@(qstep_binding_sources)']) : expandAll(['<@(qstep_check_sources)'])),
    ...expandAll(['<@(qstep_core_sources)']),
    ...(o.mode === 'cpu' ? expandAll(cudaElse.sources) : []),
  ].map(abs);
  const jobs = host.map((src) => {
    const out = path.join(obj, `${path.basename(src)}.o`);
    return { src, out, steps: [[CXX, [...cxx, '-c', src, '-o', out]]] };
  });
  const libs = [];
  const cuda = expandAll(cudaThen.sources).map(abs);
  if (emu) {
    mirrorForEmu(obj);
    for (const cu of cuda)
      jobs.push({ src: cu, out: path.join(obj, `${path.basename(cu)}.o`), steps: emuSteps(cu, obj, sanitize) });
    const emuCc = path.join(EMU, 'emu.cc');
    const emuO = path.join(obj, 'emu.cc.o');
    jobs.push({
      src: emuCc,
      out: emuO,
      steps: [[CXX, ['-std=c++20', '-O2', '-fPIC', '-pthread', `-I${EMU}`, ...sanitize, '-c', emuCc, '-o', emuO]]],
    });
  } else if (o.mode === 'cuda') {
    const nvcc = command('node scripts/cuda-config.js nvcc');
    for (const cu of cuda) {
      const out = path.join(obj, `${path.basename(cu, '.cu')}.cu.o`);
      const [, ...args] = nvccCommand(cu, out);
      jobs.push({ src: cu, out, steps: [[nvcc, args]] });
    }
    libs.push(...expandAll(cudaThen.libraries));
  }
  await runJobs(jobs, o.jobs);
  // A cross build (npm_config_arch other than this machine's) gets its own name, beside the native one.
  const arch = process.env.npm_config_arch || process.arch;
  const base = o.mode === 'cuda' ? 'qstep-cuda-check' : `qstep-cuda-check-${o.mode}`;
  const out = o.out ?? path.join(ROOT, 'build', 'native', arch === process.arch ? base : `${base}-${arch}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const link = ['-pthread', ...sanitize, '-o', out, ...jobs.map((j) => j.out), ...libs, ...expandAll(target.ldflags)];
  await runOne([CXX, addon ? ['-shared', ...link] : link]);
  console.log(out);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
