/**
 * What a replay engine lets an observer see of its work (benchmarks, diagnostics): its public
 * operations, the moves, the replay processes it starts and retires, their runs, the snapshots it
 * saves and the slices its searches scan. Times are process.hrtime.bigint() readings (ns), so an
 * observer can line them up with its own clock.
 */
import type { TimePoint } from '../timepoint';

/** The public ReplayEngine operations an observer hears about. */
export type EngineOperation =
  | 'seek'
  | 'seekEvent'
  | 'reverseStepi'
  | 'stepi'
  | 'continueForward'
  | 'reverseContinue'
  | 'hits'
  | 'writes'
  | 'lastWrite'
  | 'lastHit'
  | 'firstHit'
  | 'registers'
  | 'gdbPacket'
  | 'readMemory';

/** When something started and ended (process.hrtime.bigint()). */
export interface Span {
  startedNs: bigint;
  endedNs: bigint;
}

/** Why a replay process went. */
export type RetireReason = 'evicted' | 'used' | 'lost' | 'unresponsive' | 'suspect-snapshot';

export type EngineEvent =
  /** A public operation, outermost only (a seek inside a reverse continue is not one), ended or failed. */
  | ({ type: 'operation'; method: EngineOperation; args: unknown[] } & Span)
  /** The current time moved (by any operation): from where, to where it landed. */
  | ({ type: 'seek'; from: TimePoint; to: TimePoint } & Span)
  /** A replay process started from a snapshot (restored it) and stands at `icount`; `blank`: one launched ahead (blank-processes.ts) was placed. */
  | ({ type: 'worker-started'; pid: number | undefined; snapshot: string; snapshotIcount: TimePoint; icount: TimePoint; blank: boolean } & Span)
  /** A replay process could not start from a snapshot. */
  | ({ type: 'worker-start-failed'; snapshot: string; snapshotIcount: TimePoint; why: string } & Span)
  | { type: 'worker-retired'; pid: number | undefined; icount: TimePoint; why: RetireReason }
  /** A replay process ran forward: `traps` with breakpoints or watchpoints; `scan` collected every trigger on the way. */
  | ({ type: 'run'; pid: number | undefined; from: TimePoint; to: TimePoint; traps: boolean; scan: boolean } & Span)
  /** A snapshot saved into the ladder (savevm in a replay process). */
  | ({ type: 'snapshot-saved'; name: string; icount: TimePoint } & Span)
  /** One slice of a query or backward search scanned, with the hits it kept; `probe`: by a probe replay (probe-scan.ts), not with the gdbstub. */
  | ({ type: 'slice-scanned'; from: TimePoint; to: TimePoint; hits: number; probe: boolean } & Span);

export type EngineObserver = (event: EngineEvent) => void;

export const nowNs = (): bigint => process.hrtime.bigint();

/** The observers of one engine. An observer that throws is dropped: watching never breaks replay. */
export class EngineObservers {
  private readonly list = new Set<EngineObserver>();

  add(observer: EngineObserver): () => void {
    this.list.add(observer);
    return () => this.list.delete(observer);
  }

  emit(event: EngineEvent): void {
    for (const o of this.list) {
      try {
        o(event);
      } catch {
        this.list.delete(o);
      }
    }
  }

  /** Runs `op` and reports its span (whether it ends or fails) with `describe`. */
  async timed<T>(op: () => Promise<T>, describe: (span: Span) => EngineEvent | undefined): Promise<T> {
    const startedNs = nowNs();
    try {
      return await op();
    } finally {
      const e = this.list.size > 0 ? describe({ startedNs, endedNs: nowNs() }) : undefined;
      if (e) this.emit(e);
    }
  }
}
