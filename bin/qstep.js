#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx. `qstep serve ...` starts a server (server/main.ts); every other
// command is a client command (client/cli.ts), which never loads the server or the native addon.
'use strict';
require('tsx/cjs');
const args = process.argv.slice(2);
if (args[0] === 'serve') {
  require('../server/main.ts').cli(args.slice(1));
} else if (args[0] === 'token') {
  // Token files are server configuration; making one needs neither a server nor the addon.
  require('../server/security/token-cli.ts').cli(args.slice(1));
} else {
  require('../client/cli.ts').cli(args);
}
