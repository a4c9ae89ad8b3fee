/**
 * protocol/ is the package every other one depends on: it must depend on none of them. Its files
 * import only each other (no other folder, no npm package: the webview bundles it for the browser),
 * hold types and constant tables only, and protocol/index.ts re-exports each of them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from './helpers';

const PROTOCOL = join(ROOT, 'protocol');

/** The imports and re-exports of a protocol file (at `file`) that leave protocol/. */
export function foreignImports(file: string, text: string): string[] {
  return ts.preProcessFile(text, true, false).importedFiles.map((ref) => ref.fileName).filter((name) => {
    if (!name.startsWith('.')) return true;
    return relative(PROTOCOL, resolve(dirname(file), name)).startsWith('..');
  });
}

/** Top-level statements that are runtime code: anything but imports, exports, types and constant tables. */
export function runtimeCode(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const computes = (node: ts.Node): boolean =>
    ts.isCallExpression(node) || ts.isNewExpression(node) || ts.isFunctionLike(node) || ts.isClassLike(node) || ts.forEachChild(node, computes) === true;
  const isTable = (s: ts.Statement): boolean =>
    ts.isVariableStatement(s) &&
    (s.declarationList.flags & ts.NodeFlags.Const) !== 0 &&
    s.declarationList.declarations.every((d) => d.initializer !== undefined && !computes(d.initializer));
  return source.statements
    .filter((s) => !(ts.isImportDeclaration(s) || ts.isExportDeclaration(s) || ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s) || isTable(s)))
    .map((s) => s.getText(source).split('\n')[0]!);
}

const files = readdirSync(PROTOCOL).filter((n) => n.endsWith('.ts')).map((n) => join(PROTOCOL, n));

describe('protocol/', () => {
  it('the checks see an import from another folder or package, and runtime code', () => {
    const file = join(PROTOCOL, 'dap.ts');
    const bad = [
      "import type { TimePoint } from './recording';",
      "import type { ErrorCode } from '../recorder-bridge/src/error-codes';",
      "export * from './sub/more';",
      "export * from '../debug-adapter/src/session';",
      "import * as vscode from 'vscode';",
    ].join('\n');
    assert.deepEqual(foreignImports(file, bad), ['../recorder-bridge/src/error-codes', '../debug-adapter/src/session', 'vscode']);
    const code = [
      "export const KINDS = { a: 'x', b: ['y', 1] } as const;",
      'export interface A { x: number }',
      'export function f(): void {}',
      'export const parsed = JSON.parse("{}");',
      'export const g = () => 1;',
      'export let counter = 0;',
    ].join('\n');
    assert.deepEqual(runtimeCode(file, code), ['export function f(): void {}', 'export const parsed = JSON.parse("{}");', 'export const g = () => 1;', 'export let counter = 0;']);
  });

  it('imports only from protocol/ itself', () => {
    assert.ok(files.length >= 7, `only ${files.length} files found`);
    const found = files.flatMap((f) => foreignImports(f, readFileSync(f, 'utf8')).map((i) => `${relative(ROOT, f)} imports ${i}`));
    assert.deepEqual(found, []);
  });

  it('holds types and constant tables only', () => {
    const found = files.flatMap((f) => runtimeCode(f, readFileSync(f, 'utf8')).map((s) => `${relative(ROOT, f)}: ${s}`));
    assert.deepEqual(found, []);
  });

  it('re-exports every file from index.ts', () => {
    const index = readFileSync(join(PROTOCOL, 'index.ts'), 'utf8');
    const exported = ts.preProcessFile(index, true, false).importedFiles.map((ref) => ref.fileName);
    const expected = files.map((f) => `./${basename(f, '.ts')}`).filter((f) => f !== './index');
    assert.deepEqual([...exported].sort(), expected.sort());
  });
});
