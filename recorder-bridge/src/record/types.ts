import type { StopReason } from '../bundle/manifest';
import type { KernelInfo } from '../qemu/kernel-probe';
import type { TimePoint } from '../timepoint';
import type { DiskSetup } from './disk';

/** The types shared by the recorder's parts (recorder.ts orchestrates; they only read these). */

export interface RecordOptions {
  kernel: string;
  initrd?: string;
  /** Kernel command line. */
  append?: string;
  /** Add the Linux recording defaults (console=ttyS0 nohz=off nokaslr panic=-1) to a bzImage's command line. Default true. */
  linuxDefaults?: boolean;
  /**
   * Keep the kernel's address randomization: the Linux defaults leave `nokaslr` out. The debugger
   * finds the offset and loads the vmlinux's symbols there (docs/recording.md, "KASLR").
   */
  kaslr?: boolean;
  /** The Linux preset: the kernel must be a bzImage, and the Linux defaults apply (they cannot be turned off). */
  linux?: boolean;
  /** A raw or qcow2 disk image, recorded through blkreplay (only read: it is copied into the recording). */
  disk?: string;
  memoryMiB?: number;
  /** Input script for the serial console (see input-script.ts). */
  input?: string;
  /** Where to write the bundle directory; must not exist yet. */
  out: string;
  /** Stop after this many wall-clock seconds. */
  timeoutSeconds?: number;
  /** Stop when the console prints this text. */
  stopOn?: string;
  /** Take a snapshot every this many instructions (0: only the initial one). */
  snapshotEvery?: TimePoint;
  /** How long an `expect` waits, in wall-clock seconds. */
  expectTimeoutSeconds?: number;
  /** Stop once the replay log has this many bytes (default defaultMaxLogBytes(): 128 MiB, less where Node.js has less memory; 0: no limit). */
  maxLogBytes?: number;
  signal?: AbortSignal;
  /**
   * Cancels the work after the recording stopped: the snapshot verification (the bundle is kept,
   * its unchecked snapshots are checked on first open). `signal` stops the recording itself.
   */
  finishSignal?: AbortSignal;
  onProgress?: (p: RecordProgress) => void;
}

export interface RecordProgress {
  phase: 'starting' | 'recording' | 'stopping' | 'finalizing' | 'verifying';
  /** While verifying: the instructions of the recording (icount: those replayed so far). */
  totalIcount?: TimePoint;
  elapsedMs: number;
  icount: TimePoint;
  logBytes: number;
  snapshots: number;
  consoleTail: string[];
}

export interface RecordResult {
  bundle: string;
  stopReason: StopReason;
  stopDetail?: string;
  warnings: string[];
}

/** The guest as it will be booted: shared by a recording and the benchmark's plain -icount run. */
export interface GuestSetup {
  kernelPath: string;
  kernelInfo: KernelInfo;
  initrdPath?: string;
  append: string;
  appendDefaults: string[];
  memoryMiB: number;
  /** The disk, when there is one. */
  disk?: DiskSetup;
  warnings: string[];
}
