/**
 * The workspace packages (the root package.json's `workspaces`) meet only through their public
 * APIs. The compiler enforces part of it: `@rewind/core/src/x` does not resolve (each package
 * exports only "."), and a package cannot import the files of one its tsconfig does not reference.
 * What the compiler lets through is checked here: a relative import that leaves its package
 * (`../../recorder-bridge/src/replay/engine` from the adapter), and an `@rewind/*` import of a
 * package that the importer's package.json does not list as a dependency (npm hoists every
 * workspace into node_modules, so it would resolve).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from './helpers';
import { sourceFiles } from './support/source-files';

export interface WorkspacePackage {
  /** Absolute folder. */
  dir: string;
  name: string;
  /** The @rewind/* packages its package.json lists. */
  dependencies: string[];
}

export interface SourceImports {
  file: string;
  specifiers: string[];
}

export function workspacePackages(root: string): WorkspacePackage[] {
  const folders = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  return folders.map((folder) => {
    const dir = join(root, folder);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };
    return { dir, name: pkg.name, dependencies: Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@rewind/')) };
  });
}

function packageOf(file: string, packages: WorkspacePackage[]): WorkspacePackage | undefined {
  return packages.find((p) => file === p.dir || file.startsWith(p.dir + sep));
}

/** Every import that breaks a boundary, as "file: specifier: why". */
export function boundaryViolations(packages: WorkspacePackage[], sources: SourceImports[], root: string): string[] {
  const names = new Set(packages.map((p) => p.name));
  const found: string[] = [];
  for (const { file, specifiers } of sources) {
    const own = packageOf(file, packages);
    if (!own) continue;
    for (const spec of specifiers) {
      const where = `${relative(root, file)}: '${spec}'`;
      if (spec.startsWith('.')) {
        const target = packageOf(resolve(dirname(file), spec), packages);
        if (target !== own) found.push(`${where}: leaves ${own.name}; import ${target ? `'${target.name}'` : 'nothing outside the package'} instead`);
        continue;
      }
      const pkg = spec.split('/').slice(0, 2).join('/');
      if (!names.has(pkg)) continue;
      if (spec !== pkg) found.push(`${where}: reaches into ${pkg}; import its public API '${pkg}'`);
      else if (pkg === own.name) found.push(`${where}: a package importing itself by name`);
      else if (!own.dependencies.includes(pkg)) found.push(`${where}: ${pkg} is not a dependency in ${relative(root, join(own.dir, 'package.json'))}`);
    }
  }
  return found;
}

function importsOf(file: string): SourceImports {
  return { file, specifiers: ts.preProcessFile(readFileSync(file, 'utf8'), true, false).importedFiles.map((r) => r.fileName) };
}

describe('package boundaries', () => {
  it('the checker reports a relative import out of a package, a deep import, and an undeclared package', () => {
    const root = '/r';
    const packages: WorkspacePackage[] = [
      { dir: '/r/core', name: '@rewind/core', dependencies: [] },
      { dir: '/r/adapter', name: '@rewind/adapter', dependencies: ['@rewind/core'] },
    ];
    const violations = boundaryViolations(
      packages,
      [
        { file: '/r/adapter/src/a.ts', specifiers: ['./b', '@rewind/core', 'node:fs', '../../core/src/engine'] },
        { file: '/r/adapter/src/c.ts', specifiers: ['@rewind/core/src/engine'] },
        { file: '/r/core/src/d.ts', specifiers: ['@rewind/adapter', '../../test/helpers'] },
        { file: '/r/test/t.ts', specifiers: ['../core/src/engine'] }, // tests are not a package: free
      ],
      root,
    );
    assert.deepEqual(violations, [
      "adapter/src/a.ts: '../../core/src/engine': leaves @rewind/adapter; import '@rewind/core' instead",
      "adapter/src/c.ts: '@rewind/core/src/engine': reaches into @rewind/core; import its public API '@rewind/core'",
      "core/src/d.ts: '@rewind/adapter': @rewind/adapter is not a dependency in core/package.json",
      "core/src/d.ts: '../../test/helpers': leaves @rewind/core; import nothing outside the package instead",
    ]);
  });

  it('the product code keeps to them', () => {
    const packages = workspacePackages(ROOT);
    assert.deepEqual(
      packages.map((p) => p.name),
      ['@rewind/protocol', '@rewind/core', '@rewind/adapter', '@rewind/language-server', '@rewind/extension'],
    );
    const sources = packages.flatMap((p) => sourceFiles(p.dir)).map(importsOf);
    assert.ok(sources.length > 100, `${sources.length} source files`);
    assert.deepEqual(boundaryViolations(packages, sources, ROOT), []);
  });
});
