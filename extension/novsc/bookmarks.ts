/**
 * What the bookmark commands and the console-line items decide, without VS Code: the name Add
 * Bookmark offers, the check of a typed name (the adapter's rules, so that the input box says it
 * before the request fails), and how a console line reads in a tree or a picker.
 */
import type { RewindBookmark } from '@rewind/protocol';
import { groupDigits } from './format';

/** The adapter's limit (debug-adapter/src/bookmarks/store.ts). */
export const BOOKMARK_NAME_MAX = 200;

/** "icount 5,686,281", or "icount 5,686,281 (2)" ... when a bookmark has that name already. */
export function defaultBookmarkName(icount: number, bookmarks: readonly Pick<RewindBookmark, 'name'>[]): string {
  const base = `icount ${groupDigits(icount)}`;
  const taken = new Set(bookmarks.map((b) => b.name));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base} (${i})`)) return `${base} (${i})`;
}

/** What is wrong with a bookmark name (as the adapter would refuse it), or undefined. */
export function bookmarkNameProblem(name: string, bookmarks: readonly Pick<RewindBookmark, 'name' | 'icount'>[]): string | undefined {
  const n = name.trim();
  if (n === '') return 'A bookmark needs a name';
  if (n.length > BOOKMARK_NAME_MAX) return `At most ${BOOKMARK_NAME_MAX} characters (this has ${n.length})`;
  const taken = bookmarks.find((b) => b.name === n);
  if (taken) return `There is already a bookmark "${n}" (at icount ${groupDigits(taken.icount)})`;
  return undefined;
}

/** A console line as a row reads it: control characters dropped, an empty line said so. */
export function consoleLineLabel(text: string): string {
  // eslint-disable-next-line no-control-regex
  const t = text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trimEnd();
  return t === '' ? '(empty line)' : t;
}

/** The index of the last item at or before `icount` (items by icount), or -1. */
export function lastAtOrBefore(items: readonly { icount: number }[], icount: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]!.icount <= icount) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
