import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SnapshotEntry } from '../bundle/manifest';

const execFileAsync = promisify(execFile);

export interface QemuImgSnapshot {
  name: string;
  icount?: number;
  'vm-clock-sec': number;
  'vm-clock-nsec': number;
  'vm-state-size': number;
}

/**
 * The snapshots of a store, one per name. With a disk, QEMU records each snapshot twice in the same
 * file (once for the store's drive, with the machine state, and once through the disk's blkreplay
 * filter, without): the entry with the machine state is the one listed.
 */
export async function listSnapshots(qemuImg: string, file: string): Promise<SnapshotEntry[]> {
  const { stdout } = await execFileAsync(qemuImg, ['info', '-U', '--output=json', file], { maxBuffer: 16 << 20 });
  const info = JSON.parse(stdout) as { snapshots?: QemuImgSnapshot[] };
  return uniqueSnapshots(info.snapshots ?? []);
}

export function uniqueSnapshots(list: QemuImgSnapshot[]): SnapshotEntry[] {
  const byName = new Map<string, SnapshotEntry>();
  for (const s of list) {
    const e = { name: s.name, icount: s.icount ?? 0, vmClockNs: s['vm-clock-sec'] * 1e9 + s['vm-clock-nsec'], vmStateBytes: s['vm-state-size'] };
    const seen = byName.get(e.name);
    if (!seen || e.vmStateBytes > seen.vmStateBytes) byName.set(e.name, e);
  }
  return [...byName.values()].sort((a, b) => a.icount - b.icount);
}

/** Deletes every entry of snapshot `name` from `file` (a disk recording lists each snapshot twice). */
export async function deleteSnapshot(qemuImg: string, file: string, name: string): Promise<void> {
  for (let i = 0; i < 4 && (await listSnapshots(qemuImg, file)).some((s) => s.name === name); i++) {
    await execFileAsync(qemuImg, ['snapshot', '-d', name, file]);
  }
}
