/**
 * Files a newcomer can read (issue 11): no .ts file of debug-adapter/ or recorder-bridge/ over 500
 * lines, unless its header says why it is longer (a line starting "Longer than 500 lines:" in its
 * first comment, for parsers and tables that read best whole); the DAP session class under 400 lines.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from './helpers';
import { sourceFiles } from './support/source-files';

const FILE_LIMIT = 500;
const SESSION_LIMIT = 400;
const EXCUSE = /^\s*\*?\s*Longer than 500 lines:/m;

/** Files over the limit whose first comment does not say why. */
export function oversized(files: Array<{ name: string; text: string }>, limit: number): string[] {
  return files
    .filter(({ text }) => text.split('\n').length > limit)
    .filter(({ text }) => !EXCUSE.test(/^\s*\/\*[\s\S]*?\*\//.exec(text)?.[0] ?? ''))
    .map(({ name, text }) => `${name}: ${text.split('\n').length} lines`);
}

/** The number of lines of each class declared in the source. */
export function classLines(text: string): Map<string, number> {
  const sf = ts.createSourceFile('x.ts', text, ts.ScriptTarget.ES2022, true);
  const out = new Map<string, number>();
  const visit = (n: ts.Node): void => {
    if (ts.isClassDeclaration(n) && n.name) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      out.set(n.name.text, last - first + 1);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('code size', () => {
  it('the checks themselves: a long file is caught unless its header says why; classes are measured', () => {
    const long = 'x\n'.repeat(600);
    assert.deepEqual(oversized([{ name: 'a.ts', text: long }], FILE_LIMIT), ['a.ts: 601 lines']);
    assert.deepEqual(oversized([{ name: 'b.ts', text: `/**\n * A parser.\n * Longer than 500 lines: one grammar.\n */\n${long}` }], FILE_LIMIT), []);
    // The excuse counts only in the header, not further down.
    assert.equal(oversized([{ name: 'c.ts', text: `/** A module. */\n${long}// Longer than 500 lines: no\n` }], FILE_LIMIT).length, 1);
    assert.equal(oversized([{ name: 'd.ts', text: 'x\n'.repeat(10) }], FILE_LIMIT).length, 0);
    assert.deepEqual([...classLines('class A {\n  f() {}\n}\nclass B {}\n')], [['A', 3], ['B', 1]]);
  });

  it(`no file of debug-adapter/ or recorder-bridge/ over ${FILE_LIMIT} lines without a reason in its header`, () => {
    const files = ['debug-adapter/src', 'recorder-bridge/src'].flatMap((d) => sourceFiles(join(ROOT, d)));
    assert.ok(files.length > 50, `found only ${files.length} files`);
    const texts = files.map((f) => ({ name: relative(ROOT, f), text: readFileSync(f, 'utf8') }));
    assert.deepEqual(oversized(texts, FILE_LIMIT), []);
  });

  it(`the DAP session class is under ${SESSION_LIMIT} lines`, () => {
    const lines = classLines(readFileSync(join(ROOT, 'debug-adapter', 'src', 'session.ts'), 'utf8')).get('RewindDebugSession');
    assert.ok(lines !== undefined, 'RewindDebugSession is declared in debug-adapter/src/session.ts');
    assert.ok(lines < SESSION_LIMIT, `RewindDebugSession has ${lines} lines`);
  });
});
