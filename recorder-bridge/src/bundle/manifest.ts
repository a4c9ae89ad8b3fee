import { UserError } from '../errors';
import { isDiskDevice } from './drive';
import { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, BUNDLE_FORMAT_VERSION_MIN } from './layout';
// manifest.json's shape is read by the extension and printed by the CLI: it lives in protocol/manifest.ts.
import type { FileEntry, Manifest } from '@rewind/protocol';

export type { DiskEntry, FileEntry, Manifest, SnapshotEntry, SnapshotVerificationSummary, StopReason } from '@rewind/protocol';

/**
 * Checks a parsed manifest's shape; a bundle whose manifest fails here is damaged or not a bundle.
 * Throws a UserError naming what is wrong.
 */
export function validateManifest(value: unknown, where: string): Manifest {
  const bad = (what: string): never => {
    throw new UserError(`${where}: ${what}; the bundle is damaged or not a Rewind recording (restore it from a copy or record again)`, 'manifest-invalid');
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('not a JSON object');
  const m = value as Record<string, unknown>;
  if (m.format !== BUNDLE_FORMAT) bad(`"format" is ${JSON.stringify(m.format)}, expected "${BUNDLE_FORMAT}"`);
  if (typeof m.formatVersion !== 'number') bad('"formatVersion" is missing');
  const version = m.formatVersion as number;
  if (!Number.isInteger(version) || version < BUNDLE_FORMAT_VERSION_MIN || version > BUNDLE_FORMAT_VERSION) {
    throw new UserError(
      `${where}: bundle format version ${String(m.formatVersion)} is not supported (this Rewind reads versions ${BUNDLE_FORMAT_VERSION_MIN} to ${BUNDLE_FORMAT_VERSION}); ${
        (m.formatVersion as number) > BUNDLE_FORMAT_VERSION ? 'upgrade Rewind' : 'record it again with this Rewind'
      }`,
      'bundle-version',
    );
  }
  const need = (path: string, type: 'string' | 'number' | 'object'): void => {
    let cur: unknown = m;
    for (const key of path.split('.')) {
      cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[key] : undefined;
    }
    if (typeof cur !== type || cur === null) bad(`"${path}" is missing or not a ${type}`);
  };
  need('qemu.binary', 'string');
  need('qemu.machineArgs', 'object');
  need('guest.kernel.file', 'string');
  need('guest.memoryMiB', 'number');
  need('recording.totalIcount', 'number');
  need('recording.replayLog.file', 'string');
  need('recording.replayLog.rawSha256', 'string');
  need('snapshots.list', 'object');
  const guest = m.guest as Record<string, unknown>;
  if (guest.disk !== undefined) {
    if (version < 2) bad('a version 1 bundle has a "guest.disk"');
    need('guest.disk.file', 'string');
    need('guest.disk.virtualSize', 'number');
    const device = (guest.disk as Record<string, unknown> | null)?.device;
    if (!isDiskDevice(device)) {
      throw new UserError(`${where}: the recording's disk was attached as ${JSON.stringify(device)}, a device this Rewind cannot replay; upgrade Rewind`, 'bundle-version');
    }
  }
  if (version >= 3) {
    const snaps = m.snapshots as Record<string, unknown>;
    const list = snaps.list as unknown[];
    if (!Array.isArray(list) || list.some((e) => typeof (e as { verified?: unknown } | null)?.verified !== 'boolean')) bad('a version 3 bundle has a snapshot without "verified"');
    need('snapshots.verification', 'object');
  }
  need('stats.eventCounts', 'object');
  need('files', 'object');
  for (const [name, f] of Object.entries(m.files as Record<string, unknown>)) {
    const e = f as Partial<FileEntry> | null;
    if (!e || typeof e.size !== 'number' || typeof e.sha256 !== 'string') bad(`file entry "${name}" is malformed`);
    if (name.includes('..') || name.startsWith('/')) bad(`file entry "${name}" points outside the bundle`);
  }
  return m as unknown as Manifest;
}
