// One build script for every entry point: transpiles all TypeScript to out/ (tests and benches
// run from there) and bundles the shipped entry points into dist/.
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['protocol', 'recorder-bridge', 'debug-adapter', 'language-server', 'extension', 'test', 'bench', 'scripts'];

function tsFiles(dir) {
  let files = [];
  let entries;
  try { entries = readdirSync(dir); } catch { return files; }
  for (const name of entries) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files = files.concat(tsFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) files.push(p);
  }
  return files;
}

const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
const define = { __REWIND_VERSION__: JSON.stringify(version) };

const entryPoints = roots.flatMap(tsFiles);
await build({
  entryPoints,
  outdir: 'out',
  outbase: '.',
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  define,
  logLevel: 'warning',
});

await build({
  entryPoints: { rewind: 'recorder-bridge/src/cli.ts', dap: 'debug-adapter/src/main.ts', lsp: 'language-server/src/main.ts' },
  outdir: 'dist',
  bundle: true,
  conditions: ['source'], // workspace packages (@rewind/*) bundle from their TypeScript
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  define,
  logLevel: 'warning',
});

// The VS Code extension: its host side (vscode is provided by the editor at run time) and the
// Recording Timeline's and the Value History panel's webview scripts (run in the browser, under a
// strict CSP: one file each, no eval).
await build({
  entryPoints: { extension: 'extension/extension.ts' },
  outdir: 'dist',
  bundle: true,
  conditions: ['source'], // workspace packages (@rewind/*) bundle from their TypeScript
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['vscode'],
  sourcemap: true,
  define,
  logLevel: 'warning',
});

await build({
  entryPoints: { timeline: 'extension/webview/timeline.ts', 'value-history': 'extension/webview/value-history.ts' },
  outdir: 'dist/webview',
  bundle: true,
  conditions: ['source'], // workspace packages (@rewind/*) bundle from their TypeScript
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
});
