import { Bundle } from '../bundle/reader';
import type { SnapshotEntry } from '../bundle/manifest';
import type { SnapshotSource } from '@rewind/protocol';
import { CancelledError, UserError } from '../errors';
import { checkReadPacket } from '../gdb/read-packets';
import type { X86Registers } from '../gdb/x86-registers';
import type { ReplayLogIndex } from '../replay-log';
import type { TimePoint } from '../timepoint';
import { IndexAttachment, type IndexStatus } from './index-attachment';
import { continueByIndex } from './indexed-forward';
import { LadderImages } from './ladder-images';
import type { RecordingIndex } from '../index/recording-index';
import { SnapshotLadder, type LadderPointInfo } from './ladder';
import type { EngineSettings } from './engine-options';
import { EngineObservers, nowNs, type EngineObserver, type EngineOperation } from './observer';
import { QuietPoints } from './quiet-points';
import { replayEnd } from './replay-end';
import { probeFor } from './probe-plugin';
import { landing, SliceSearch, type Hit, type ScanOptions, type ScanRange, type Traps } from './search';
import { SnapshotRechecks, type RecheckVerdict } from './snapshot-recheck';
import { verifyBundleSnapshots } from './snapshot-verify';
import { readVerdicts, writeVerdicts } from './verdict-file';
import type { Breakpoint, LadderPoint, ReplayWorker, RunOptions, StopCause, Watchpoint } from './worker';
import { WorkerPool } from './worker-pool';
import { parkSpares } from './spare-parking';
import { ReplayWorkspace } from './workspace';

export { replayEnd, type IndexStatus };
export { ReplayWorkerLost } from './worker-pool';
export type { Hit, ScanOptions, ScanRange } from './search';
export type { EngineEvent, EngineObserver, EngineOperation, Span } from './observer';

export interface EngineOptions extends EngineSettings {
  /** Called with the engine as soon as it exists, before its first replay: e.g. to observe() it. */
  onOpen?: (engine: ReplayEngine) => void;
}

/**
 * The replay engine: time travel over one recording. There is always a current time point, held
 * by the current worker (a paused QEMU replay process). Going forward runs that worker; going back
 * takes the closest other worker at or before the target (a warm one, or a fresh one started from
 * the nearest snapshot) and runs it forward to the target exactly, so every time travel costs in
 * proportion to the distance from a snapshot, never to the length of the recording. A replay
 * process never loads a second snapshot (QEMU deadlocks).
 *
 * This class is the facade: the processes are the worker pool's (worker-pool.ts), the snapshots
 * the ladder's (ladder.ts), queries and backward searches the slice search's (search.ts).
 */
export class ReplayEngine {
  private position: TimePoint = 0;
  private readonly ladder: SnapshotLadder;
  private readonly pool: WorkerPool;
  private readonly images: LadderImages;
  private readonly search: SliceSearch;
  private readonly rechecks: SnapshotRechecks;
  private readonly observers = new EngineObservers();
  private readonly parallelism: number;
  private readonly hangMs: number | undefined;
  /** The background job that keeps spares warm (one at a time; bench/dap.ts waits for it). */
  private spare?: Promise<void>;
  private readonly spareCount: number;
  /** Public operations under way (observers hear of the outermost only). */
  private depth = 0;
  /** Time points with no event of the log: where processes may be stopped and saved safely. */
  readonly quiet: QuietPoints;
  /** The recording's index: its status, the index once ready, a background build (index-attachment.ts). */
  readonly indexing: IndexAttachment;

  private constructor(
    readonly bundle: Bundle,
    readonly index: ReplayLogIndex,
    private readonly ws: ReplayWorkspace,
    /** The last time point a replay reaches (the recording's first shutdown). */
    readonly end: TimePoint,
    opts: EngineOptions,
  ) {
    const maxWorkers = Math.max(2, opts.maxWorkers ?? 8);
    this.spareCount = Math.max(0, Math.min(opts.spares ?? 3, maxWorkers - 2));
    this.parallelism = Math.max(1, opts.queryParallelism ?? 2);
    this.hangMs = opts.hangTimeoutMs;
    this.quiet = new QuietPoints(index.events.map((e) => e.icount));
    this.ladder = new SnapshotLadder(bundle.manifest.snapshots.list, ws.snapshots, end, this.quiet, Math.max(0, opts.maxLadderSnapshots ?? 24));
    this.rechecks = new SnapshotRechecks(bundle, ws, this.ladder, end, this.hangMs);
    this.images = new LadderImages(ws);
    this.pool = new WorkerPool(bundle, ws, end, this.ladder, { maxWorkers, hangMs: this.hangMs, blanks: Math.max(0, opts.blanks ?? 3), probeBlanks: this.parallelism, recheck: (p) => this.rechecks.schedule(p), retired: () => void this.releaseImages() }, this.observers);
    this.search = new SliceSearch(this.ladder, this.pool, this.parallelism, end, this.observers, opts.probe === 'off' ? undefined : () => probeFor(bundle.manifest.qemu.binary, opts.probe === 'always'));
    const useIndex = (ix: RecordingIndex, extras: LadderPoint[]): void => {
      this.search.useIndex(ix);
      this.ladder.addIndexPoints(extras);
    };
    this.indexing = new IndexAttachment(bundle, index, end, useIndex, this.hangMs);
  }

  static async open(path: string, opts: EngineOptions = {}): Promise<ReplayEngine> {
    const bundle = await Bundle.open(path);
    await bundle.verify(false);
    const index = await bundle.readIndex();
    const ws = await ReplayWorkspace.create(bundle);
    const end = replayEnd(index);
    const engine = new ReplayEngine(bundle, index, ws, end, opts);
    try {
      opts.onOpen?.(engine);
      await engine.applyVerdicts(opts);
      await engine.indexing.open(opts.index ?? 'use', opts.onIndexProgress);
      await engine.seek(0);
    } catch (e) {
      await engine.close();
      throw e;
    }
    return engine;
  }

  get icount(): TimePoint {
    return this.position;
  }

  /** Watches the engine's work (typed events, see observer.ts); returns the way to stop watching. */
  observe(observer: EngineObserver): () => void {
    return this.observers.add(observer);
  }

  /** Re-checks of suspect snapshots, as they came out (diagnostics, tests). */
  get verdicts(): readonly RecheckVerdict[] {
    return this.rechecks.verdicts;
  }

  /** Whether a scan of [from, to) for these traps goes by the index (diagnostics, tests, benchmarks). */
  usesIndex(what: Traps, from: TimePoint = 0, to: TimePoint = this.end): boolean {
    return this.search.indexed(what, from, to);
  }

  /** Processes the watchdog killed: when and why (diagnostics, tests). */
  get hangsNoticed(): ReadonlyArray<{ pid: number | undefined; why: string; at: number }> {
    return this.pool.hangsNoticed;
  }

  /**
   * A bundle whose manifest does not say that every snapshot was verified (format 1 and 2, or a
   * cancelled verification) gets its verdicts from the file beside it, or works them out once (a
   * replay of the whole recording, in parallel slices) and stores them there. Bad snapshots are
   * never started from.
   */
  private async applyVerdicts(opts: EngineOptions): Promise<void> {
    if (this.bundle.manifest.snapshots.list.every((s) => s.verified === true)) return;
    let verdicts = (await readVerdicts(this.bundle))?.verdicts;
    if (!verdicts) {
      verdicts = await verifyBundleSnapshots(this.bundle, this.index, {
        mode: 'engine',
        parallelism: this.parallelism,
        ...(this.hangMs !== undefined ? { hangMs: this.hangMs } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onVerifyProgress ? { onProgress: opts.onVerifyProgress } : {}),
      });
      await writeVerdicts(this.bundle, 'engine', verdicts);
    }
    this.ladder.applyVerdicts(verdicts);
  }

  /** The snapshots taken while recording. */
  snapshots(): SnapshotEntry[] {
    return this.bundle.manifest.snapshots.list.filter((s) => s.icount <= this.end);
  }

  /** Where a scan back to `t` can start: the start point of the nearest snapshot (of any kind) whose replays reach `t`. */
  snapshotAtOrBefore(t: TimePoint): TimePoint {
    return this.ladder.startOf(this.ladder.nearest(t));
  }

  /** Every snapshot the engine can start a replay from: recorded ones and those it added. */
  ladderPoints(): LadderPointInfo[] {
    return this.ladder.all().map(withoutImage);
  }

  /** The recorded snapshots and those created with createSnapshot, oldest first (not the ladder's automatic ones). */
  listSnapshots(): Array<SnapshotEntry & { source: SnapshotSource }> {
    return this.ladder
      .all()
      .filter((p) => p.source !== 'replay' || p.pinned)
      .map(({ name, icount, vmClockNs, vmStateBytes, source }) => ({ name, icount, vmClockNs, vmStateBytes, source }));
  }

  /**
   * Adds a snapshot at the current time point, kept for this engine's life (never dropped by the
   * ladder's bound; never written into the bundle). An existing snapshot at this time point is
   * returned instead. Undefined when QEMU refused to save.
   */
  async createSnapshot(): Promise<LadderPointInfo | undefined> {
    // At the quiet time point at or just before now (docs/replay-research.md): usually now itself.
    const q = this.quiet.atOrBefore(this.position);
    const p = this.ladder.at(q) ?? (await this.pool.attempts('take a snapshot', () => this.saveAt(q, true)));
    if (!p) return undefined;
    if (p.source === 'replay') p.pinned = true;
    return withoutImage(p);
  }

  /** Removes a snapshot the engine added. Recorded snapshots belong to the bundle and stay. */
  deleteSnapshot(name: string): boolean {
    const removed = this.ladder.remove(name);
    if (removed) void this.releaseImages();
    return removed;
  }

  /** The engine's workspace folder: the log and the image files (diagnostics, tests). */
  get workspaceDir(): string {
    return this.ws.dir;
  }

  /** Deletes the images of snapshots the ladder no longer has, unless a live worker replays on one. */
  private releaseImages(): Promise<string[]> {
    if (this.pool.closed) return Promise.resolve([]);
    return this.images.release([...this.ladder.all().map((p) => p.image), ...this.pool.images()]);
  }

  /**
   * Goes to exactly `target` (clamped to the recording). `anchor`: when the target is far from the
   * nearest snapshot, save one just behind it on the way (else afterMove does, in the background).
   * An aborted `signal` leaves it where it got (a continue's jump: its pause).
   */
  async seek(target: TimePoint, anchor = true, lander?: ReplayWorker, signal?: AbortSignal): Promise<TimePoint> {
    return this.operation('seek', [target], async () => {
      const t = Math.max(0, Math.min(Math.floor(target), this.end));
      const from = this.position;
      const startedNs = nowNs();
      const at = await this.pool.attempts('go to a time point', async () => {
        const w = await this.pool.atOrBefore(t, lander);
        // A long way from the nearest snapshot: leave one just behind the target on the way, so
        // that stepping back from there is short.
        const near = this.ladder.anchorFor(t);
        if (anchor && near !== undefined && w.icount < near) {
          await this.pool.withRecovery(w, () => w.runTo(near));
          await this.addLadderPoint(w, false);
        }
        const stop = await this.pool.withRecovery(w, () => w.run({ until: t, ...(signal ? { signal } : {}) }));
        this.setCurrent(w, stop.icount);
        this.afterMove();
        return this.position;
      });
      this.observers.emit({ type: 'seek', from, to: at, startedNs, endedNs: nowNs() });
      return at;
    });
  }

  /** Goes to the time point of an event of the index (by its index). */
  async seekEvent(eventIndex: number): Promise<TimePoint> {
    return this.operation('seekEvent', [eventIndex], async () => {
      const e = this.index.events[eventIndex];
      if (!e) throw new UserError(`there is no event #${eventIndex} (the recording has ${this.index.events.length})`, 'bad-event');
      return this.seek(e.icount);
    });
  }

  /** One instruction back. At the start of the recording, stays there. */
  async reverseStepi(): Promise<TimePoint> {
    return this.operation('reverseStepi', [], () => this.seek(Math.max(0, this.position - 1)));
  }

  /** One instruction forward. */
  async stepi(): Promise<TimePoint> {
    return this.operation('stepi', [], () => this.seek(this.position + 1));
  }

  /** Runs forward until a trap triggers, `until`, or the end; an aborted `signal` (or interrupt()) stops it where it is ('time'). */
  async continueForward(opts: { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[]; until?: TimePoint; signal?: AbortSignal } = {}): Promise<StopCause> {
    return this.operation('continueForward', [opts], async () => {
      const until = Math.min(opts.until ?? this.end, this.end);
      const runs = this.search.forwardRuns(opts, this.position, until);
      if (!runs) return this.runForward(opts);
      return continueByIndex(runs, opts, until, { position: () => this.position, end: this.end, goTo: (t) => this.seek(t, false, undefined, opts.signal), run: (o) => this.runForward(o) });
    });
  }

  /** The current process runs forward under the traps (one lost on the way leaves the position as it was: the next attempt starts there). */
  private runForward(opts: RunOptions): Promise<StopCause> {
    return this.pool.attempts('continue', async () => {
      const w = await this.currentWorker();
      const stop = await this.pool.withRecovery(w, () => w.run(opts));
      this.setCurrent(w, stop.icount);
      this.afterMove();
      return stop;
    });
  }

  /**
   * Runs backward to the LAST time a breakpoint or watchpoint triggered before the current
   * position, whatever lies between; or to the start when none did. A watchpoint lands just before
   * the access (see landing() in search.ts).
   */
  async reverseContinue(opts: Traps & ScanOptions): Promise<StopCause | { kind: 'start'; icount: 0 }> {
    return this.operation('reverseContinue', [opts], async () => {
      const { hit, lander } = await this.search.landingBefore(this.position, opts, opts, 'reverse continue');
      try {
        // Cancelled now: the position stays where it was.
        if (opts.signal?.aborted) throw new CancelledError('reverse continue');
        if (hit) {
          // The anchor behind the hit (if it is far from a snapshot) comes after, in the background.
          const at = await this.seek(landing(hit), false, lander);
          if (hit.dataAddress === undefined) return { kind: 'breakpoint', icount: at, address: hit.address };
          const regs = await this.registers();
          return { kind: 'watchpoint', icount: at, address: regs.rip ?? regs.eip ?? hit.address, dataAddress: hit.dataAddress };
        }
        await this.seek(0);
        return { kind: 'start', icount: 0 };
      } finally {
        // The landing made it the current worker, or it goes back to the pool.
        if (lander) this.pool.release(lander);
      }
    });
  }

  /** Every time point in [from, to) where one of the addresses executes (its stack filter accepting), by slices in parallel. */
  async hits(address: bigint | Breakpoint | Array<bigint | Breakpoint>, range: ScanRange = {}): Promise<Hit[]> {
    const breakpoints = (Array.isArray(address) ? address : [address]).map((a) => (typeof a === 'bigint' ? { address: a } : a));
    return this.operation('hits', [address, range], () => this.search.query({ breakpoints }, range));
  }

  /** Every write to [address, address+size) in [from, to): the time point just after each write. */
  async writes(address: bigint, size: number, range: ScanRange = {}): Promise<Hit[]> {
    return this.operation('writes', [address, size, range], () => this.search.query({ watchpoints: [{ address, size, access: 'write' }] }, range));
  }

  /** The last write to the range before the current position (without moving), if any. */
  async lastWrite(address: bigint, size: number, opts: ScanOptions = {}): Promise<Hit | undefined> {
    // A write whose instruction ran before now ends at or before now (it lands just before its end).
    return this.operation('lastWrite', [address, size, opts], () => this.search.lastBefore(this.position, { watchpoints: [{ address, size, access: 'write' }] }, opts, 'last write'));
  }

  /** The last hit of the breakpoints before `before` (default: now), without moving. */
  async lastHit(breakpoints: Breakpoint[], before = this.position, opts: ScanOptions = {}): Promise<Hit | undefined> {
    return this.operation('lastHit', [breakpoints, before, opts], () => this.search.lastBefore(before, { breakpoints }, opts, 'last hit'));
  }
  /** The first hit of the breakpoints at or after `from` (default: just after now), without moving. */
  async firstHit(breakpoints: Breakpoint[], from = this.position + 1, opts: ScanOptions = {}): Promise<Hit | undefined> {
    return this.operation('firstHit', [breakpoints, from, opts], () => this.search.firstFrom(from, this.end + 1, { breakpoints }, opts, 'first hit'));
  }

  async registers(): Promise<X86Registers> {
    return this.operation('registers', [], () => this.onCurrent((w) => w.registers()));
  }

  /**
   * A read-only gdb remote-protocol packet (gdb/read-packets.ts; anything else is refused with
   * 'packet-refused'), answered by the process that holds the current time. With `thread`, the
   * read is about that thread (`Hg` is sent first when needed).
   */
  async gdbPacket(packet: string, thread?: string): Promise<string> {
    return this.operation('gdbPacket', [packet, thread], () => {
      checkReadPacket(packet, thread);
      return this.onCurrent((w) => w.gdbPacket(packet, thread));
    });
  }

  /** Interrupts a running continueForward (prefer its `signal`: this one misses a continue that has not started yet). */
  interrupt(): void {
    this.pool.current?.interrupt();
  }

  async readMemory(address: bigint, length: number): Promise<Buffer> {
    return this.operation('readMemory', [address, length], () => this.onCurrent((w) => w.readMemory(address, length)));
  }

  /** Process groups of the live replay processes, blank ones included: for tests and diagnostics. */
  workerPids(): number[] {
    return this.pool.pids();
  }

  /** Process groups of the blank replay processes kept ready (EngineOptions.blanks): for tests and diagnostics. */
  blankPids(): number[] {
    return this.pool.blankPids();
  }

  async close(): Promise<void> {
    // Kill first: a background job (the spare) waiting on a process that never answers then fails at once.
    const indexed = this.indexing.close();
    const killed = this.pool.close();
    const rechecked = this.rechecks.close();
    await killed;
    await this.spare;
    await this.pool.drain(); // any the spare started meanwhile
    await rechecked;
    await indexed;
    await this.ws.dispose();
  }

  // ---- internals ----

  /** Runs a public operation; observers hear of it when it is the outermost one. */
  private async operation<T>(method: EngineOperation, args: unknown[], run: () => Promise<T>): Promise<T> {
    if (this.depth > 0) return run();
    this.depth++;
    try {
      return await this.observers.timed(run, (span) => ({ type: 'operation', method, args, ...span }));
    } finally {
      this.depth--;
    }
  }

  /**
   * A read from the process that holds the current time. If that process died or hung under the
   * read, the same time point is rebuilt on a fresh process and the read is tried again.
   */
  private async onCurrent<T>(read: (w: ReplayWorker) => Promise<T>): Promise<T> {
    return this.pool.attempts('read the guest', async () => {
      const w = await this.currentWorker();
      return this.pool.withRecovery(w, () => read(w));
    });
  }

  private setCurrent(w: ReplayWorker, icount: TimePoint): void {
    this.pool.makeCurrent(w);
    this.position = icount;
  }

  private async currentWorker(): Promise<ReplayWorker> {
    const cur = this.pool.current;
    if (cur?.alive) return cur;
    // The process holding the current time died: rebuild the same time point.
    this.pool.dropCurrent();
    await this.seek(this.position);
    return this.pool.current!;
  }

  /**
   * Saves a snapshot at the quiet time point `q` and puts it on the ladder: in the current process
   * when a replay-break stopped it exactly there, else in another process run there with one (the
   * kind of stop savevm was measured to reload).
   */
  private async saveAt(q: TimePoint, explicit: boolean): Promise<LadderPoint | undefined> {
    const cur = this.pool.current;
    if (cur?.alive && !cur.isBusy && cur.icount === q && cur.savable) return this.addLadderPoint(cur, explicit);
    let w = await this.pool.claimAtOrBefore(q);
    try {
      if (w.icount === q && !w.savable) {
        this.pool.release(w);
        w = await this.pool.start(this.ladder.nearest(q));
        this.pool.claim(w);
      }
      if (w.icount < q) await this.pool.withRecovery(w, () => w.runTo(q));
      return await this.addLadderPoint(w, explicit);
    } finally {
      this.pool.release(w);
    }
  }

  /** Saves a snapshot in a worker and puts it on the ladder, within the storage bound. */
  private async addLadderPoint(w: ReplayWorker, explicit: boolean): Promise<LadderPoint | undefined> {
    if (!explicit && this.ladder.maxAdded === 0) return undefined;
    const existing = this.ladder.at(w.icount);
    if (existing) return existing;
    const name = this.ladder.nextName();
    const startedNs = nowNs();
    const p = await this.pool.withRecovery(w, () => w.saveSnapshot(name));
    if (!p) return undefined;
    this.observers.emit({ type: 'snapshot-saved', name, icount: p.icount, startedNs, endedNs: nowNs() });
    this.images.keep(p.image);
    this.ladder.add(p, this.position);
    void this.releaseImages();
    return p;
  }

  /**
   * After a move, in the background: make going back from here cheap. When the nearest snapshot
   * behind is far (an idle stretch replays at the wall clock's pace, compute at about 5e8
   * instructions a second), replay the way once more and leave an anchor snapshot just behind the
   * current time; then park `spares` idle replay processes at the nearest snapshot behind, so a
   * step back, a scan or a landing starts without waiting for a process, and one each a few million
   * instructions further back (spare-parking.ts); then launch blank processes, so that one from any
   * other recorded snapshot starts quickly too.
   */
  private afterMove(): void {
    if (this.spare || this.pool.closed) return;
    const target = this.position;
    this.spare = this.keepWarm(target)
      .catch(() => undefined)
      .finally(() => {
        this.spare = undefined;
        // Moved meanwhile: warm up for the new place.
        if (!this.pool.closed && this.position !== target) this.afterMove();
      });
  }

  private async keepWarm(t: TimePoint): Promise<void> {
    // An engine that stays at the start (just opened; a one-shot query) launches nothing.
    if (t === 0) return;
    const still = () => !this.pool.closed && this.position === t;
    await parkSpares({ pool: this.pool, ladder: this.ladder, count: this.spareCount, saveAnchor: (q) => this.saveAt(q, false), still }, t);
    if (still()) await this.pool.fillBlanks();
  }
}

function withoutImage({ image: _image, ...rest }: LadderPoint): LadderPointInfo {
  return rest;
}
