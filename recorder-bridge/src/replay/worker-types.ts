/** The vocabulary of replay workers: how a run stops, what it traps on, the snapshots a worker starts from. */
import type { SnapshotSource } from '@rewind/protocol';
import type { SnapshotEntry } from '../bundle/manifest';
import type { TimePoint } from '../timepoint';
import type { SampledTask, TaskProbe } from './task-sample';

/** Why a worker stopped after running. */
export type StopCause =
  | { kind: 'time'; icount: TimePoint } // reached the requested time point
  | { kind: 'breakpoint'; icount: TimePoint; address: bigint; task?: SampledTask } // task: with a sample's task, the one that runs there
  | { kind: 'watchpoint'; icount: TimePoint; address: bigint; dataAddress: bigint; delivery?: true; value?: Buffer; task?: SampledTask } // delivery: see Hit.delivery
  | { kind: 'end'; icount: TimePoint }; // the recording ended first

/** A stop that a breakpoint or watchpoint caused. */
export type Trigger = Exclude<StopCause, { kind: 'time' | 'end' }>;

export interface Breakpoint {
  /** Code address (a software breakpoint at it). */
  address: bigint;
  /**
   * Counts only when the stack pointer (rsp; esp on i386) is within [min, max] at the hit. A hit
   * the filter rejects is stepped over and the run goes on, unreported: e.g. "the entry of this
   * function in this frame" (rsp == CFA-8), which makes reverse-next and reverse-finish one scan.
   */
  stack?: { min?: bigint; max?: bigint };
}

export interface RunOptions {
  until?: TimePoint;
  breakpoints?: Breakpoint[];
  watchpoints?: Watchpoint[];
  signal?: AbortSignal;
  /** Memory read at every watchpoint trigger (the value just after the access): value history. */
  sample?: MemoryRange;
  /**
   * The worker got here by going to this time point, not by stopping at a breakpoint here: a
   * breakpoint at the current pc is a hit (as a scan counts it), not one to step off.
   */
  arrived?: boolean;
}

export interface MemoryRange {
  address: bigint;
  length: number;
  /** Also which Linux task and CPU made each write (replay/task-sample.ts). */
  task?: TaskProbe;
}

export interface Watchpoint {
  address: bigint;
  size: number;
  access: 'write' | 'read' | 'readWrite';
  /** A write watchpoint that triggers only where a write changes the bytes, as gdb's `watch` (watch-changes.ts). */
  changes?: boolean;
}

/** A snapshot a worker can start from, and the qcow2 image that holds it. */
export interface LadderPoint extends SnapshotEntry {
  /** Image file holding this snapshot; workers start from a private copy of it. */
  image: string;
  /** 'record': taken while recording (in the bundle); 'replay': added by the engine; 'index': saved and verified by the index pass (in the index). */
  source: SnapshotSource;
  /** Created on request (engine.createSnapshot): the ladder's bound never drops it. */
  pinned?: boolean;
}

export interface StartOptions {
  hangMs?: number;
  /** How long the process may stay silent at no CPU before it is taken for deadlocked (default hangMs; replay/hang-watch.ts). */
  idleSilenceMs?: number;
  /** Where the process first stops (default: one instruction past the snapshot). */
  startAt?: TimePoint;
  /**
   * Start the way QEMU's own replay does (`rrsnapshot=NAME`, paused right after the load) instead
   * of through replay-seek: what snapshot verification checks, so that kept snapshots resume
   * however they are started. The process then stands at the snapshot's icount.
   */
  loadAtStart?: boolean;
  /**
   * Replay on this image file itself instead of a private copy: the process writes into it (QEMU
   * does, even to load) and snapshots it saves stay in it. Only for a store nothing else uses (the
   * finalizer repairing a new recording's snapshots); the file is kept when the process goes.
   */
  image?: string;
  /** Told of every run of the process (observers: benchmarks, diagnostics). */
  onRun?: (run: WorkerRun) => void;
  /** A TCG plugin to load into the process (`-plugin file=PATH,ARG...`; the index pass's). */
  plugin?: PluginSpec;
}

/** A QEMU TCG plugin: its shared object and its `name=value` arguments. */
export interface PluginSpec {
  path: string;
  args: string[];
}

/** One forward run of a replay process: where from and to, with traps or not, collecting every trigger (a scan) or not. */
export interface WorkerRun {
  pid: number | undefined;
  from: TimePoint;
  to: TimePoint;
  traps: boolean;
  scan: boolean;
  /** process.hrtime.bigint() at the start and the end. */
  startedNs: bigint;
  endedNs: bigint;
}
