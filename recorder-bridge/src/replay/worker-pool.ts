/**
 * The replay engine's worker pool: the only owner of its replay processes. It starts them from the
 * ladder's snapshots (falling back to an earlier snapshot when one cannot be started from), hands
 * out idle ones at or before a time point (claimed by an operation until it releases them), keeps
 * the current one, evicts the least recently used when full, retires used and lost ones in the
 * background, pings idle ones so that a hung process is replaced before it is needed, and runs
 * operations again on fresh processes when one is lost under them.
 */
import type { Bundle } from '../bundle/reader';
import { CancelledError, UserError } from '../errors';
import type { TimePoint } from '../timepoint';
import type { SnapshotLadder } from './ladder';
import { nowNs, type EngineObservers, type RetireReason } from './observer';
import { BlankProcesses } from './blank-processes';
import { armProbe, discardBlank, type BlankProcess } from './replay-process';
import { ReplayWorker, type LadderPoint } from './worker';
import type { ReplayWorkspace } from './workspace';
import type { PluginSpec } from './worker-types';

/**
 * How often an operation is tried on fresh replay processes before its error reaches the user: a
 * process can die (killed, stopped, hung) under any step, and that says nothing about the request.
 */
const ATTEMPTS = 5;
/** How often idle replay processes are asked whether they still answer. */
const HEALTH_MS = 500;

export interface PoolOptions {
  /** Replay processes kept alive at once (the current one included). */
  maxWorkers: number;
  hangMs: number | undefined;
  /** A snapshot became suspect (a process was lost while starting from it): re-verify it. */
  recheck: (p: LadderPoint) => void;
  /** A retired worker's process is gone (its image may be free now). */
  retired: () => void;
  /** Blank processes kept ready (blank-processes.ts). */
  blanks: number;
  /** Probe blanks kept ready on the store once probes are used: a query's probe replays (a process each) run this many at a time. */
  probeBlanks: number;
}

export class WorkerPool {
  /** Insertion order matters: among equally good workers, the oldest is chosen. */
  private readonly workers = new Set<ReplayWorker>();
  private currentWorker?: ReplayWorker;
  private readonly lastUse = new Map<ReplayWorker, number>();
  private useClock = 0;
  /** Workers claimed by an operation between choosing them and running them. */
  private readonly claimed = new Set<ReplayWorker>();
  /** Workers being killed in the background. */
  private readonly dying = new Set<Promise<unknown>>();
  private readonly health: NodeJS.Timeout;
  private readonly blanks: BlankProcesses;
  /** Blank processes with the probe plugin loaded, once a probe replay started (start with a plugin). */
  private probeBlanks?: BlankProcesses;
  private readonly indexImages: () => string[];
  private checking = false;
  private shut = false;
  /** Processes the watchdog killed: when and why (diagnostics, tests). */
  readonly hangsNoticed: Array<{ pid: number | undefined; why: string; at: number }> = [];

  constructor(
    private readonly bundle: Bundle,
    private readonly ws: ReplayWorkspace,
    private readonly end: TimePoint,
    private readonly ladder: SnapshotLadder,
    private readonly opts: PoolOptions,
    private readonly observers: EngineObservers,
  ) {
    // Idle processes are watched too: one stopped or deadlocked while parked is replaced before it is needed.
    this.health = setInterval(() => this.checkIdle(), HEALTH_MS);
    this.health.unref();
    // The index's extra snapshots are where searches far back start (its images' blanks once attached).
    this.indexImages = () => ladder.all().flatMap((p) => (p.source === 'index' ? [p.image] : []));
    this.blanks = new BlankProcesses(bundle, ws, opts.blanks, this.indexImages);
  }

  get closed(): boolean {
    return this.shut;
  }

  /** The worker that holds the engine's current time point. */
  get current(): ReplayWorker | undefined {
    return this.currentWorker;
  }

  makeCurrent(w: ReplayWorker): void {
    this.currentWorker = w;
    this.touch(w);
  }

  /** The current worker died: the engine rebuilds its time point on another. */
  dropCurrent(): void {
    this.currentWorker = undefined;
  }

  /**
   * The cheapest way to reach `t`: an idle live worker at or before it (the current one too, and
   * `reserved`), unless a snapshot between that worker and `t` is closer, in which case a fresh worker starts there.
   */
  async atOrBefore(t: TimePoint, reserved?: ReplayWorker): Promise<ReplayWorker> {
    const snap = this.ladder.nearest(t);
    let best = this.latestIdle((w) => w.icount <= t);
    // A worker the caller claimed for this move (a lander) counts as idle for it.
    if (reserved?.alive && !reserved.isBusy && reserved.icount <= t && (!best || reserved.icount > best.icount)) best = reserved;
    if (best && best.icount >= this.ladder.startOf(snap)) return best;
    return this.start(snap);
  }

  /** Like atOrBefore, but never the current worker, and reserved (claimed) for the caller, who releases it. */
  async claimAtOrBefore(t: TimePoint, snapshot = this.ladder.nearest(t)): Promise<ReplayWorker> {
    const min = this.ladder.startOf(snapshot);
    const w = this.latestIdle((x) => x !== this.currentWorker && x.icount <= t && x.icount >= min) ?? (await this.start(snapshot));
    this.claimed.add(w);
    return w;
  }

  claim(w: ReplayWorker): void {
    this.claimed.add(w);
  }

  release(w: ReplayWorker): void {
    this.claimed.delete(w);
  }

  /** How many idle workers (not the current one) are parked in [from, before): the spares. */
  parkedIn(from: TimePoint, before: TimePoint): number {
    let n = 0;
    for (const w of this.workers) if (w !== this.currentWorker && this.isIdle(w) && w.icount >= from && w.icount < before) n++;
    return n;
  }

  /**
   * A fresh replay process from `snapshot` (or, when it cannot start there, from the nearest usable
   * snapshot before it: the one it could not start from is suspect until re-verified). With a
   * `plugin` (a probe replay's): a probe blank armed with its arguments, else a process launched
   * with it; from then on probe blanks are kept ready too (fillBlanks).
   */
  async start(snapshot: LadderPoint, plugin?: PluginSpec): Promise<ReplayWorker> {
    if (plugin && !this.probeBlanks && this.opts.blanks > 0) this.probeBlanks = new BlankProcesses(this.bundle, this.ws, this.opts.probeBlanks, this.indexImages, plugin.path);
    for (let p = snapshot; ; ) {
      if (this.shut) throw closedError();
      await this.evict();
      const startedNs = nowNs();
      const blank = plugin ? await this.armedProbeBlank(p.image, plugin) : this.blanks.take(p.image);
      try {
        const w = await ReplayWorker.start(
          this.bundle,
          this.ws,
          p,
          this.end,
          {
            ...(this.opts.hangMs !== undefined ? { hangMs: this.opts.hangMs } : {}),
            startAt: this.ladder.startOf(p),
            onRun: (run) => this.observers.emit({ type: 'run', ...run }),
            ...(plugin ? { plugin } : {}),
          },
          blank,
        );
        if (this.shut) {
          await w.kill();
          throw closedError();
        }
        this.workers.add(w);
        this.touch(w);
        this.observers.emit({ type: 'worker-started', pid: w.pid, snapshot: p.name, snapshotIcount: p.icount, icount: w.icount, blank: blank !== undefined, startedNs, endedNs: nowNs() });
        return w;
      } catch (e) {
        if (!isReplayFailure(e) || this.shut) throw e;
        this.observers.emit({ type: 'worker-start-failed', snapshot: p.name, snapshotIcount: p.icount, why: (e as Error).message, startedNs, endedNs: nowNs() });
        this.hangsNoticed.push({ pid: undefined, why: (e as Error).message, at: Date.now() });
        // The initial snapshot is never suspected: the caller's attempts() retry it.
        if (p.icount === 0) throw new ReplayWorkerLost(e as Error, p);
        this.suspect(p);
        p = this.ladder.nearest(this.ladder.startOf(p));
      }
    }
  }

  /** A ready probe blank on a copy of `image` (or the one being launched on it), given `plugin`'s arguments; undefined when there is none. */
  private async armedProbeBlank(image: string, plugin: PluginSpec): Promise<BlankProcess | undefined> {
    const b = await this.probeBlanks?.takeOrAwait(image);
    if (!b) return undefined;
    // Launch the next one now, while this one replays: a query's slices take them one after another.
    void this.probeBlanks!.fill();
    try {
      await armProbe(b, plugin);
      return b;
    } catch (e) {
      await discardBlank(b, true);
      throw e;
    }
  }

  /**
   * Runs an operation on a worker; when the worker's process died or hung, it is killed and a
   * ReplayWorkerLost goes up to attempts(), which runs the operation again.
   */
  async withRecovery<T>(w: ReplayWorker, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (w.alive) throw e;
      this.forget(w);
      this.observers.emit({ type: 'worker-retired', pid: w.pid, icount: w.icount, why: 'lost' });
      await w.kill();
      throw new ReplayWorkerLost(e as Error, w.snapshot);
    }
  }

  /**
   * Runs `op` until it completes without losing a replay process, ATTEMPTS times at most. A process
   * can be lost to anything (killed, stopped, QEMU hanging); each attempt starts from what is left.
   */
  async attempts<T>(what: string, op: () => Promise<T>): Promise<T> {
    let last: ReplayWorkerLost | undefined;
    for (let i = 0; i < ATTEMPTS; i++) {
      if (this.shut) throw closedError();
      try {
        return await op();
      } catch (e) {
        if (!(e instanceof ReplayWorkerLost)) throw e;
        last = e;
      }
    }
    const snap = last!.snapshot;
    throw new UserError(
      `could not ${what}: ${ATTEMPTS} replay processes in a row were lost (the last one started at snapshot ${snap.name}, icount ${snap.icount}: ${last!.cause.message}). ` +
        // Either cause is possible: a snapshot that does not resume, or QEMU failing on the request
        // itself (as its replay once did on a watchpoint inside an interrupt's delivery).
        `Run \`rewind check ${this.bundle.dir}\` to verify the recording's snapshots; if it finds them sound, QEMU failed on this request itself: ` +
        'try it over a shorter range or from another time point',
      'replay-hung',
    );
  }

  /** Drops a worker and kills it in the background (released too, if claimed). */
  discard(w: ReplayWorker, why: RetireReason): void {
    this.claimed.delete(w);
    this.forget(w);
    this.retire(w, why);
  }

  /** Process groups of the live replay processes, blank ones included: for tests and diagnostics. */
  pids(): number[] {
    return [...[...this.workers].filter((w) => w.alive).map((w) => w.pid!).filter((p) => p !== undefined), ...this.blankPids()];
  }

  /** Process groups of the blank processes kept ready, probe blanks included (tests, diagnostics). */
  blankPids(): number[] {
    return [...this.blanks.pids(), ...(this.probeBlanks?.pids() ?? [])];
  }

  /** Launches blank processes until the set number are ready, probe blanks last (background work, after a move). */
  async fillBlanks(): Promise<void> {
    if (this.shut) return;
    await this.blanks.fill();
    if (!this.shut) await this.probeBlanks?.fill();
  }

  /** Stops starting and watching processes and kills every live one. */
  async close(): Promise<void> {
    this.shut = true;
    clearInterval(this.health);
    await Promise.all([this.killAll(), this.blanks.close(), this.probeBlanks?.close()]);
  }

  /** After close(): kills any process started meanwhile and waits for every background kill. */
  async drain(): Promise<void> {
    await this.killAll();
    await Promise.all([...this.dying]);
    this.workers.clear();
    this.currentWorker = undefined;
  }

  private async killAll(): Promise<void> {
    await Promise.all([...this.workers].map((w) => w.kill()));
  }

  private touch(w: ReplayWorker): void {
    this.lastUse.set(w, ++this.useClock);
  }

  private isIdle(w: ReplayWorker): boolean {
    return w.alive && !w.isBusy && !this.claimed.has(w);
  }

  /** The idle worker `accept`ed with the highest icount (the oldest of equals). */
  private latestIdle(accept: (w: ReplayWorker) => boolean): ReplayWorker | undefined {
    let best: ReplayWorker | undefined;
    for (const w of this.workers) if (this.isIdle(w) && accept(w) && (!best || w.icount > best.icount)) best = w;
    return best;
  }

  /** Keeps at most maxWorkers - 1 workers before a new one starts: the least recently used go. */
  private async evict(): Promise<void> {
    for (const w of this.workers) if (!w.alive) this.workers.delete(w);
    while (this.workers.size >= this.opts.maxWorkers) {
      const idle = [...this.workers].filter((w) => w !== this.currentWorker && !w.isBusy && !this.claimed.has(w));
      if (idle.length === 0) return;
      idle.sort((a, b) => (this.lastUse.get(a) ?? 0) - (this.lastUse.get(b) ?? 0));
      const victim = idle[0]!;
      this.workers.delete(victim);
      this.retire(victim, 'evicted');
    }
  }

  /** Pings the idle processes; one that does not answer was killed by ping() and is dropped here. */
  private checkIdle(): void {
    if (this.checking || this.shut) return;
    this.checking = true;
    this.blanks.prune();
    this.probeBlanks?.prune();
    const idle = [...this.workers].filter((w) => this.isIdle(w));
    void Promise.all(
      idle.map(async (w) => {
        if (!(await w.ping()) && this.workers.has(w)) this.discard(w, 'unresponsive');
      }),
    ).finally(() => (this.checking = false));
  }

  /** Drops a worker from the pool's lists (the caller kills or retires it). */
  private forget(w: ReplayWorker): void {
    if (w.hangNoticed) this.hangsNoticed.push({ pid: w.pid, ...w.hangNoticed });
    this.workers.delete(w);
    if (this.currentWorker === w) this.currentWorker = undefined;
  }

  /** Kills a worker in the background; drain() waits for every one of them. */
  private retire(w: ReplayWorker, why: RetireReason): void {
    this.observers.emit({ type: 'worker-retired', pid: w.pid, icount: w.icount, why });
    const p = w.kill().catch(() => undefined);
    this.dying.add(p);
    void p.finally(() => {
      this.dying.delete(p);
      this.opts.retired();
    });
  }

  /** The image files the pool's workers replay on. */
  images(): string[] {
    return [...this.workers].map((w) => w.imagePath);
  }

  /**
   * A replay process could not start from `p`: the ladder avoids it, and it is re-verified in the
   * background. Processes parked right at its start may be as lost: they go too.
   */
  private suspect(p: LadderPoint): void {
    if (!this.ladder.suspect(p)) return;
    for (const x of this.workers) {
      if (x === this.currentWorker || x.isBusy || this.claimed.has(x) || x.snapshot !== p || x.icount !== this.ladder.startOf(p)) continue;
      this.discard(x, 'suspect-snapshot');
    }
    this.opts.recheck(p);
  }
}

function closedError(): UserError {
  return new UserError('the replay engine is closed', 'engine-closed');
}

/** Whether an error is a replay process failing (hung, exited), not a request the user got wrong. */
function isReplayFailure(e: unknown): boolean {
  if (e instanceof ReplayWorkerLost) return true;
  const code = (e as { code?: unknown }).code;
  return code === 'replay-hung' || code === 'replay-failed' || (e instanceof Error && !(e instanceof UserError) && !(e instanceof CancelledError));
}

/** A replay process died under an operation; attempts() runs the operation again. */
export class ReplayWorkerLost extends Error {
  constructor(
    override readonly cause: Error,
    /** The snapshot the lost process had started from. */
    readonly snapshot: LadderPoint,
  ) {
    super(`a replay process died: ${cause.message}`);
  }
}
