#!/usr/bin/env node
// postinstall: applies patches/ (today one: grpc-js honours `grpc-node.flow_control_window` on the server; see
// docs/service.md, Transport) with patch-package, in a checkout of this repository only. An installed qstep package
// neither ships patches/ nor has patch-package (a devDependency), and must not rewrite its user's grpc-js: there
// the server keeps Node's 64 KiB receive window, which works, only slower on long round trips.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const inCheckout = existsSync(path.join(ROOT, '.git')) || process.env.QSTEP_APPLY_PATCHES === '1';
if (!inCheckout || !existsSync(path.join(ROOT, 'patches'))) process.exit(0);
let bin;
try {
  bin = require.resolve('patch-package/index.js', { paths: [ROOT] });
} catch {
  console.error('qstep: patches/ is here but patch-package is not installed (npm install --include=dev)');
  process.exit(1);
}
const r = spawnSync(process.execPath, [bin, '--error-on-fail'], { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status ?? 1);
