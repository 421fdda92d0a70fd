// Loads the compiled addon and explains a failure: what was looked for, what was found, what to run
// (house style 13). Where it looks: addon-path.ts.
import { existsSync } from 'node:fs';
import { addonCandidates, packageRoot } from './addon-path';
import type { NativeBinding } from './native';

function load(): NativeBinding {
  const tried: string[] = [];
  const wanted = process.env.QSTEP_ADDON_VARIANT;
  if (wanted !== undefined && wanted !== 'cpu' && wanted !== 'cuda') {
    throw new Error(`qstep: QSTEP_ADDON_VARIANT: expected cpu or cuda, got ${JSON.stringify(wanted.slice(0, 40))}`);
  }
  const candidates = addonCandidates();
  for (const { path } of candidates) {
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
  const root = packageRoot();
  if (!candidates.some((c) => c.source === 'prebuild')) {
    tried.push(`${root}/prebuilds/${process.platform}-${process.arch}/qstep.{cuda,cpu}.napi.node (none)`);
  }
  throw new Error(
    `qstep: the native addon could not be loaded.\n  Looked for:\n    ${tried.join('\n    ')}\n` +
      `  Build it with \`npm rebuild qstep\` (or \`npm run build:native\` in a checkout) in ${root}; ` +
      'it needs g++, make and python3 (and nvcc for the CUDA backend).',
  );
}

export const binding: NativeBinding = load();
