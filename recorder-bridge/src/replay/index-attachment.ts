/**
 * The engine's side of the recording's index (docs/index-design.md): loads the stored index when
 * the engine opens, or builds it in the background, and hands it to the slice search once it is
 * whole and checked. A damaged index is never used; queries go without one meanwhile, as before.
 */
import type { Bundle } from '../bundle/reader';
import { UserError } from '../errors';
import { buildIndex } from '../index/index-pass';
import { rememberReplayEnd } from '../index/index-store';
import { loadParsedIndex, parsedIndex, type LoadedIndex } from '../index/loaded-indexes';
import type { RecordingIndex } from '../index/recording-index';
import type { ReplayLogIndex } from '../replay-log';
import type { TimePoint } from '../timepoint';
import type { LadderPoint } from './worker-types';

/** Where the engine's index stands. */
export type IndexStatus =
  | { state: 'off' | 'absent' | 'building' }
  | { state: 'ready'; buckets: number; where: string }
  | { state: 'damaged' | 'failed'; message: string };

/** A background build's replay processes may wait behind the user's: not hung before this. */
const BUILD_HANG_MS = 10_000;

export class IndexAttachment {
  status: IndexStatus = { state: 'absent' };
  index?: RecordingIndex;
  private readonly stop = new AbortController();
  private job?: Promise<void>;

  constructor(
    private readonly bundle: Bundle,
    /** The engine's parsed log and replay end: the store and the pass need not parse the log again. */
    private readonly log: ReplayLogIndex,
    end: TimePoint,
    /** Gets the index once it is whole and checked, with its extra snapshots as ladder points. */
    private readonly use: (index: RecordingIndex, extraSnapshots: LadderPoint[]) => void,
    private readonly hangMs: number | undefined,
  ) {
    rememberReplayEnd(bundle, end);
  }

  /** 'use': load the stored index, if whole; 'build': also build it in the background when missing or damaged. */
  async open(mode: 'use' | 'build' | 'off', onProgress?: (done: TimePoint, total: TimePoint) => void): Promise<void> {
    if (mode === 'off') {
      this.status = { state: 'off' };
      return;
    }
    try {
      const loaded = await loadParsedIndex(this.bundle);
      if (loaded) return this.attach(loaded);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      this.status = { state: 'damaged', message: e.message };
    }
    if (mode !== 'build') return;
    this.status = { state: 'building' };
    this.job = buildIndex(this.bundle, { log: this.log, signal: this.stop.signal, hangMs: Math.max(this.hangMs ?? 0, BUILD_HANG_MS), ...(onProgress ? { onProgress } : {}) })
      .then((stored) => {
        if (!this.stop.signal.aborted) this.attach(parsedIndex(stored));
      })
      // A build that fails (or an index it made that does not parse) leaves the queries without one.
      .catch((e: unknown) => {
        this.status = this.stop.signal.aborted ? { state: 'absent' } : { state: 'failed', message: (e as Error).message };
      });
  }

  /** Resolves when a background build has ended; at once when none runs. */
  async settled(): Promise<void> {
    await this.job;
  }

  /** Cancels a background build and waits for its processes to go. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.job;
  }

  private attach({ stored, index }: LoadedIndex): void {
    this.index = index;
    const extras = stored.slices.flatMap((s) =>
      (s.extra?.snapshots ?? []).map((x): LadderPoint => ({ name: x.name, icount: x.icount, vmClockNs: 0, vmStateBytes: x.vmStateBytes, image: s.extra!.image, source: 'index' })),
    );
    this.use(this.index, extras);
    this.status = { state: 'ready', buckets: this.index.bucketCount, where: stored.where };
  }
}
