/**
 * bench/dap's view of the replay engine, through ReplayEngine.observe() (no patching): the public
 * engine calls a DAP request ends in, and what the replay processes did meanwhile. The bridge this
 * process hosts hands each session's engine to attach() (EngineOptions.onOpen).
 */
import type { EngineEvent, EngineOperation, ReplayEngine, Span } from '../recorder-bridge/src/replay/engine';

export type CallKind = 'move' | 'query' | 'read';

/** What each public engine operation does. */
const CALL_KINDS: Record<EngineOperation, CallKind> = {
  seek: 'move',
  seekEvent: 'move',
  reverseStepi: 'move',
  stepi: 'move',
  continueForward: 'move',
  reverseContinue: 'move',
  hits: 'query',
  writes: 'query',
  lastWrite: 'query',
  lastHit: 'query',
  firstHit: 'query',
  registers: 'read',
  gdbPacket: 'read',
  readMemory: 'read',
};

export interface EngineCall {
  method: EngineOperation;
  kind: CallKind;
  args: unknown[];
  seconds: number;
  /** When it started and ended (process.hrtime.bigint()). */
  t0: bigint;
  t1: bigint;
}

/** "reverseContinue 0.41 s, seek ×2 0.12 s": the engine's calls inside a request, their times by `format` (seconds). */
export function describeCalls(calls: EngineCall[], format: (seconds: number) => string): string {
  const by = new Map<string, { n: number; s: number }>();
  for (const c of calls) {
    const x = by.get(c.method) ?? { n: 0, s: 0 };
    x.n++;
    x.s += c.seconds;
    by.set(c.method, x);
  }
  return [...by].map(([m, { n, s }]) => `${m}${n > 1 ? ` ×${n}` : ''} ${format(s)}`).join(', ') || 'none';
}

/** What the replay processes did while a capture was open (foreground and background work alike). */
export interface Internals {
  /** Replay processes started (QEMU start + snapshot load), and the seconds that took (summed). */
  starts: number;
  startSeconds: number;
  /** Runs without breakpoints or watchpoints: count, seconds, instructions replayed. */
  runs: number;
  runSeconds: number;
  instructions: number;
  /** Runs with breakpoints or watchpoints (continues and scans). */
  trapRuns: number;
  trapSeconds: number;
  trapInstructions: number;
  /** Ladder snapshots saved. */
  snapshots: number;
  snapshotSeconds: number;
}

export const noInternals = (): Internals => ({ starts: 0, startSeconds: 0, runs: 0, runSeconds: 0, instructions: 0, trapRuns: 0, trapSeconds: 0, trapInstructions: 0, snapshots: 0, snapshotSeconds: 0 });

const seconds = (s: Span) => Number(s.endedNs - s.startedNs) / 1e9;

/**
 * Records, while a capture is open, the outermost public calls of the engines it watches (which,
 * with what arguments (cancellation signals and progress callbacks left out), when, how long) and
 * tallies their replay processes' work. The bridge runs one operation of a session at a time, so
 * calls never overlap.
 */
export class EngineProbe {
  private calls?: EngineCall[];
  private since = 0n;
  internals?: Internals;
  lastInternals?: Internals;
  /** The engines watched (the bridge sessions' ones). */
  readonly seen = new Set<ReplayEngine>();

  attach(engine: ReplayEngine): void {
    this.seen.add(engine);
    engine.observe((e) => this.record(e));
  }

  begin(): void {
    this.calls = [];
    this.since = process.hrtime.bigint();
    this.internals = noInternals();
  }

  end(): EngineCall[] {
    const c = this.calls ?? [];
    this.calls = undefined;
    this.lastInternals = this.internals;
    this.internals = undefined;
    return c;
  }

  private record(e: EngineEvent): void {
    const x = this.internals;
    if (!x) return;
    switch (e.type) {
      case 'operation':
        // Calls that started while the capture was open.
        if (e.startedNs >= this.since) this.calls?.push({ method: e.method, kind: CALL_KINDS[e.method], args: e.args.map(withoutCallbacks), seconds: seconds(e), t0: e.startedNs, t1: e.endedNs });
        break;
      case 'worker-started':
      case 'worker-start-failed':
        x.starts++;
        x.startSeconds += seconds(e);
        break;
      case 'run':
        if (e.traps) {
          x.trapRuns++;
          x.trapSeconds += seconds(e);
          x.trapInstructions += Math.max(0, e.to - e.from);
        } else {
          x.runs++;
          x.runSeconds += seconds(e);
          x.instructions += Math.max(0, e.to - e.from);
        }
        break;
      case 'snapshot-saved':
        x.snapshots++;
        x.snapshotSeconds += seconds(e);
        break;
      default:
        break;
    }
  }
}

function withoutCallbacks(a: unknown): unknown {
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return a;
  const o = { ...(a as Record<string, unknown>) };
  delete o.signal;
  delete o.onProgress;
  return o;
}
