/**
 * Message types shared by the bridge, the debug adapter, the extension and the webview: the one
 * module where the shapes of Rewind's JSON live. `rewind info --json` and `rewind events --json`
 * print these shapes; docs/json-output.md documents them and they only grow (new optional fields).
 */
import type { Manifest, SnapshotEntry, StopReason } from './bundle/manifest';
import type { ReplayEvent } from './replay-log';
import type { TimePoint } from './timepoint';

export type { ReplayEvent } from './replay-log';
export type { EventKind } from './replay-log';
export type { Manifest, SnapshotEntry, StopReason } from './bundle/manifest';
export type { TimePoint } from './timepoint';

/** `rewind info --json`. */
export interface InfoJson {
  schema: 'rewind.info/1';
  bundle: string;
  formatVersion: number;
  kernel: { originalPath: string; format: string; sha256: string; buildId?: string; linuxVersion?: string };
  initrd?: { originalPath: string; sha256: string };
  append: string;
  memoryMiB: number;
  qemu: { binary: string; version: string };
  recordedAt: string;
  stopReason: StopReason;
  stopDetail?: string;
  wallSeconds: number;
  guestSeconds?: number;
  totalIcount: TimePoint;
  log: { formatName: string; formatVersion: number; rawBytes: number; compressedBytes: number };
  events: { total: number; byKind: Record<string, number> };
  snapshots: SnapshotEntry[];
  console: { lines: number };
  warnings: string[];
}

/** `rewind events --json`. */
export interface EventsJson {
  schema: 'rewind.events/1';
  bundle: string;
  totalIcount: TimePoint;
  /** Counts per kind over the whole recording (not just the selection). */
  counts: Record<string, number>;
  filter: { kinds?: string[]; from?: TimePoint; to?: TimePoint };
  events: ReplayEvent[];
}

export function infoJson(bundleDir: string, m: Manifest): InfoJson {
  return {
    schema: 'rewind.info/1',
    bundle: bundleDir,
    formatVersion: m.formatVersion,
    kernel: {
      originalPath: m.guest.kernel.originalPath,
      format: m.guest.kernel.format,
      sha256: m.guest.kernel.sha256,
      ...(m.guest.kernel.buildId ? { buildId: m.guest.kernel.buildId } : {}),
      ...(m.guest.kernel.linuxVersion ? { linuxVersion: m.guest.kernel.linuxVersion } : {}),
    },
    ...(m.guest.initrd ? { initrd: { originalPath: m.guest.initrd.originalPath, sha256: m.guest.initrd.sha256 } } : {}),
    append: m.guest.append,
    memoryMiB: m.guest.memoryMiB,
    qemu: { binary: m.qemu.binary, version: m.qemu.version },
    recordedAt: m.recording.startedAt,
    stopReason: m.recording.stopReason,
    ...(m.recording.stopDetail ? { stopDetail: m.recording.stopDetail } : {}),
    wallSeconds: m.recording.wallSeconds,
    ...(m.recording.guestSeconds !== undefined ? { guestSeconds: m.recording.guestSeconds } : {}),
    totalIcount: m.recording.totalIcount,
    log: {
      formatName: m.recording.replayLog.logFormatName,
      formatVersion: m.recording.replayLog.logFormatVersion,
      rawBytes: m.stats.logBytesRaw,
      compressedBytes: m.stats.logBytesCompressed,
    },
    events: { total: m.stats.eventTotal, byKind: m.stats.eventCounts },
    snapshots: m.snapshots.list,
    console: { lines: m.console.lineCount },
    warnings: m.recording.warnings,
  };
}
