/** Confines the bundles a bridge opens to one directory tree (--root). */
import { promises as fs } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { UserError } from '../errors';

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith('..' + sep));
}

/**
 * Resolves `requested` against `root` (itself already a real path) and returns the real path of
 * the bundle, refusing anything outside the root: "..", absolute paths elsewhere, and symlinks
 * that lead out of it.
 */
export async function resolveInRoot(root: string, requested: unknown): Promise<string> {
  if (typeof requested !== 'string' || requested === '' || requested.includes('\0')) {
    throw new UserError('open needs "bundle": a bundle directory inside the bridge root', 'bad-params');
  }
  const outside = () =>
    new UserError(`"${requested}" is outside the bridge root ${root}; only bundles inside it can be opened (start the bridge with another --root to open others)`, 'outside-root');
  const lexical = resolve(root, requested);
  if (!inside(root, lexical)) throw outside();
  let real: string;
  try {
    real = await fs.realpath(lexical);
  } catch (e) {
    // Say "outside" rather than "missing" for a path under a symlink that leads out, so that
    // nothing about the world outside the root shows through.
    let ancestor = dirname(lexical);
    for (;;) {
      const r = await fs.realpath(ancestor).catch(() => undefined);
      if (r !== undefined) {
        if (!inside(root, r)) throw outside();
        break;
      }
      if (ancestor === root || dirname(ancestor) === ancestor) break;
      ancestor = dirname(ancestor);
    }
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`no bundle "${requested}" in the bridge root ${root}`, 'bundle-not-found');
    throw new UserError(`cannot open "${requested}": ${(e as Error).message}`, 'bundle-not-found');
  }
  if (!inside(root, real)) throw outside();
  return real;
}
