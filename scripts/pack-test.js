#!/usr/bin/env node
// The package as a user gets it: `npm pack`, the tarball installed into an empty project in a temp folder, and
// there test/pack/probe.ts (type-checked against the shipped .d.ts, compiled, run), probe.cjs (plain CommonJS,
// plus the installed `qstep` command) and probe.mjs (ES module imports). Dependencies come from the registry (or
// npm's cache).
//   (default)        the addon comes from a prebuild: when prebuilds/<platform>-<arch>/ has none, this checkout's
//                    build/Release/qstep.node is staged there for the pack (the file `npm run prebuild` makes)
//                    and removed afterwards; the install must report that it used it
//   --from-source    no prebuild in the tarball: the install must build the addon from the shipped sources
//                    (CPU-only unless QSTEP_CUDA is set: nvcc builds take many minutes)
//   --keep           leave the temp folder for inspection
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const fromSource = process.argv.includes('--from-source');
const keep = process.argv.includes('--keep');
const PREBUILT = /^qstep\.(cpu|cuda)\.napi(?:\.(glibc|musl))?\.node$/;

function run(cmd, args, opts = {}) {
  console.log(`pack-test: ${cmd === process.execPath ? 'node' : cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    throw new Error(`pack-test: ${path.basename(cmd)} ${args[0]} exited with ${r.status ?? r.signal}`);
  }
  return `${r.stdout}${r.stderr}`;
}

/** Stages this checkout's source build as a prebuild unless one is there; returns what to remove afterwards. */
function stagePrebuild() {
  const dir = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
  if (fs.existsSync(dir) && fs.readdirSync(dir).some((f) => PREBUILT.test(f))) return [];
  const built = path.join(ROOT, 'build', 'Release', 'qstep.node');
  if (!fs.existsSync(built)) throw new Error(`pack-test: no prebuild and no ${built}: run npm run build:native`);
  const cuda = execFileSync(process.execPath, ['-p', 'require(process.argv[1]).cudaBuilt', built], {
    encoding: 'utf8',
  }).trim();
  const created = [];
  for (const d of [path.dirname(dir), dir]) {
    if (!fs.existsSync(d)) {
      fs.mkdirSync(d);
      created.unshift(d);
    }
  }
  const file = path.join(dir, `qstep.${cuda === 'true' ? 'cuda' : 'cpu'}.napi.node`);
  fs.copyFileSync(built, file);
  return [file, ...created];
}

function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qstep-pack-'));
  const staged = fromSource ? [] : stagePrebuild();
  let tarball;
  try {
    const out = run('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: ROOT });
    tarball = path.join(tmp, out.trim().split('\n').pop());
  } finally {
    for (const p of staged) fs.rmSync(p, { recursive: true });
  }
  try {
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'qstep-pack-probe', version: '0.0.0', private: true }, null, 2),
    );
    for (const f of ['probe.ts', 'probe.cjs', 'probe.mjs']) {
      fs.copyFileSync(path.join(ROOT, 'test', 'pack', f), path.join(app, f));
    }
    const env = { ...process.env };
    if (fromSource) {
      env.QSTEP_BUILD_FROM_SOURCE = '1';
      env.QSTEP_CUDA ??= '0';
    }
    const log = run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball],
      {
        cwd: app,
        env,
      },
    );
    const installed = path.join(app, 'node_modules', 'qstep');
    if (fromSource) {
      if (!fs.existsSync(path.join(installed, 'build', 'Release', 'qstep.node'))) {
        throw new Error('pack-test: the install did not build build/Release/qstep.node from source');
      }
    } else if (!/using the prebuilt native addon prebuilds\//.test(log)) {
      process.stdout.write(log);
      throw new Error('pack-test: the install did not use the prebuilt addon');
    }
    for (const f of ['server', 'client', 'test', 'bench', 'tsconfig.json']) {
      if (fs.existsSync(path.join(installed, f))) throw new Error(`pack-test: the package ships ${f}`);
    }

    // TypeScript: strict, NodeNext, the library's own declarations checked too (skipLibCheck off for qstep).
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          outDir: 'out',
          types: ['node'],
          typeRoots: [path.join(app, 'node_modules', '@types'), path.join(ROOT, 'node_modules', '@types')],
        },
        files: ['probe.ts'],
      }),
    );
    run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: app,
    });
    for (const probe of [path.join('out', 'probe.js'), 'probe.cjs', 'probe.mjs']) {
      process.stdout.write(run(process.execPath, [probe], { cwd: app }));
    }
    const help = run(path.join(app, 'node_modules', '.bin', 'qstep'), ['--help'], { cwd: app });
    if (!/Usage: qstep/.test(help)) throw new Error('pack-test: qstep --help printed no usage');
    console.log(
      `pack-test: ${path.basename(tarball)} installs and works (${fromSource ? 'source build' : 'prebuild'})`,
    );
  } finally {
    if (keep) console.log(`pack-test: kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
