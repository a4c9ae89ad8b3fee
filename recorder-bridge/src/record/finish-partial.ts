import { constants as fsc, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as layout from '../bundle/layout';
import { validateManifest, type Manifest } from '../bundle/manifest';
import { UserError } from '../errors';
import { sha256OfFile } from '../util/hash';
import { repairStore } from './salvage-store';
import { listSnapshots } from './snapshot-list';

/*
 * OUT.partial with a manifest: the recording itself was complete and its bundle written (finalize.ts
 * writes the manifest before it verifies the snapshots), but the recorder died while it verified or
 * repaired them. What is left to do: a copy with the store as it is now (a repair replay may have
 * been cut in the middle of a save: leaked clusters are repaired), every snapshot marked unverified
 * (the replay engine verifies them on first open), the manifest rewritten, the files read-only.
 */

/** Whether an OUT.partial folder is a recording whose bundle was written but not finished. */
export async function hasManifest(dir: string): Promise<boolean> {
  return fs.stat(join(dir, layout.MANIFEST)).then((s) => s.isFile(), () => false);
}

/** Makes the bundle `out` from such a folder, which is only read. */
export async function finishInterruptedBundle(dir: string, out: string, qemuImg: string, shown: string): Promise<{ manifest: Manifest; repairedLeaks: number }> {
  const manifest = validateManifest(JSON.parse(await fs.readFile(join(dir, layout.MANIFEST), 'utf8')), `${shown}/${layout.MANIFEST}`);
  const work = join(dirname(out), `.${basename(out)}.finish-${process.pid}-${Date.now()}`);
  await fs.mkdir(work);
  try {
    for (const name of Object.keys(manifest.files)) {
      const from = join(dir, name);
      if (!(await fs.stat(from).then((s) => s.isFile(), () => false))) {
        throw new UserError(`${shown} cannot be finished: ${name}, listed in its manifest, is missing; record it again`, 'salvage-incomplete');
      }
      await fs.mkdir(dirname(join(work, name)), { recursive: true });
      await fs.copyFile(from, join(work, name), fsc.COPYFILE_FICLONE);
      await fs.chmod(join(work, name), 0o644);
    }
    const store = join(work, layout.SNAPSHOTS);
    const repairedLeaks = await repairStore(qemuImg, store, `${shown}/${layout.SNAPSHOTS}`);
    manifest.snapshots.list = (await listSnapshots(qemuImg, store)).map((s) => ({ ...s, verified: false }));
    manifest.snapshots.verification = { method: 'qemu-rrsnapshot', seconds: 0, replaced: [], dropped: [], added: [], complete: false };
    manifest.recording.warnings.push('the recorder was interrupted while it verified the snapshots; they are verified when the recording is first opened');
    for (const name of Object.keys(manifest.files)) {
      const p = join(work, name);
      manifest.files[name] = { size: (await fs.stat(p)).size, sha256: await sha256OfFile(p) };
    }
    await fs.writeFile(join(work, layout.MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    for (const name of [...Object.keys(manifest.files), layout.MANIFEST]) await fs.chmod(join(work, name), 0o444);
    await fs.rename(work, out);
    return { manifest, repairedLeaks };
  } catch (e) {
    await fs.rm(work, { recursive: true, force: true });
    throw e;
  }
}
