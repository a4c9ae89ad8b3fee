/**
 * The import graph of the product's code has no cycle (type-only imports count: a cycle of types
 * is still two modules that cannot be read one without the other). Cycles are found as Tarjan's
 * strongly connected components over the relative imports of every .ts file.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from './helpers';
import { sourceFiles } from './support/source-files';

const PACKAGES = ['protocol', 'recorder-bridge/src', 'debug-adapter/src', 'language-server/src', 'extension'];

/** Each file's relative imports and re-exports, resolved to files (`x` -> x.ts or x/index.ts). */
export function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps: string[] = [];
    for (const ref of ts.preProcessFile(readFileSync(file, 'utf8'), true, false).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const base = resolve(dirname(file), ref.fileName);
      const target = [`${base}.ts`, join(base, 'index.ts')].find((c) => existsSync(c));
      if (target) deps.push(target);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** The strongly connected components of more than one file (or a file importing itself). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import cycles', () => {
  it('the finder sees a cycle, a self-import, and not a diamond', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', ['d']],
      ['e', ['f', 'g']],
      ['f', ['h']],
      ['g', ['h']],
      ['h', []],
    ]);
    assert.deepEqual(cycles(g).map((c) => c.sort()), [['d'], ['a', 'b', 'c']]);
  });

  it('none among the files of recorder-bridge, debug-adapter and extension', () => {
    const files = PACKAGES.flatMap((p) => sourceFiles(join(ROOT, p)));
    assert.ok(files.length > 100, `only ${files.length} files found`);
    const graph = importGraph(files);
    assert.ok([...graph.values()].reduce((n, d) => n + d.length, 0) > files.length, 'the imports were read');
    const found = cycles(graph);
    const show = (c: string[]) => {
      const inside = new Set(c);
      return c.flatMap((v) => graph.get(v)!.filter((w) => inside.has(w)).map((w) => `  ${relative(ROOT, v)} -> ${relative(ROOT, w)}`)).join('\n');
    };
    assert.equal(found.length, 0, `import cycles:\n${found.map(show).join('\n\n')}`);
  });
});
