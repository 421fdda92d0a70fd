// Decides whether bin/qstep.js runs dist/ or the TypeScript sources. A published package has no sources (no
// tsconfig.build.json): always dist/. A checkout runs the sources when dist/.built (written at the end of each
// `npm run build`) is missing or older than any .ts file the build compiles; a stat per file, a few ms.
'use strict';
const { existsSync, readdirSync, statSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const COMPILED = ['server', 'client', 'proto', path.join('native', 'lib')];

function newerThan(dir, t) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() ? newerThan(p, t) : e.name.endsWith('.ts') && statSync(p).mtimeMs > t) return true;
  }
  return false;
}

function fromSource() {
  if (!existsSync(path.join(ROOT, 'tsconfig.build.json'))) return false;
  let built = -1;
  try {
    built = statSync(path.join(ROOT, 'dist', '.built')).mtimeMs;
  } catch {
    return true;
  }
  return COMPILED.some((d) => newerThan(path.join(ROOT, d), built));
}

module.exports = { fromSource };
