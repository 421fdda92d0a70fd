#!/usr/bin/env node
// Launcher: `qstep serve ...` starts a server (server/main), every other command is a client command (client/cli),
// which never loads the server or the native addon. It runs the compiled JavaScript in dist/ (`npm run build`,
// which `npm install` runs through `prepare`). In a source checkout whose dist/ is missing or older than the
// TypeScript it runs the sources through tsx (a devDependency) instead, so tests never exercise stale code.
'use strict';
const { fromSource } = require('./source-check.js');
const args = process.argv.slice(2);
const dir = fromSource() ? (require('tsx/cjs'), '..') : '../dist';
if (args[0] === 'serve') {
  require(`${dir}/server/main`).cli(args.slice(1));
} else if (args[0] === 'token') {
  // Token files are server configuration; making one needs neither a server nor the addon.
  require(`${dir}/server/security/token-cli`).cli(args.slice(1));
} else {
  require(`${dir}/client/cli`).cli(args);
}
