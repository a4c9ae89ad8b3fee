/**
 * Re-verification of suspect snapshots: a replay process was lost while starting from one, which
 * says nothing about the snapshot when the process was killed or stopped. One verification replay
 * at a time, in the background, judges it (replay/snapshot-verify.ts); only a failed one makes the
 * snapshot unusable for good.
 */
import type { Bundle } from '../bundle/reader';
import type { TimePoint } from '../timepoint';
import type { SnapshotLadder } from './ladder';
import { checkSnapshot } from './snapshot-verify';
import type { LadderPoint } from './worker-types';
import type { ReplayWorkspace } from './workspace';

export interface RecheckVerdict {
  name: string;
  icount: TimePoint;
  ok: boolean;
  why?: string;
}

export class SnapshotRechecks {
  private chain: Promise<void> = Promise.resolve();
  /** Aborted by close(): stops the verification under way. */
  private readonly closing = new AbortController();
  /** The verdicts, as they came out (diagnostics, tests). */
  readonly verdicts: RecheckVerdict[] = [];

  constructor(
    private readonly bundle: Bundle,
    private readonly ws: ReplayWorkspace,
    private readonly ladder: SnapshotLadder,
    private readonly end: TimePoint,
    private readonly hangMs: number | undefined,
  ) {}

  schedule(p: LadderPoint): void {
    this.chain = this.chain.then(() => this.recheck(p)).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.chain;
  }

  private async recheck(p: LadderPoint): Promise<void> {
    if (this.closing.signal.aborted) return;
    const { ladder } = this;
    const prev = ladder.nearest(ladder.startOf(p) - 1);
    const next = ladder.nextUsableAfter(p);
    const range = { start: ladder.startOf(p), end: Math.min(next ? ladder.startOf(next) : this.end, this.end) };
    const verdict = await checkSnapshot(this.bundle, this.ws, { previous: prev, startPrevious: ladder.startOf(prev), snapshot: p, ...range }, {
      replayEnd: this.end,
      ...(this.hangMs !== undefined ? { hangMs: this.hangMs } : {}),
      signal: this.closing.signal,
    });
    if (this.closing.signal.aborted) return;
    ladder.judge(p, verdict.ok);
    this.verdicts.push({ name: p.name, icount: p.icount, ok: verdict.ok, ...(verdict.why ? { why: verdict.why } : {}) });
  }
}
