/**
 * Writes an index as its pass finishes slices (index-store.ts has the layout): each slice's file,
 * then index.json listing it, both written aside and renamed, so that a reader (or a pass killed at
 * any moment) never sees half a file, and every finished slice survives a cancel or a crash.
 * Where the bundle's folder refuses the write (read-only), the index moves to the state folder.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { Bundle } from '../bundle/reader';
import { UserError } from '../errors';
import type { TimePoint } from '../timepoint';
import { sha256OfBuffer, sha256OfFileRemembered } from '../util/hash';
import { REWIND_VERSION } from '../version';
import { extraFileName, INDEX_JSON, INDEX_SCHEMA, indexFolders, sliceFileName, type IndexFile, type IndexFileExtra, type IndexFileSlice } from './index-store';

/** Errors of a folder that does not take writes (as opposed to a full disk, which the state folder would not help). */
const READ_ONLY = new Set(['EACCES', 'EPERM', 'EROFS']);

let tmpCounter = 0;

export class IndexWriter {
  private readonly slices: IndexFileSlice[];
  private dir: string;
  /** Writes run one at a time: slices finish concurrently, and each index.json lists all finished so far. */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * `dir`: the folder to write to (one of indexFolders); `kept`: the slices already there whose
   * files checked, listed again in every index.json written.
   */
  constructor(
    private readonly bundle: Bundle,
    private readonly head: { manifestSha256: string; pluginSha256: string; bucket: number },
    start: { dir: string; kept: IndexFileSlice[] },
  ) {
    this.dir = start.dir;
    this.slices = [...start.kept];
  }

  /** The folder the index is in now. */
  get where(): string {
    return this.dir;
  }

  /** The slices written or kept so far, ascending. */
  get listed(): readonly IndexFileSlice[] {
    return this.slices;
  }

  /**
   * Stores one finished slice: its file (the plugin's output, deflated), the image of its extra
   * snapshots (moved in; the caller gives it up), then index.json with it.
   */
  add(
    slice: { snapshot: string; from: TimePoint; to: TimePoint; spans: Array<[TimePoint, TimePoint]> },
    output: Buffer,
    extra?: { image: string; snapshots: IndexFileExtra['snapshots'] },
  ): Promise<void> {
    return this.serial(async () => {
      const data = deflateSync(output);
      const entry: IndexFileSlice = { ...slice, file: sliceFileName(slice.from, slice.to, this.head.bucket), bytes: data.length, sha256: sha256OfBuffer(data) };
      await this.write(entry.file, data);
      if (extra) {
        const file = extraFileName(slice.from, slice.to, this.head.bucket);
        const stored = await this.moveIn(extra.image, file);
        entry.extra = { file, bytes: (await fs.stat(stored)).size, sha256: await sha256OfFileRemembered(stored), snapshots: extra.snapshots };
      }
      const at = this.slices.findIndex((s) => s.from >= slice.from);
      // A rebuilt slice replaces the entry of the same range.
      if (at >= 0 && this.slices[at]!.from === slice.from) this.slices.splice(at, 1, entry);
      else this.slices.splice(at < 0 ? this.slices.length : at, 0, entry);
      await this.writeIndexJson();
    });
  }

  /** Writes index.json as it stands (a pass with nothing to replay that dropped stale entries). */
  flush(): Promise<void> {
    return this.serial(() => this.writeIndexJson());
  }

  /**
   * Removes the slice files of the folder that index.json does not list (other bucket sizes,
   * ranges of an older plan): only once the index is complete, and only files named as slices.
   */
  prune(): Promise<void> {
    return this.serial(async () => {
      const listed = new Set(filesOf(this.slices));
      for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
        if (/^(slice-\d+-\d+-b\d+\.bin\.z|snapshots-\d+-\d+-b\d+\.qcow2)$/.test(name) && !listed.has(name)) await fs.rm(join(this.dir, name), { force: true }).catch(() => undefined);
      }
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async writeIndexJson(): Promise<void> {
    const file: IndexFile = {
      schema: INDEX_SCHEMA,
      manifestSha256: this.head.manifestSha256,
      rewindVersion: REWIND_VERSION,
      pluginSha256: this.head.pluginSha256,
      bucket: this.head.bucket,
      slices: this.slices,
    };
    await this.write(INDEX_JSON, Buffer.from(JSON.stringify(file, null, 1) + '\n'));
  }

  /** Writes `name` into the index folder, aside and renamed. */
  private write(name: string, data: Buffer): Promise<void> {
    return this.inFolder((dir) => writeAside(dir, name, data));
  }

  /**
   * Moves a file into the index folder under `name` (a copy where it lies on another file system),
   * aside and renamed like every write; returns its path there.
   */
  private moveIn(file: string, name: string): Promise<string> {
    return this.inFolder(async (dir) => {
      await fs.mkdir(dir, { recursive: true });
      const p = join(dir, name);
      const tmp = `${p}.tmp-${process.pid}-${++tmpCounter}`;
      try {
        await fs.rename(file, tmp).catch(async (e: NodeJS.ErrnoException) => {
          if (e.code !== 'EXDEV') throw e;
          await fs.copyFile(file, tmp);
          await fs.rm(file, { force: true });
        });
        await fs.chmod(tmp, 0o444);
        await fs.rename(tmp, p);
      } catch (e) {
        await fs.rm(tmp, { force: true }).catch(() => undefined);
        throw e;
      }
      return p;
    });
  }

  /** Puts something into the index folder; moves to the state folder when the bundle's folder refuses. */
  private async inFolder<T>(put: (dir: string) => Promise<T>): Promise<T> {
    try {
      return await put(this.dir);
    } catch (e) {
      const [inBundle, state] = indexFolders(this.bundle, this.head.manifestSha256);
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (this.dir !== inBundle || !READ_ONLY.has(code)) throw unwritable(this.dir, e);
      try {
        await this.moveTo(state);
        return await put(state);
      } catch (e2) {
        throw unwritable(state, e2, inBundle);
      }
    }
  }

  /** Continues in `dir`: the files of the slices listed so far are copied there first, so that its index.json lists only files it holds. */
  private async moveTo(dir: string): Promise<void> {
    const from = this.dir;
    await fs.mkdir(dir, { recursive: true });
    for (const name of filesOf(this.slices)) {
      const tmp = join(dir, `${name}.tmp-${process.pid}-${++tmpCounter}`);
      await fs.copyFile(join(from, name), tmp);
      await fs.rename(tmp, join(dir, name));
    }
    this.dir = dir;
  }
}

/** The files of the index folder that slices list: their outputs and extra snapshot images. */
function filesOf(slices: readonly IndexFileSlice[]): string[] {
  return slices.flatMap((s) => (s.extra ? [s.file, s.extra.file] : [s.file]));
}

async function writeAside(dir: string, name: string, data: Buffer): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const p = join(dir, name);
  const tmp = `${p}.tmp-${process.pid}-${++tmpCounter}`;
  try {
    await fs.writeFile(tmp, data, { mode: 0o444 });
    await fs.rename(tmp, p);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

function unwritable(dir: string, e: unknown, also?: string): UserError {
  const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new UserError(
    `cannot write the index to ${dir} (${why})${also ? ` nor to ${also}` : ''}; free some space, or set XDG_STATE_HOME to a writable folder (the index of a read-only bundle goes to $XDG_STATE_HOME/rewind/index)`,
    'index-unwritable',
  );
}
