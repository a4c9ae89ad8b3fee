/**
 * manifest.json of a recording bundle (docs/bundle-format.md): the recorder writes it, the bundle
 * reader validates it (recorder-bridge/src/bundle/manifest.ts), `rewind info --json`, the bridge and
 * the extension read parts of it.
 */
import type { TimePoint } from './recording';

/** manifest.json's `format`. */
export const BUNDLE_FORMAT = 'rewind-recording';
/**
 * The newest bundle format version. 2 added a disk (`guest.disk`); 3 says per snapshot whether it
 * was verified to resume (`snapshots.list[].verified`, `snapshots.verification`). Rewind writes
 * version 3 for every new recording: an older Rewind would trust its snapshots without knowing
 * which ones were checked. Versions 1 and 2 are still read; their snapshots are verified on first
 * open into an additive file (SNAPSHOT_VERDICTS).
 */
export const BUNDLE_FORMAT_VERSION = 3;
/** The oldest bundle format version this Rewind reads. */
export const BUNDLE_FORMAT_VERSION_MIN = 1;

/** What kind of kernel image a recording booted (recorder-bridge/src/qemu/kernel-probe.ts finds it). */
export type KernelFormat = 'multiboot-elf64' | 'multiboot-elf32' | 'linux-bzimage';

/** Disk devices a recording can use (recorder-bridge/src/bundle/drive.ts: how QEMU attaches each). */
export type DiskDevice = 'virtio-blk-pci';

/** Why a recording ended. */
export type StopReason =
  | 'guest-poweroff' // the guest powered the machine off (or requested a reset, with -no-reboot)
  | 'timeout' // --timeout elapsed
  | 'stop-on' // the console printed the --stop-on text
  | 'cancelled' // Ctrl-C or a cancellation request
  | 'input-failed' // an input script step could not complete (an expect timed out)
  | 'log-limit' // the replay log grew past --max-log (a guest spinning, e.g. after a panic)
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
  /**
   * Format 3: true when a replay started from it as QEMU's own replay starts one (`rrsnapshot`,
   * paused after the load) reached the next snapshot with the registers of the replay from the
   * snapshot before it (docs/bundle-format.md, "Snapshot verification"); false when not checked.
   */
  verified?: boolean;
}

/** What the verification of a new recording's snapshots did (format 3). */
export interface SnapshotVerificationSummary {
  /** How the checking replays started: as QEMU's own replay does (rrsnapshot=NAME, paused, continued). */
  method: 'qemu-rrsnapshot';
  /** Wall time the checks and repairs took. */
  seconds: number;
  /** Snapshots QEMU saved while recording that did not resume, replaced by one saved during a replay just after them (same name). */
  replaced: Array<{ name: string; icount: TimePoint; newIcount: TimePoint; why: string }>;
  /** Snapshots left out: they did not resume and could not be replaced, or lay past the replay's end. */
  dropped: Array<{ name: string; icount: TimePoint; why: string }>;
  /**
   * Snapshots added during the verification replay (named v1, v2, ...) where those taken while
   * recording were further apart than twice the interval: the recorder polls the icount every
   * 25 ms, in which a fast guest runs tens of millions of instructions.
   */
  added: Array<{ name: string; icount: TimePoint }>;
  /** False when the verification was cancelled: the snapshots with `verified: false` are checked on first open. */
  complete: boolean;
}

/** The disk of a recording (format version 2). Its blocks live in the snapshot store. */
export interface DiskEntry {
  /** The bundle file that holds the disk: the snapshot store (layout.SNAPSHOTS). */
  file: string;
  /** The user's image, which Rewind only read. */
  originalPath: string;
  /** Its format as qemu-img read it: 'raw' or 'qcow2'. */
  format: string;
  /** sha256 and size of the user's image file when it was recorded. */
  sha256: string;
  size: number;
  /** Size of the disk as the guest sees it, in bytes. */
  virtualSize: number;
  /** The QEMU device the guest saw it through (bundle/drive.ts). */
  device: DiskDevice;
}

/** manifest.json of a bundle, format version 1 to 3 (2: with a disk; 3: verified snapshots). Documented in docs/bundle-format.md. */
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
    /** A disk recorded through blkreplay (format version 2). */
    disk?: DiskEntry;
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
  snapshots: { file: string; interval: TimePoint; list: SnapshotEntry[]; verification?: SnapshotVerificationSummary };
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
