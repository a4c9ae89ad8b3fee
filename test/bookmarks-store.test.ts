/**
 * The bookmark store (debug-adapter/src/bookmarks/store.ts) on real files: beside the recording,
 * the fall back to the state folder where the bundle's folder cannot be written, the newest of the
 * two winning, the errors for bad input; and the match of a kernel log record to its console line
 * (debug-adapter/src/linux/dmesg-console.ts).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ConsoleLine } from '@rewind/protocol';
import { BOOKMARKS_FILE, BookmarkStore, bookmarkPlaces } from '../debug-adapter/src/bookmarks/store';
import { consoleLineOf, printkPrefix } from '../debug-adapter/src/linux/dmesg-console';
import { tempDir } from './helpers';

const SHA = 'a'.repeat(64);
const OTHER_SHA = 'b'.repeat(64);
const END = 1_000_000;

describe('bookmark store', () => {
  const root = tempDir(after, 'rewind-bookmarks-test-');
  let n = 0;
  /** A bundle folder (with one recorded file) and a state home of its own. */
  async function fresh(): Promise<{ bundle: string; state: string; store: BookmarkStore }> {
    const base = join(root, `case-${++n}`);
    const bundle = join(base, 'demo.rewind');
    const state = join(base, 'state');
    await fs.mkdir(bundle, { recursive: true });
    await fs.writeFile(join(bundle, 'manifest.json'), '{}', { mode: 0o444 });
    return { bundle, state, store: new BookmarkStore(bookmarkPlaces({ bundleDir: bundle, manifestSha256: SHA, stateHome: state }), SHA) };
  }

  it('stores beside the recording, in a new file only; a new store on the same folder reads them back', async () => {
    const { bundle, state, store } = await fresh();
    assert.deepEqual(await store.list(), { bookmarks: [] });
    const a = await store.add('  corrupting write ', 5000, END);
    assert.equal(a.storedIn, join(bundle, BOOKMARKS_FILE));
    assert.equal(a.bookmark.name, 'corrupting write');
    await store.add('start', 0, END);
    await store.add('end', END, END);
    const again = new BookmarkStore(bookmarkPlaces({ bundleDir: bundle, manifestSha256: SHA, stateHome: state }), SHA);
    const l = await again.list();
    assert.deepEqual(l.bookmarks.map((b) => [b.name, b.icount, b.id]), [['start', 0, 'b2'], ['corrupting write', 5000, 'b1'], ['end', END, 'b3']]);
    assert.equal(l.storedIn, join(bundle, BOOKMARKS_FILE));
    assert.deepEqual((await fs.readdir(bundle)).sort(), [BOOKMARKS_FILE, 'manifest.json']);
    assert.equal(await fs.readFile(join(bundle, 'manifest.json'), 'utf8'), '{}');
    await assert.rejects(fs.access(state), /ENOENT/, 'nothing written to the state folder');
    // Removing by name and by id; ids are never reused.
    assert.equal((await again.remove({ name: 'start' })).removed.id, 'b2');
    assert.equal((await again.remove({ id: 'b3' })).removed.name, 'end');
    assert.equal((await again.add('later', 7, END)).bookmark.id, 'b4');
    assert.deepEqual((await store.list()).bookmarks.map((b) => b.name), ['later', 'corrupting write']);
  });

  it('bad input gets a clear error and changes nothing', async () => {
    const { store } = await fresh();
    await store.add('x', 10, END);
    await assert.rejects(store.add('', 1, END), /needs a name/);
    await assert.rejects(store.add('   ', 1, END), /needs a name/);
    await assert.rejects(store.add(undefined, 1, END), /needs a name/);
    await assert.rejects(store.add('y'.repeat(201), 1, END), /at most 200 characters/);
    await assert.rejects(store.add('x', 20, END), /already a bookmark named "x" \(at icount 10\)/);
    await assert.rejects(store.add(' x ', 20, END), /already a bookmark named "x"/);
    await assert.rejects(store.add('y', END + 1, END), /icount 1,000,001 is beyond the end of the recording \(1,000,000\)/);
    await assert.rejects(store.add('y', -1, END), /non-negative whole number/);
    await assert.rejects(store.add('y', 1.5, END), /non-negative whole number/);
    await assert.rejects(store.remove({ name: 'nope' }), /no bookmark named "nope"; the bookmarks are "x" \(b1\)/);
    await assert.rejects(store.remove({}), /exactly one of "id" or "name"/);
    await assert.rejects(store.remove({ id: 'b1', name: 'x' }), /exactly one of "id" or "name"/);
    assert.deepEqual((await store.list()).bookmarks.map((b) => b.name), ['x']);
  });

  it('where the bundle folder cannot be written (even by root: its path goes through a file), the state folder keyed by the manifest sha256', async () => {
    const { bundle, state } = await fresh();
    // A "folder" that is a file: no one, root included, can create bookmarks.json in it (ENOTDIR).
    const notADir = join(bundle, 'manifest.json');
    const store = new BookmarkStore(bookmarkPlaces({ bundleDir: notADir, manifestSha256: SHA, stateHome: state }), SHA);
    const r = await store.add('here', 42, END);
    const stateFile = join(state, 'rewind', 'bookmarks', `${SHA}.json`);
    assert.equal(r.storedIn, stateFile);
    const file = JSON.parse(await fs.readFile(stateFile, 'utf8')) as { schema: string; manifestSha256: string };
    assert.equal(file.schema, 'rewind.bookmarks/1');
    assert.equal(file.manifestSha256, SHA);
    assert.deepEqual((await store.list()).bookmarks.map((b) => b.name), ['here']);
    assert.equal((await store.list()).storedIn, stateFile);
    // Another recording (another manifest) does not see them.
    const other = new BookmarkStore(bookmarkPlaces({ bundleDir: notADir, manifestSha256: OTHER_SHA, stateHome: state }), OTHER_SHA);
    assert.deepEqual((await other.list()).bookmarks, []);
  });

  it('a read-only bundle folder (chmod 0555, as a user other than root) falls back too', { skip: process.getuid?.() === 0 ? 'root writes into 0555 folders: the case above covers the fall back' : false }, async () => {
    const { bundle, state, store } = await fresh();
    await fs.chmod(bundle, 0o555);
    try {
      const r = await store.add('ro', 1, END);
      assert.equal(r.storedIn, join(state, 'rewind', 'bookmarks', `${SHA}.json`));
      assert.deepEqual(await fs.readdir(bundle), ['manifest.json']);
    } finally {
      await fs.chmod(bundle, 0o755);
    }
  });

  it('the newest of the two files wins: a change made while the folder was not writable is not hidden by the older file beside the recording', async () => {
    const { bundle, state, store } = await fresh();
    await store.add('first', 1, END); // beside the recording, revision 1
    const places = bookmarkPlaces({ bundleDir: bundle, manifestSha256: SHA, stateHome: state });
    // The same state folder, the bundle's folder now unwritable (a path through a file, see above).
    const blocked = new BookmarkStore({ bundleFile: join(bundle, 'manifest.json', BOOKMARKS_FILE), stateFile: places.stateFile }, SHA);
    // It sees nothing of the bundle's file (another path): seed it from the real one as a session would have read it.
    await fs.mkdir(join(state, 'rewind', 'bookmarks'), { recursive: true });
    await fs.copyFile(join(bundle, BOOKMARKS_FILE), places.stateFile);
    await blocked.add('second', 2, END); // state folder, revision 2
    const l = await store.list();
    assert.equal(l.storedIn, places.stateFile);
    assert.deepEqual(l.bookmarks.map((b) => b.name), ['first', 'second']);
    // Writable again: the next change goes beside the recording, with a higher revision, and wins.
    await store.remove({ name: 'first' });
    const l2 = await store.list();
    assert.equal(l2.storedIn, join(bundle, BOOKMARKS_FILE));
    assert.deepEqual(l2.bookmarks.map((b) => b.name), ['second']);
  });

  it('a damaged or foreign file is ignored, never trusted', async () => {
    const { bundle, store } = await fresh();
    await fs.writeFile(join(bundle, BOOKMARKS_FILE), '{not json');
    assert.deepEqual((await store.list()).bookmarks, []);
    await fs.writeFile(join(bundle, BOOKMARKS_FILE), JSON.stringify({ schema: 'rewind.bookmarks/1', manifestSha256: OTHER_SHA, revision: 9, nextId: 2, bookmarks: [{ id: 'b1', name: 'x', icount: 1, createdAt: '' }] }));
    assert.deepEqual((await store.list()).bookmarks, []);
    // Adding replaces it with this recording's file.
    await store.add('mine', 3, END);
    assert.deepEqual((await store.list()).bookmarks.map((b) => b.name), ['mine']);
  });

  it('fails with a clear error when neither place can be written', async () => {
    const { bundle } = await fresh();
    const file = join(bundle, 'manifest.json');
    const store = new BookmarkStore(bookmarkPlaces({ bundleDir: file, manifestSha256: SHA, stateHome: file }), SHA);
    await assert.rejects(store.add('x', 1, END), /cannot store the bookmarks .*ENOTDIR.*set XDG_STATE_HOME/);
  });
});

describe('dmesg record -> console line', () => {
  const line = (n: number, icount: number, text: string): ConsoleLine => ({ line: n, start: icount - 10, icount, text });
  const lines = [
    line(1, 100, 'SeaBIOS (version 1.16.2-debian-1.16.2-1)'),
    line(2, 200, '[    0.000000] Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)'),
    line(3, 300, '[    0.000000] Command line: console=ttyS0 panic=-1'),
    line(4, 400, '[    1.234567] random: crng init done\r'),
    line(5, 500, '[  123.000042] [T42] with a caller id'),
    line(6, 600, '[    1.234567] random: crng init done again'),
  ];

  it("printk's time prefix", () => {
    assert.equal(printkPrefix(0), '[    0.000000] ');
    assert.equal(printkPrefix(1_234_567_891), '[    1.234567] ');
    assert.equal(printkPrefix(123_456_789_000_000), '[123456.789000] ');
  });

  it('finds the line by time prefix and first line of text; not a line with the same time but other text', () => {
    assert.equal(consoleLineOf({ timestampNs: 0, text: 'Command line: console=ttyS0 panic=-1' }, lines)?.icount, 300);
    assert.equal(consoleLineOf({ timestampNs: 1_234_567_000, text: 'random: crng init done' }, lines)?.line, 4);
    assert.equal(consoleLineOf({ timestampNs: 1_234_567_000, text: 'random: crng init done again\nsecond line' }, lines)?.line, 6);
    assert.equal(consoleLineOf({ timestampNs: 123_000_042_999, text: 'with a caller id' }, lines)?.line, 5);
    assert.equal(consoleLineOf({ timestampNs: 1_000, text: 'Command line: console=ttyS0 panic=-1' }, lines), undefined, 'another time');
    assert.equal(consoleLineOf({ timestampNs: 0, text: 'not printed' }, lines), undefined);
  });
});
