#!/usr/bin/env node
'use strict';
// The `rewind` command. The TypeScript sources are bundled into dist/ by `npm run build`.
const path = require('node:path');
const fs = require('node:fs');
// `rewind dap` is the debug adapter (DAP on stdin/stdout), bundled on its own; its help
// (`rewind dap --help`) comes from the command line below.
const dap = process.argv[2] === 'dap' && process.argv[3] !== '--help' && process.argv[3] !== '-h';
const entry = path.join(__dirname, '..', 'dist', dap ? 'dap.js' : 'rewind.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('rewind: not built yet; run `npm run setup` (or `npm install && npm run build`) in ' + path.join(__dirname, '..') + '\n');
  process.exit(1);
}
if (dap) {
  require(entry).runStdio();
  return;
}
require(entry).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write('rewind: internal error: ' + (err && err.stack || err) + '\n'); process.exitCode = 70; },
);
