import { constants as fsc, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '../bundle/reader';
import * as layout from '../bundle/layout';
import { storeDriveArgs } from '../bundle/drive';
import { removeStaleWorkspaces, WORKSPACE_PREFIX, writeOwner } from './stale-workspaces';

/** The sweep of workspaces left by killed processes runs once per process, in the background. */
let swept = false;

/**
 * The writable files a replay needs, outside the read-only bundle: the decompressed log and
 * private copies of the snapshot store. QEMU writes to the qcow2 file even to load a snapshot
 * (refcounts), so two processes must never share one: every replay process gets its own copy
 * (`newImage`), a reflink where the file system can, a plain copy elsewhere.
 */
export class ReplayWorkspace {
  private images = 0;
  /** Per image file, the tail of its chain of copies and snapshot saves (they must not overlap). */
  private imageLocks = new Map<string, Promise<unknown>>();

  private constructor(
    readonly dir: string,
    readonly log: string,
    readonly snapshots: string,
  ) {}

  static async create(bundle: Bundle): Promise<ReplayWorkspace> {
    if (!swept) {
      swept = true;
      void removeStaleWorkspaces();
    }
    const dir = await fs.mkdtemp(join(tmpdir(), WORKSPACE_PREFIX));
    try {
      await writeOwner(dir);
      const log = join(dir, 'replay.log');
      await fs.writeFile(log, await bundle.readReplayLog());
      const snapshots = join(dir, 'snapshots.qcow2');
      await fs.copyFile(bundle.path(layout.SNAPSHOTS), snapshots, fsc.COPYFILE_FICLONE);
      await fs.chmod(snapshots, 0o644);
      return new ReplayWorkspace(dir, log, snapshots);
    } catch (e) {
      await fs.rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** A fresh private copy of a snapshot store (by default the bundle's), for one more replay process. */
  async newImage(from = this.snapshots): Promise<string> {
    const p = join(this.dir, `image-${++this.images}.qcow2`);
    await this.withImage(from, () => fs.copyFile(from, p, fsc.COPYFILE_FICLONE));
    return p;
  }

  /**
   * Runs `fn` while nothing else copies or writes the image: a copy taken while QEMU saves a
   * snapshot into the file is torn, and QEMU then cannot load the snapshot from it.
   */
  withImage<T>(image: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.imageLocks.get(image) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.imageLocks.set(image, tail);
    void tail.then(() => {
      if (this.imageLocks.get(image) === tail) this.imageLocks.delete(image);
    });
    return next;
  }

  /**
   * The QEMU arguments of a replay of this bundle, without console, monitor or gdb options. A
   * recording's disk is its snapshot store (bundle/drive.ts): `image` is attached as both. Images
   * of this workspace are private copies (flushes skipped); any other is written with flushes.
   */
  replayArgs(bundle: Bundle, snapshot = layout.INITIAL_SNAPSHOT, image = this.snapshots): string[] {
    const machine = bundle.manifest.qemu.machineArgs.map((a) => a.split('${bundle}').join(bundle.dir));
    return [
      ...machine,
      '-icount', `shift=${bundle.manifest.qemu.icountShift},rr=replay,rrfile=${this.log},rrsnapshot=${snapshot}`,
      ...storeDriveArgs(image, bundle.manifest.guest.disk, image.startsWith(this.dir + '/')),
    ];
  }

  async dispose(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
