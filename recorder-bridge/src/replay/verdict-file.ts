import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as layout from '../bundle/layout';
import type { Bundle } from '../bundle/reader';
import type { SnapshotVerdict } from '@rewind/protocol';
import { sha256OfFile } from '../util/hash';
import { REWIND_VERSION } from '../version';

/*
 * Verdicts on the snapshots of a bundle that does not carry them in its manifest (format 1 and 2,
 * or a format 3 recording whose verification was cancelled). They are worked out on first open and
 * kept in a file beside the manifest: additive, never listed in the manifest, tied to it by its
 * sha256. Where the bundle's folder is read-only, the file goes to the user's state folder instead.
 */

export interface VerdictFile {
  schema: 'rewind.snapshot-verdicts/1';
  /** sha256 of the manifest.json the verdicts belong to. */
  manifestSha256: string;
  /** How the checking replays started ('engine': as Rewind's replay engine starts them). */
  mode: 'engine' | 'qemu';
  createdAt: string;
  rewindVersion: string;
  verdicts: SnapshotVerdict[];
}

/** The state folder for bundles whose own folder is read-only (XDG_STATE_HOME, else ~/.local/state). */
function stateFolder(): string {
  return join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'rewind', 'snapshot-verdicts');
}

function places(bundle: Bundle, manifestSha256: string): string[] {
  return [bundle.path(layout.SNAPSHOT_VERDICTS), join(stateFolder(), `${manifestSha256}.json`)];
}

/** The stored verdicts of this bundle (of this very manifest), if any. */
export async function readVerdicts(bundle: Bundle): Promise<VerdictFile | undefined> {
  const sha = await sha256OfFile(bundle.path(layout.MANIFEST));
  for (const p of places(bundle, sha)) {
    try {
      const v = JSON.parse(await fs.readFile(p, 'utf8')) as VerdictFile;
      if (v.schema === 'rewind.snapshot-verdicts/1' && v.manifestSha256 === sha && Array.isArray(v.verdicts)) return v;
    } catch {
      // absent, unreadable or damaged: work them out again
    }
  }
  return undefined;
}

/** Stores verdicts beside the manifest, or in the state folder when that fails; returns where (undefined: nowhere). */
export async function writeVerdicts(bundle: Bundle, mode: VerdictFile['mode'], verdicts: SnapshotVerdict[]): Promise<string | undefined> {
  const sha = await sha256OfFile(bundle.path(layout.MANIFEST));
  const file: VerdictFile = { schema: 'rewind.snapshot-verdicts/1', manifestSha256: sha, mode, createdAt: new Date().toISOString(), rewindVersion: REWIND_VERSION, verdicts };
  const text = JSON.stringify(file, null, 2) + '\n';
  for (const p of places(bundle, sha)) {
    try {
      await fs.mkdir(join(p, '..'), { recursive: true });
      // Written aside and renamed, so that a reader never sees half a file.
      await fs.writeFile(`${p}.tmp-${process.pid}`, text, { mode: 0o444 });
      await fs.rename(`${p}.tmp-${process.pid}`, p);
      return p;
    } catch {
      await fs.rm(`${p}.tmp-${process.pid}`, { force: true }).catch(() => undefined);
    }
  }
  return undefined;
}
