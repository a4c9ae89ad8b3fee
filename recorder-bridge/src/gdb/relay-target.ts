/**
 * What the gdb relay drives: a time-travelling target with one current time point. Two
 * implementations: EngineRelayTarget (an in-process ReplayEngine, for `rewind replay --gdb`) and
 * BridgeRelayTarget (a bridge session over a BridgeClient, for the debug adapter: bridge-target.ts).
 */
import type { SnapshotSource } from '@rewind/protocol';
import { CancelledError } from '../errors';
import type { ReplayEngine } from '../replay/engine';
import type { Breakpoint, StopCause, Watchpoint } from '../replay/worker';
import type { TimePoint } from '../timepoint';

/** The breakpoints and watchpoints gdb has inserted, for one execution packet. */
export interface RelayPoints {
  breakpoints: Breakpoint[];
  watchpoints: Watchpoint[];
}

/** Why an execution stopped; 'start': a reverse continue found nothing and went to the start. */
export type RelayStop = StopCause | { kind: 'start'; icount: TimePoint };

export interface RelaySnapshot {
  name: string;
  icount: TimePoint;
  source?: SnapshotSource;
}

export interface RelayTarget {
  /** The current time point and the last one of the recording. */
  position(): Promise<{ icount: TimePoint; end: TimePoint }>;
  /** Runs forward to the next trigger or the end. An aborted signal stops it where it is (a 'time' stop). */
  continueForward(points: RelayPoints, signal?: AbortSignal): Promise<RelayStop>;
  /** One instruction forward; returns the new time point (unchanged at the end). */
  stepi(): Promise<TimePoint>;
  /** One instruction back; returns the new time point (0 stays 0). */
  reverseStepi(): Promise<TimePoint>;
  /**
   * Back to the last trigger before now, or the start. An aborted signal cancels it: it rejects
   * with a CancelledError and the position stays where it was.
   */
  reverseContinue(points: RelayPoints, signal?: AbortSignal): Promise<RelayStop>;
  /** Goes to a time point (clamped); returns where it went. */
  seek(icount: TimePoint): Promise<TimePoint>;
  /** A read-only packet, answered at the current time; `thread`: the thread gdb selected with Hg. */
  gdbPacket(packet: string, thread?: string): Promise<string>;
  /** For `monitor info`. */
  snapshots(): Promise<RelaySnapshot[]>;
  /** Stops a running forward continue where it is. */
  interrupt(): void;
}

/** The relay target of an in-process engine (`rewind replay --gdb`). */
export class EngineRelayTarget implements RelayTarget {
  constructor(readonly engine: ReplayEngine) {}

  async position(): Promise<{ icount: TimePoint; end: TimePoint }> {
    return { icount: this.engine.icount, end: this.engine.end };
  }

  continueForward(points: RelayPoints, signal?: AbortSignal): Promise<RelayStop> {
    return this.engine.continueForward({ ...points, ...(signal ? { signal } : {}) });
  }

  stepi(): Promise<TimePoint> {
    return this.engine.stepi();
  }

  reverseStepi(): Promise<TimePoint> {
    return this.engine.reverseStepi();
  }

  async reverseContinue(points: RelayPoints, signal?: AbortSignal): Promise<RelayStop> {
    if (signal?.aborted) throw new CancelledError('reverse continue');
    return this.engine.reverseContinue({ ...points, ...(signal ? { signal } : {}) });
  }

  seek(icount: TimePoint): Promise<TimePoint> {
    return this.engine.seek(icount);
  }

  gdbPacket(packet: string, thread?: string): Promise<string> {
    return this.engine.gdbPacket(packet, thread);
  }

  async snapshots(): Promise<RelaySnapshot[]> {
    return this.engine.listSnapshots();
  }

  interrupt(): void {
    this.engine.interrupt();
  }
}
