// Part of `npm run codegen` (scripts/codegen-ts.sh): writes proto/messages.ts, the barrel of the message and enum
// types that ts-proto put in gen/, under the two names the code uses for each (see the header written below).
'use strict';
const { readdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = join(__dirname, 'gen', 'qstep', 'v1');
const lines = [
  '// Barrel of the generated message and enum types (gen/ is written by `npm run codegen`; never edit by hand).',
  '// `X__Output` is the generated type, what a decoder returns: every scalar present (defaults filled in), message',
  '// and oneof fields optional, uint64 as numbers (StepHeader.step_id as a decimal string), enums as value names.',
  '// `X` is what a sender may pass: a DeepPartial of it, completed by the serializers (proto/grpc-service.ts).',
  "import type { DeepPartial } from './gen/qstep/v1/common';",
];
const skip = new Set(['DeepPartial', 'Exact', 'MessageFns', 'QstepDefinition']);
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .sort()) {
  const mod = file.slice(0, -3);
  const src = readFileSync(join(dir, file), 'utf8');
  const names = [...src.matchAll(/^export (?:interface|type) (\w+)\b/gm)].map((m) => m[1]).filter((n) => !skip.has(n));
  if (names.length === 0) continue;
  lines.push(`import type * as ${mod} from './gen/qstep/v1/${mod}';`);
  for (const n of names.sort()) {
    lines.push(`export type ${n} = DeepPartial<${mod}.${n}>;`, `export type ${n}__Output = ${mod}.${n};`);
  }
}
writeFileSync(join(__dirname, 'messages.ts'), `${lines.join('\n')}\n`);
