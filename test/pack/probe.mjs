// ESM users import the same names (Node reads the CommonJS exports of dist/ statically).
import { connect, QstepError, toFloat32 } from 'qstep/client';
import { Engine } from 'qstep/engine';

for (const [name, value] of Object.entries({ connect, QstepError, toFloat32, Engine })) {
  if (typeof value !== 'function') throw new Error(`probe.mjs: ${name} is ${typeof value}`);
}
console.log('probe.mjs: qstep/client and qstep/engine import as ES modules');
