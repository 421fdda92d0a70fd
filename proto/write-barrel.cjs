// Part of `npm run codegen`: writes proto/messages.ts, the barrel of the types proto-loader-gen-types put in gen/.
'use strict';
const { readdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = join(__dirname, 'gen', 'qstep', 'v1');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .filter((n) => n !== 'Qstep')
  .sort();
const lines = [
  '// Barrel of the generated message and enum types (gen/ is written by `npm run codegen`). `X` is what a sender',
  '// may pass, `X__Output` what a receiver gets (defaults filled in, longs as numbers, enums as names).',
  ...names.map((n) => `export type { ${n}, ${n}__Output } from './gen/qstep/v1/${n}';`),
];
writeFileSync(join(__dirname, 'messages.ts'), `${lines.join('\n')}\n`);
