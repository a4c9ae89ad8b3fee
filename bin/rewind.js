#!/usr/bin/env node
'use strict';
// The `rewind` command. The TypeScript sources are bundled into dist/ by `npm run build`.
const path = require('node:path');
const fs = require('node:fs');
// `rewind dap` is the debug adapter (DAP on stdin/stdout) and `rewind lsp` the language server (LSP
// on stdin/stdout), each bundled on its own; their help (`rewind dap --help`) comes from the
// command line below. `rewind lsp --stdio` is accepted: LSP clients often add it.
const sub = process.argv[2];
const helpAsked = process.argv[3] === '--help' || process.argv[3] === '-h';
const server = (sub === 'dap' || sub === 'lsp') && !helpAsked ? sub : undefined;
if (server === 'lsp' && process.argv.slice(3).some((a) => a !== '--stdio')) {
  process.stderr.write('rewind lsp takes no arguments but --stdio (got "' + process.argv.slice(3).join(' ') + '"); see `rewind lsp --help`\n');
  process.exit(2);
}
const entry = path.join(__dirname, '..', 'dist', server ? server + '.js' : 'rewind.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('rewind: not built yet; run `npm run setup` (or `npm install && npm run build`) in ' + path.join(__dirname, '..') + '\n');
  process.exit(1);
}
if (server) {
  require(entry).runStdio();
  return;
}
require(entry).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write('rewind: internal error: ' + (err && err.stack || err) + '\n'); process.exitCode = 70; },
);
