// Loads the compiled addon and explains a failure: what was looked for, what was found, what to run
// (house style 13).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeBinding } from './native';

const ROOT = join(__dirname, '..', '..');
const CANDIDATES = [
  process.env.QSTEP_ADDON,
  join(ROOT, 'build', 'Release', 'qstep.node'),
  join(ROOT, 'build', 'Debug', 'qstep.node'),
].filter((p): p is string => typeof p === 'string' && p.length > 0);

function load(): NativeBinding {
  const tried: string[] = [];
  for (const path of CANDIDATES) {
    if (!existsSync(path)) {
      tried.push(`${path} (missing)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an addon path known only at run time
      return require(path) as NativeBinding;
    } catch (e) {
      tried.push(`${path} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  throw new Error(
    `qstep: the native addon could not be loaded.\n  Looked for:\n    ${tried.join('\n    ')}\n` +
      `  Build it with \`npm install\` (or \`npm run build:native\`) in ${ROOT}; ` +
      'it needs g++, make and python3 (and nvcc for the CUDA backend).',
  );
}

export const binding: NativeBinding = load();
