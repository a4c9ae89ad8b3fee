/**
 * Bookmarks: named time points of a recording, kept beside it so that they come back in every
 * session (rewind/bookmarks, rewind/addBookmark, rewind/removeBookmark; docs/bundle-format.md).
 *
 * Where: `bookmarks.json` in the bundle's folder: additive, like snapshot-verdicts.json and the
 * index (never in the manifest's file list, tied to the manifest by its sha256; no recorded file
 * changes). Where that folder cannot be written (read-only, another user's, not on this machine),
 * `$XDG_STATE_HOME/rewind/bookmarks/MANIFEST-SHA256.json` (default `~/.local/state/...`). The
 * manifest's sha256 names the recording: the manifest is written once, last, and holds the
 * sha256 of every other file, so two bundles share it only when they are copies of each other.
 *
 * Writable or not is decided by trying: each write goes to the bundle's file first, then to the
 * state folder. Each file carries a revision; a read takes the newest of the two, so a folder
 * that turned read-only (or writable again) never hides the last change. Every change reads the
 * file again first (another session may have changed it), then writes it aside and renames it.
 */
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RewindBookmark, RewindRemoveBookmarkArguments } from '@rewind/protocol';
import { AdapterError, messageOf } from '../errors';

export const BOOKMARKS_FILE = 'bookmarks.json';
export const BOOKMARKS_SCHEMA = 'rewind.bookmarks/1';
export const BOOKMARK_NAME_MAX = 200;

/** bookmarks.json. */
export interface BookmarksFile {
  schema: typeof BOOKMARKS_SCHEMA;
  /** sha256 of the manifest.json of the recording they belong to. */
  manifestSha256: string;
  /** Grows by one with every change; a read takes the file with the highest. */
  revision: number;
  updatedAt: string;
  /** The number of the next bookmark's id ("b" + nextId). */
  nextId: number;
  bookmarks: RewindBookmark[];
}

/** Where a recording's bookmarks may be, in the order writes try them. */
export interface BookmarkPlaces {
  /** In the bundle's folder; absent when the bundle is not on this machine. */
  bundleFile?: string;
  /** In the user's state folder. */
  stateFile: string;
}

/** The places of a recording's bookmarks; `stateHome` defaults to $XDG_STATE_HOME, else ~/.local/state. */
export function bookmarkPlaces(opts: { bundleDir?: string; manifestSha256: string; stateHome?: string }): BookmarkPlaces {
  const stateHome = opts.stateHome ?? (process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'));
  return {
    ...(opts.bundleDir !== undefined ? { bundleFile: join(opts.bundleDir, BOOKMARKS_FILE) } : {}),
    stateFile: join(stateHome, 'rewind', 'bookmarks', `${opts.manifestSha256}.json`),
  };
}

export class BookmarkStore {
  constructor(
    readonly places: BookmarkPlaces,
    readonly manifestSha256: string,
  ) {}

  /** The bookmarks, by time point then name, and the file they were read from. */
  async list(): Promise<{ bookmarks: RewindBookmark[]; storedIn?: string }> {
    const f = await this.read();
    return { bookmarks: sorted(f?.file.bookmarks ?? []), ...(f ? { storedIn: f.path } : {}) };
  }

  /** Adds a bookmark; a clear error for an empty, too long or taken name, or a time point outside [0, end]. */
  async add(nameIn: unknown, icount: unknown, end: number): Promise<{ bookmark: RewindBookmark; storedIn: string }> {
    if (typeof nameIn !== 'string' || nameIn.trim() === '') throw new AdapterError('a bookmark needs a name ("name": a non-empty string)');
    const name = nameIn.trim();
    if (name.length > BOOKMARK_NAME_MAX) throw new AdapterError(`a bookmark's name has at most ${BOOKMARK_NAME_MAX} characters (this one has ${name.length})`);
    if (typeof icount !== 'number' || !Number.isSafeInteger(icount) || icount < 0) throw new AdapterError(`"icount" must be a non-negative whole number, got ${JSON.stringify(icount)}`);
    if (icount > end) throw new AdapterError(`icount ${icount.toLocaleString('en-US')} is beyond the end of the recording (${end.toLocaleString('en-US')})`);
    const file = (await this.read())?.file ?? this.empty();
    const taken = file.bookmarks.find((b) => b.name === name);
    if (taken) throw new AdapterError(`there is already a bookmark named "${name}" (at icount ${taken.icount.toLocaleString('en-US')}); pick another name or remove that one first`);
    const bookmark: RewindBookmark = { id: `b${file.nextId}`, name, icount, createdAt: new Date().toISOString() };
    const storedIn = await this.write({ ...file, nextId: file.nextId + 1, bookmarks: [...file.bookmarks, bookmark] });
    return { bookmark, storedIn };
  }

  /** Removes a bookmark named by its id or its name. */
  async remove(ref: RewindRemoveBookmarkArguments): Promise<{ removed: RewindBookmark; storedIn: string }> {
    const byId = typeof ref.id === 'string' && ref.id !== '';
    const byName = typeof ref.name === 'string' && ref.name.trim() !== '';
    if (byId === byName) throw new AdapterError('rewind/removeBookmark needs exactly one of "id" or "name"');
    const file = (await this.read())?.file ?? this.empty();
    const removed = file.bookmarks.find((b) => (byId ? b.id === ref.id : b.name === ref.name!.trim()));
    if (!removed) {
      const names = file.bookmarks.map((b) => `"${b.name}" (${b.id})`).join(', ');
      throw new AdapterError(`there is no bookmark ${byId ? `with id "${ref.id}"` : `named "${ref.name}"`}; ${names ? `the bookmarks are ${names}` : 'this recording has none'}`);
    }
    const storedIn = await this.write({ ...file, bookmarks: file.bookmarks.filter((b) => b !== removed) });
    return { removed, storedIn };
  }

  private empty(): BookmarksFile {
    return { schema: BOOKMARKS_SCHEMA, manifestSha256: this.manifestSha256, revision: 0, updatedAt: '', nextId: 1, bookmarks: [] };
  }

  private paths(): string[] {
    return [this.places.bundleFile, this.places.stateFile].filter((p): p is string => p !== undefined);
  }

  /** The newest valid file of this recording among the places (ties: the bundle's). */
  async read(): Promise<{ file: BookmarksFile; path: string } | undefined> {
    let best: { file: BookmarksFile; path: string } | undefined;
    for (const path of this.paths()) {
      const file = await readFile(path, this.manifestSha256);
      if (file && (!best || file.revision > best.file.revision)) best = { file, path };
    }
    return best;
  }

  /** Writes the next revision: to the bundle's folder, else to the state folder; returns where. */
  private async write(next: BookmarksFile): Promise<string> {
    const text = `${JSON.stringify({ ...next, revision: next.revision + 1, updatedAt: new Date().toISOString() }, null, 2)}\n`;
    const failures: string[] = [];
    for (const path of this.paths()) {
      const tmp = `${path}.tmp-${process.pid}`;
      try {
        // The state folder is made when missing; the bundle's folder never is (absent means not here).
        if (path === this.places.stateFile) await fs.mkdir(dirname(path), { recursive: true });
        await fs.writeFile(tmp, text, { mode: 0o644 });
        await fs.rename(tmp, path);
        return path;
      } catch (e) {
        failures.push(`${path}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`);
        await fs.rm(tmp, { force: true }).catch(() => undefined);
      }
    }
    throw new AdapterError(`cannot store the bookmarks (${failures.join('; ')}); set XDG_STATE_HOME to a writable folder`);
  }
}

/** A bookmarks file of this recording, or undefined when absent, unreadable, damaged or another recording's. */
async function readFile(path: string, manifestSha256: string): Promise<BookmarksFile | undefined> {
  let o: Partial<BookmarksFile>;
  try {
    o = JSON.parse(await fs.readFile(path, 'utf8')) as Partial<BookmarksFile>;
  } catch {
    return undefined;
  }
  if (o?.schema !== BOOKMARKS_SCHEMA || o.manifestSha256 !== manifestSha256 || !Array.isArray(o.bookmarks)) return undefined;
  const bookmarks = o.bookmarks.filter(
    (b): b is RewindBookmark => typeof b?.id === 'string' && typeof b.name === 'string' && Number.isSafeInteger(b.icount) && b.icount >= 0 && typeof b.createdAt === 'string',
  );
  const ids = bookmarks.map((b) => Number(b.id.slice(1))).filter(Number.isSafeInteger);
  return {
    schema: BOOKMARKS_SCHEMA,
    manifestSha256,
    revision: Number.isSafeInteger(o.revision) ? o.revision! : 0,
    updatedAt: typeof o.updatedAt === 'string' ? o.updatedAt : '',
    nextId: Math.max(Number.isSafeInteger(o.nextId) ? o.nextId! : 1, ...ids.map((n) => n + 1)),
    bookmarks,
  };
}

function sorted(bookmarks: RewindBookmark[]): RewindBookmark[] {
  return [...bookmarks].sort((a, b) => a.icount - b.icount || a.name.localeCompare(b.name));
}
