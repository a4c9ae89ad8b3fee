/**
 * Named time points and the console's lines: rewind/bookmarks, rewind/addBookmark,
 * rewind/removeBookmark (stored beside the recording: ../bookmarks/store.ts) and rewind/console
 * (the guest's serial console with the time point of each line, from the bridge). Going to either
 * is rewind/seek {icount}.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { BookmarkStore, bookmarkPlaces } from '../bookmarks/store';
import type { Debuggee } from '../debuggee';
import { AdapterError } from '../errors';
import type { HandlerTable } from '../requests';
import type { HandlerContext } from './context';

/** The default and largest number of console lines one rewind/console answers. */
const CONSOLE_LIMIT = 1000;
const CONSOLE_LIMIT_MAX = 100_000;

/**
 * The bookmark store of the debuggee's recording: in the bundle's folder when the bundle is on
 * this machine (its manifest readable here), else only in the state folder, under the manifest's
 * sha256 as the bridge reports it.
 */
async function storeOf(d: Debuggee): Promise<BookmarkStore> {
  const manifest = join(d.opened.path, 'manifest.json');
  const local = d.manifest ? await fs.readFile(manifest).then((b) => createHash('sha256').update(b).digest('hex'), () => undefined) : undefined;
  const sha = local ?? d.opened.manifestSha256;
  if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) throw new AdapterError('bookmarks need the recording\'s manifest sha256, which this bridge does not report (an older `rewind bridge`?)');
  return new BookmarkStore(bookmarkPlaces({ ...(local ? { bundleDir: d.opened.path } : {}), manifestSha256: sha }), sha);
}

export function bookmarkHandlers(c: HandlerContext) {
  const stores = new WeakMap<Debuggee, Promise<BookmarkStore>>();
  const store = (): Promise<BookmarkStore> => {
    const d = c.requireDebuggee();
    let s = stores.get(d);
    if (!s) {
      s = storeOf(d);
      stores.set(d, s);
      s.catch(() => stores.delete(d));
    }
    return s;
  };
  const changed = async (s: BookmarkStore): Promise<void> => c.sendCustomEvent('rewind/bookmarksChanged', { bookmarks: (await s.list()).bookmarks });

  return {
    'rewind/bookmarks': async () => (await store()).list(),

    'rewind/addBookmark': async (args) => {
      const d = c.requireDebuggee();
      const s = await store();
      const icount = args.icount ?? (await c.position()).icount;
      const { bookmark } = await s.add(args.name, icount, d.end);
      await changed(s);
      return { bookmark };
    },

    'rewind/removeBookmark': async (args) => {
      const s = await store();
      const { removed } = await s.remove(args);
      await changed(s);
      return { removed };
    },

    'rewind/console': async (args) => {
      const d = c.requireDebuggee();
      const limit = args.limit ?? CONSOLE_LIMIT;
      if (!Number.isSafeInteger(limit) || limit < 0 || limit > CONSOLE_LIMIT_MAX) throw new AdapterError(`"limit" must be a whole number from 0 to ${CONSOLE_LIMIT_MAX}`);
      if (args.from !== undefined && (!Number.isSafeInteger(args.from) || args.from < 0)) throw new AdapterError('"from" must be a non-negative whole number');
      const r = await d.client.console(d.sessionId, { ...(args.from !== undefined ? { from: args.from } : {}), limit });
      return { lines: r.lines.map((l) => ({ line: l.line, start: l.start, icount: l.icount, text: l.text })), truncated: r.truncated, timepoints: r.timepoints };
    },
  } satisfies Partial<HandlerTable>;
}
