/**
 * One table of error codes: recorder-bridge/src/error-codes.ts (the compiler holds every UserError
 * and bridge error to it), docs/bridge.md (the same lines), and no code that nothing reports.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, isErrorCode } from '../recorder-bridge/src/error-codes';
import { ROOT } from './helpers';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('error codes', () => {
  it('docs/bridge.md lists every code with the same line, and nothing else', () => {
    const doc = readFileSync(join(ROOT, 'docs/bridge.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### Every code'), doc.indexOf('\n## ', doc.indexOf('### Every code')));
    const rows = [...section.matchAll(/^\| `([a-z-]+)` \| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!.replace(/\\\|/g, '|')]);
    assert.ok(rows.length > 50, `only ${rows.length} rows found in the section`);
    assert.deepEqual(Object.fromEntries(rows), { ...ERROR_CODES });
  });

  it('every code is reported somewhere', () => {
    const files = sources(join(ROOT, 'recorder-bridge/src')).filter((f) => !f.endsWith('error-codes.ts'));
    const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    // The replay log's own codes reach users through two templates (bundle/reader.ts, record/salvage.ts).
    const logCodes = /export type ReplayLogErrorCode = ([^;]+);/.exec(text)![1]!.match(/'[a-z-]+'/g)!.map((q) => q.slice(1, -1));
    assert.ok(text.includes('`log-${e.code}`') && text.includes('`salvage-log-${e.code}`'));
    const reported = new Set([...text.matchAll(/'([a-z]+(?:-[a-z]+)*)'/g)].map((m) => m[1]!));
    for (const c of logCodes) reported.add(`log-${c}`).add(`salvage-log-${c}`);
    const unused = Object.keys(ERROR_CODES).filter((c) => !reported.has(c));
    assert.deepEqual(unused, [], 'codes nothing reports');
    assert.equal(isErrorCode('bad-option'), true);
    assert.equal(isErrorCode('toString'), false);
  });
});
