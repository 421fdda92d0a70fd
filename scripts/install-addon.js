#!/usr/bin/env node
// The package's install step (node-gyp-build's rule, as in sharp and better-sqlite3): a prebuilt binary for this
// platform that loads is used as it is; otherwise the addon is built from binding.gyp with node-gyp, unless the
// build in build/Release matches the sources, the build settings and the Node version exactly (a stamp of their
// hash). `npm install` runs this; so does npm when `npx qstep` first links the package, which must not rebuild
// (and briefly remove) a current addon.
//   --force   always build from source (npm run build:native); so do `npm install --build-from-source` and
//             QSTEP_BUILD_FROM_SOURCE=1
'use strict';
const { createHash } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { existsSync, readFileSync, readdirSync, statSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const ADDON = path.join(ROOT, 'build', 'Release', 'qstep.node');
const STAMP = path.join(ROOT, 'build', 'Release', '.qstep-build-stamp');

function files(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = path.join(dir, name);
      return statSync(p).isDirectory() ? files(p) : [p];
    });
}

function fingerprint() {
  const h = createHash('sha256');
  h.update(`node ${process.version} ${process.arch}\n`);
  for (const key of ['QSTEP_CUDA', 'QSTEP_CUDA_ARCHS', 'QSTEP_NVCC', 'CUDA_HOME', 'CUDA_PATH']) {
    h.update(`${key}=${process.env[key] ?? ''}\n`);
  }
  const cuda = spawnSync(process.execPath, [path.join(__dirname, 'cuda-config.js'), 'enabled'], { encoding: 'utf8' });
  h.update(`cuda=${cuda.stdout}\n`);
  // Of package.json only what reaches the build: the version (compiled in as QSTEP_VERSION) and the node-addon-api
  // that is installed. A new script or dependency elsewhere must not cost a CUDA rebuild.
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  let napi = 'none';
  try {
    napi = JSON.parse(readFileSync(require.resolve('node-addon-api/package.json', { paths: [ROOT] }), 'utf8')).version;
  } catch {
    // not installed yet: the build would fail anyway and say so
  }
  h.update(`version=${pkg.version} node-addon-api=${napi}\n`);
  const inputs = [
    path.join(ROOT, 'binding.gyp'),
    path.join(__dirname, 'cuda-config.js'),
    ...files(path.join(ROOT, 'native')).filter(
      (p) =>
        !p.includes(`${path.sep}native${path.sep}lib${path.sep}`) &&
        !p.includes(`${path.sep}native${path.sep}tests${path.sep}`),
    ),
  ];
  for (const p of inputs) {
    h.update(path.relative(ROOT, p));
    h.update(readFileSync(p));
  }
  return h.digest('hex');
}

// The prebuilds that ship in the package, listed by the compiled loader (a checkout has no dist/ before its first
// build, and builds from source). Each is tried in a child process: a binary that fails to load or crashes on
// this machine must not take the install down with it.
function loadablePrebuild() {
  const lister = path.join(ROOT, 'dist', 'native', 'lib', 'addon-path.js');
  if (!existsSync(lister)) return null;
  for (const { path: file } of require(lister).prebuildCandidates(ROOT)) {
    const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', file], { stdio: 'ignore' });
    if (r.status === 0) return file;
    console.log(`qstep: the prebuilt ${path.relative(ROOT, file)} does not load here; trying the next`);
  }
  return null;
}

const fromSource = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
const force = process.argv.includes('--force');
// A checkout (it has the TypeScript build config, which the package does not ship) always builds from source: a
// prebuild there would hide a stale build/Release, which the loader tries first.
const checkout = existsSync(path.join(ROOT, 'tsconfig.build.json'));
if (
  !checkout &&
  !force &&
  !fromSource(process.env.QSTEP_BUILD_FROM_SOURCE) &&
  !fromSource(process.env.npm_config_build_from_source)
) {
  const prebuilt = loadablePrebuild();
  if (prebuilt) {
    console.log(`qstep: using the prebuilt native addon ${path.relative(ROOT, prebuilt)}`);
    process.exit(0);
  }
}
const want = fingerprint();
if (!force && existsSync(ADDON) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === want) {
  console.log('qstep: the native addon is up to date (build/Release/qstep.node)');
  process.exit(0);
}

// npm hands lifecycle scripts its bundled node-gyp (npm_config_node_gyp) and the Node headers' location.
const gyp = process.env.npm_config_node_gyp;
const env = { ...process.env };
if (!env.npm_config_nodedir && existsSync('/usr/include/node/node.h')) env.npm_config_nodedir = '/usr';
const r = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild', '-j', '2'], { cwd: ROOT, stdio: 'inherit', env })
  : spawnSync('node-gyp', ['rebuild', '-j', '2'], { cwd: ROOT, stdio: 'inherit', env });
if (r.status !== 0) {
  // Outside npm, node-gyp must be on PATH: `npm run build:native` (or `npm rebuild qstep`) hands npm's own.
  const why = r.error ? `: ${r.error.message}` : '';
  console.error(`qstep: building the native addon failed${why} (needs g++, make, python3; nvcc for CUDA)`);
  process.exit(r.status ?? 1);
}
writeFileSync(STAMP, `${want}\n`);
