// Where the compiled addon may be, in the order tried (node-gyp-build's conventions, as in sharp and
// better-sqlite3, plus a variant tag for the CUDA build):
//   1. QSTEP_ADDON: an explicit file (the CUDA emulator build, a build copied to a GPU machine)
//   2. build/Release/qstep.node, then build/Debug/qstep.node: a source build of this package
//   3. prebuilds/<platform>-<arch>/qstep.<variant>.napi[.<libc>].node, variant cuda before cpu (the CUDA build
//      loads without a driver and serves the CPU backend too); QSTEP_ADDON_VARIANT=cpu or cuda picks one.
// No Node-API here: scripts/install-addon.js uses it (compiled) to decide whether a source build is needed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type AddonVariant = 'cpu' | 'cuda';

export interface AddonCandidate {
  path: string;
  source: 'env' | 'build' | 'prebuild';
  variant?: AddonVariant;
}

const PREBUILD = /^qstep\.(cpu|cuda)\.napi(?:\.(glibc|musl))?\.node$/;

/** The package's root: two levels above native/lib/ in a checkout, three above dist/native/lib/ when compiled. */
export function packageRoot(): string {
  for (const up of [
    ['..', '..'],
    ['..', '..', '..'],
  ]) {
    const dir = join(__dirname, ...up);
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'qstep')
        return dir;
    } catch {
      // not the package root: try one level up
    }
  }
  return join(__dirname, '..', '..');
}

function libc(): 'glibc' | 'musl' {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return process.platform === 'linux' && !report?.header?.glibcVersionRuntime ? 'musl' : 'glibc';
}

/** The prebuilt binaries for this platform and architecture, in the order to try. */
export function prebuildCandidates(root = packageRoot(), only = process.env.QSTEP_ADDON_VARIANT): AddonCandidate[] {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (!existsSync(dir)) return [];
  const mine = libc();
  const found: AddonCandidate[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = PREBUILD.exec(name);
    if (!m || (m[2] !== undefined && m[2] !== mine)) continue;
    const variant = m[1] as AddonVariant;
    if (only && only !== variant) continue;
    found.push({ path: join(dir, name), source: 'prebuild', variant });
  }
  return found.sort((a, b) => (a.variant === b.variant ? 0 : a.variant === 'cuda' ? -1 : 1));
}

/** Every place the loader looks, in order. */
export function addonCandidates(root = packageRoot()): AddonCandidate[] {
  const out: AddonCandidate[] = [];
  if (process.env.QSTEP_ADDON) out.push({ path: process.env.QSTEP_ADDON, source: 'env' });
  for (const sub of ['Release', 'Debug']) out.push({ path: join(root, 'build', sub, 'qstep.node'), source: 'build' });
  return [...out, ...prebuildCandidates(root)];
}
