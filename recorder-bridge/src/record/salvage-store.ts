import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UserError } from '../errors';
import type { TimePoint } from '../timepoint';
import { INITIAL_SNAPSHOT } from '../bundle/layout';
import type { QemuImgSnapshot } from './snapshot-list';

/*
 * The snapshot store of an interrupted recording, made fit for a bundle (on a copy: the .partial
 * folder is never changed). A QEMU killed while it saved a snapshot leaves clusters it had
 * allocated but not yet referenced ("leaks": harmless, repaired), and no table entry for the
 * unfinished snapshot (qcow2 writes the snapshot table last). Snapshots taken after the point where
 * the salvaged log ends cannot be replayed and are deleted.
 */

const execFileAsync = promisify(execFile);

interface QemuImgCheck {
  'check-errors'?: number;
  corruptions?: number;
  leaks?: number;
  'leaks-fixed'?: number;
  'corruptions-fixed'?: number;
}

/** Runs `qemu-img check` (with `-r leaks`: repairs leaked clusters); returns how many leaks it repaired. */
export async function repairStore(qemuImg: string, file: string, shown: string): Promise<number> {
  const r = await qemuImgCheck(qemuImg, file, ['-r', 'leaks']);
  const leaks = r['leaks-fixed'] ?? 0;
  const after = await qemuImgCheck(qemuImg, file, []);
  if ((after['check-errors'] ?? 0) > 0 || (after.corruptions ?? 0) > 0 || (after.leaks ?? 0) > 0) {
    throw new UserError(
      `the snapshot store ${shown} is damaged beyond leaked clusters (qemu-img check: ${after.corruptions ?? 0} corruptions, ${after['check-errors'] ?? 0} errors, ${after.leaks ?? 0} leaks); ` +
        'the recording cannot be salvaged: record it again',
      'salvage-store-damaged',
    );
  }
  return leaks;
}

async function qemuImgCheck(qemuImg: string, file: string, extra: string[]): Promise<QemuImgCheck> {
  // Exit codes 2 and 3 (corruptions, leaks) still print the JSON report.
  const { stdout, failed } = await execFileAsync(qemuImg, ['check', ...extra, '--output=json', file], { maxBuffer: 16 << 20 }).then(
    (r) => ({ stdout: r.stdout, failed: undefined as string | undefined }),
    (e: { stdout?: string; stderr?: string; message?: string }) => ({ stdout: e.stdout ?? '', failed: (e.stderr || e.message || '').trim().split('\n').pop() }),
  );
  try {
    return JSON.parse(stdout) as QemuImgCheck;
  } catch {
    throw new UserError(`qemu-img cannot check the snapshot store (${failed ?? 'no report'}); the recording cannot be salvaged`, 'salvage-store-damaged');
  }
}

/** Every snapshot table entry, as qemu-img lists them (a name can appear twice with a disk). */
export async function listStoreEntries(qemuImg: string, file: string): Promise<QemuImgSnapshot[]> {
  const { stdout } = await execFileAsync(qemuImg, ['info', '--output=json', file], { maxBuffer: 16 << 20 });
  return (JSON.parse(stdout) as { snapshots?: QemuImgSnapshot[] }).snapshots ?? [];
}

/**
 * Deletes every snapshot a replay of the salvaged log cannot use: those at or after its end (a
 * snapshot records the log position it was taken at, which may lie in the part that was lost), and
 * any without machine state or icount. Returns the names deleted. `init` must survive.
 */
export async function dropSnapshotsFrom(qemuImg: string, file: string, end: TimePoint): Promise<string[]> {
  const entries = await listStoreEntries(qemuImg, file);
  const usable = new Set<string>();
  for (const e of entries) {
    const icount = e.icount;
    const atStart = e.name === INITIAL_SNAPSHOT && icount === 0;
    if (typeof icount === 'number' && e['vm-state-size'] > 0 && (icount < end || atStart)) usable.add(e.name);
  }
  const names = [...new Set(entries.map((e) => e.name))].filter((n) => !usable.has(n));
  for (const name of names) {
    // With a disk a name has two entries (bundle/drive.ts); -d deletes one at a time.
    for (let i = 0; i < entries.filter((e) => e.name === name).length; i++) {
      await execFileAsync(qemuImg, ['snapshot', '-d', name, file]);
    }
  }
  const left = await listStoreEntries(qemuImg, file);
  if (left.some((e) => names.includes(e.name))) throw new Error(`qemu-img did not delete the snapshots ${names.join(', ')} of ${file}`);
  if (!left.some((e) => e.name === INITIAL_SNAPSHOT && e['vm-state-size'] > 0)) {
    throw new UserError(`the recording has no usable initial snapshot (${INITIAL_SNAPSHOT}): it was interrupted before QEMU had saved it; nothing can be replayed, record it again`, 'salvage-no-init');
  }
  return names;
}
