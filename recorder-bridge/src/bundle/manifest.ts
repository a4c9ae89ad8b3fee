import type { TimePoint } from '../timepoint';
import type { KernelFormat } from '../qemu/kernel-probe';
import { UserError } from '../errors';
import { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION } from './layout';

/** Why a recording ended. */
export type StopReason =
  | 'guest-poweroff' // the guest powered the machine off (or requested a reset, with -no-reboot)
  | 'timeout' // --timeout elapsed
  | 'stop-on' // the console printed the --stop-on text
  | 'cancelled' // Ctrl-C or a cancellation request
  | 'input-failed' // an input script step could not complete (an expect timed out)
  | 'qemu-exited'; // QEMU ended on its own without a guest power-off

export interface FileEntry {
  size: number;
  sha256: string;
}

export interface SnapshotEntry {
  name: string;
  icount: TimePoint;
  /** Guest virtual clock at the snapshot, in nanoseconds. */
  vmClockNs: number;
  /** Bytes of saved machine state. */
  vmStateBytes: number;
}

/** manifest.json of a bundle, format version 1. Documented in docs/bundle-format.md. */
export interface Manifest {
  format: typeof BUNDLE_FORMAT;
  formatVersion: number;
  createdAt: string;
  rewind: { version: string };
  qemu: {
    binary: string;
    version: string;
    banner: string;
    /** The exact argv QEMU was recorded with (temporary paths as they were). */
    recordArgv: string[];
    /**
     * The machine part of the command line, with bundle files as `${bundle}/NAME`: replay runs
     * QEMU with these plus its own -icount/rr, drive, serial, QMP and gdb options.
     */
    machineArgs: string[];
    icountShift: string;
  };
  guest: {
    kernel: { file: string; originalPath: string; format: KernelFormat; sha256: string; size: number; buildId?: string; linuxVersion?: string };
    initrd?: { file: string; originalPath: string; sha256: string; size: number };
    /** The kernel command line as passed to QEMU (user's plus Linux defaults). */
    append: string;
    /** The defaults Rewind added to the command line, each documented in docs/recording.md. */
    appendDefaults: string[];
    memoryMiB: number;
  };
  recording: {
    startedAt: string;
    finishedAt: string;
    stopReason: StopReason;
    /** Human-readable detail of the stop (e.g. the matched text, the failing input step). */
    stopDetail?: string;
    wallSeconds: number;
    /** Guest virtual time covered by the recording, when known. */
    guestSeconds?: number;
    totalIcount: TimePoint;
    replayLog: {
      file: string;
      compression: 'gzip';
      rawBytes: number;
      rawSha256: string;
      /** QEMU's replay-log format version (the header dword) and its name, e.g. "qemu-7.2". */
      logFormatVersion: number;
      logFormatName: string;
    };
    inputScript?: string;
    /** Warnings raised while recording (e.g. input delivered without echo). */
    warnings: string[];
  };
  snapshots: { file: string; interval: TimePoint; list: SnapshotEntry[] };
  console: {
    raw: string;
    lines: string;
    lineCount: number;
    /**
     * 'exact': each line's icount is when the guest wrote its newline, from the log's char-write
     * events; 'approximate': the icount QEMU reported when the line reached the host (an upper bound).
     */
    timepoints: 'exact' | 'approximate';
  };
  stats: {
    eventTotal: number;
    eventCounts: Record<string, number>;
    logBytesRaw: number;
    logBytesCompressed: number;
  };
  /** Every file of the bundle except manifest.json. */
  files: Record<string, FileEntry>;
}

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
  if (m.formatVersion !== BUNDLE_FORMAT_VERSION) {
    throw new UserError(
      `${where}: bundle format version ${String(m.formatVersion)} is not supported (this Rewind reads version ${BUNDLE_FORMAT_VERSION}); ${
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
  need('stats.eventCounts', 'object');
  need('files', 'object');
  for (const [name, f] of Object.entries(m.files as Record<string, unknown>)) {
    const e = f as Partial<FileEntry> | null;
    if (!e || typeof e.size !== 'number' || typeof e.sha256 !== 'string') bad(`file entry "${name}" is malformed`);
    if (name.includes('..') || name.startsWith('/')) bad(`file entry "${name}" points outside the bundle`);
  }
  return m as unknown as Manifest;
}
