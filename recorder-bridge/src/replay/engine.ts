import { Bundle } from '../bundle/reader';
import type { SnapshotEntry } from '../bundle/manifest';
import { CancelledError, UserError } from '../errors';
import { checkReadPacket } from '../gdb/read-packets';
import type { X86Registers } from '../gdb/x86-registers';
import type { ReplayLogIndex } from '../replay-log';
import type { TimePoint } from '../timepoint';
import { ReplayWorker, type Breakpoint, type LadderPoint, type StopCause, type Watchpoint } from './worker';
import { ReplayWorkspace } from './workspace';

export interface EngineOptions {
  /** Replay processes kept alive at once (the current one included). Default 6. */
  maxWorkers?: number;
  /**
   * Idle replay processes kept parked just behind the current time, so that going back starts
   * without waiting for a process (about 0.5 s for a 256 MiB Linux guest). Default 3: a step back
   * over a line uses up to three (a scan, a landing, and one to spare). 0 turns them off.
   */
  spares?: number;
  /** Workers used by whole-recording queries. Default 2 (one per core here). */
  queryParallelism?: number;
  /** Snapshots the engine may add while replaying (the ladder's bound on storage). Default 24; 0 turns the ladder off. */
  maxLadderSnapshots?: number;
  /** A replay process that does not answer for this long is killed and replaced. Default 20 s. */
  hangTimeoutMs?: number;
}

/**
 * A time point farther than this from the nearest snapshot behind it gets an anchor: a snapshot
 * just behind it (synchronously on a seek, in the background after other moves).
 */
const LADDER_GAP = 2_000_000;
/** ...this many instructions before the time point, so that going back starts next to it. */
const LADDER_NEAR = 100_000;
/** Whole-recording queries cut slices no shorter than this. */
const MIN_SLICE = 20_000_000;

/**
 * Where a replay of a recording ends: at its first shutdown event (the guest's power-off or the
 * recorder's quit). The log's total can exceed it by the few instructions QEMU ran while stopping.
 */
export function replayEnd(index: ReplayLogIndex): TimePoint {
  return index.events.find((e) => e.kind === 'shutdown')?.icount ?? index.totalIcount;
}

export interface Hit {
  icount: TimePoint;
  /** Code address: the breakpoint's, or the pc after a watched access. */
  address: bigint;
  dataAddress?: bigint;
}

/** A stretch of the recording between two snapshots: a replay process can start at `from`. */
interface Slice {
  snapshot: LadderPoint;
  from: TimePoint;
  to: TimePoint;
}

/**
 * The replay engine: time travel over one recording. There is always a current time point, held
 * by the current worker (a paused QEMU replay process). Going forward runs that worker; going back
 * takes the closest other worker at or before the target (a warm one, or a fresh one started from
 * the nearest snapshot) and runs it forward to the target exactly, so every time travel costs in
 * proportion to the distance from a snapshot, never to the length of the recording. A replay
 * process never loads a second snapshot (QEMU deadlocks).
 */
export class ReplayEngine {
  private workers: ReplayWorker[] = [];
  private current?: ReplayWorker;
  private position: TimePoint = 0;
  private readonly maxWorkers: number;
  private readonly parallelism: number;
  private lastUse = new Map<ReplayWorker, number>();
  private useClock = 0;
  private closed = false;
  /** Every snapshot a worker can start from: the recorded ones, then those the engine added. */
  private ladder: LadderPoint[];
  /** Snapshots a replay could not get away from: never started from again. */
  private readonly unusable = new Set<LadderPoint>();
  private readonly maxLadder: number;
  private readonly hangMs: number | undefined;
  private ladderSeq = 0;
  /** The background job that keeps spares warm (one at a time). */
  private spare?: Promise<void>;
  private readonly spareCount: number;
  /** Workers claimed by an operation between choosing them and running them. */
  private readonly claimed = new Set<ReplayWorker>();
  /** Workers being killed in the background. */
  private readonly dying = new Set<Promise<unknown>>();

  private constructor(
    readonly bundle: Bundle,
    readonly index: ReplayLogIndex,
    private readonly ws: ReplayWorkspace,
    /** The last time point a replay reaches (the recording's first shutdown). */
    readonly end: TimePoint,
    opts: EngineOptions,
  ) {
    this.maxWorkers = Math.max(2, opts.maxWorkers ?? 6);
    this.spareCount = Math.max(0, Math.min(opts.spares ?? 3, this.maxWorkers - 2));
    this.parallelism = Math.max(1, opts.queryParallelism ?? 2);
    this.maxLadder = Math.max(0, opts.maxLadderSnapshots ?? 24);
    this.hangMs = opts.hangTimeoutMs;
    this.ladder = bundle.manifest.snapshots.list
      .filter((s) => s.icount <= end)
      .map((s) => ({ ...s, image: ws.snapshots, source: 'record' as const }));
  }

  static async open(path: string, opts: EngineOptions = {}): Promise<ReplayEngine> {
    const bundle = await Bundle.open(path);
    await bundle.verify(false);
    const index = await bundle.readIndex();
    const ws = await ReplayWorkspace.create(bundle);
    const end = replayEnd(index);
    const engine = new ReplayEngine(bundle, index, ws, end, opts);
    try {
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

  /** The snapshots taken while recording. */
  snapshots(): SnapshotEntry[] {
    return this.bundle.manifest.snapshots.list.filter((s) => s.icount <= this.end);
  }

  /** The time point of the nearest snapshot (of any kind) at or before `t`: where a scan back to `t` can start. */
  snapshotAtOrBefore(t: TimePoint): TimePoint {
    return this.nearestSnapshot(t).icount;
  }

  /** Every snapshot the engine can start a replay from: recorded ones and those it added. */
  ladderPoints(): Array<Omit<LadderPoint, 'image'>> {
    return this.ladder.map(({ image: _image, ...rest }) => rest);
  }

  /**
   * The recorded snapshots and those created with createSnapshot, oldest first (not the ladder's
   * automatic ones, which come and go).
   */
  listSnapshots(): Array<SnapshotEntry & { source: 'record' | 'replay' }> {
    return this.ladder.filter((p) => p.source === 'record' || p.pinned).map(({ name, icount, vmClockNs, vmStateBytes, source }) => ({ name, icount, vmClockNs, vmStateBytes, source }));
  }

  /**
   * Adds a snapshot at the current time point, kept for this engine's life (never dropped by the
   * ladder's bound; never written into the bundle). An existing snapshot at this time point is
   * returned instead. Undefined when QEMU refused to save.
   */
  async createSnapshot(): Promise<Omit<LadderPoint, 'image'> | undefined> {
    const existing = this.ladder.find((p) => p.icount === this.position);
    const p = existing ?? (await this.addLadderPoint(await this.savableCurrent(), true));
    if (!p) return undefined;
    if (p.source === 'replay') p.pinned = true;
    const { image: _image, ...rest } = p;
    return rest;
  }

  /** Removes a snapshot the engine added. Recorded snapshots belong to the bundle and stay. */
  deleteSnapshot(name: string): boolean {
    const p = this.ladder.find((x) => x.name === name);
    if (!p) return false;
    if (p.source === 'record') throw new UserError(`snapshot ${name} was taken while recording and belongs to the bundle; it cannot be deleted`, 'snapshot-recorded');
    this.ladder = this.ladder.filter((x) => x !== p);
    return true;
  }

  /** Goes to exactly `target` (clamped to the recording). */
  async seek(target: TimePoint): Promise<TimePoint> {
    const t = Math.max(0, Math.min(Math.floor(target), this.end));
    for (let attempt = 0; ; attempt++) {
      const w = await this.workerAtOrBefore(t);
      try {
        // A long way from the nearest snapshot: leave one just behind the target on the way, so
        // that stepping back from there is short.
        const near = t - LADDER_NEAR;
        if (this.maxLadder > 0 && near - this.nearestSnapshot(t - 1).icount > LADDER_GAP && w.icount < near) {
          await this.withRecovery(w, () => w.runTo(near));
          await this.addLadderPoint(w, false);
        }
        const stop = await this.withRecovery(w, () => w.runTo(t));
        this.setCurrent(w, stop.icount);
        this.afterMove();
        return this.position;
      } catch (e) {
        // Retried from another place: the lost worker's snapshot is avoided when it never moved.
        if (!(e instanceof ReplayWorkerLost) || attempt > 1) throw e;
      }
    }
  }

  /** Goes to the time point of an event of the index (by its index). */
  async seekEvent(eventIndex: number): Promise<TimePoint> {
    const e = this.index.events[eventIndex];
    if (!e) throw new UserError(`there is no event #${eventIndex} (the recording has ${this.index.events.length})`, 'bad-event');
    return this.seek(e.icount);
  }

  /** One instruction back. At the start of the recording, stays there. */
  async reverseStepi(): Promise<TimePoint> {
    return this.seek(Math.max(0, this.position - 1));
  }

  /** One instruction forward. */
  async stepi(): Promise<TimePoint> {
    return this.seek(this.position + 1);
  }

  /**
   * Runs forward until a breakpoint or watchpoint triggers, `until`, or the end. An aborted
   * `signal` (or interrupt()) stops it where it is: a 'time' stop.
   */
  async continueForward(opts: { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[]; until?: TimePoint; signal?: AbortSignal } = {}): Promise<StopCause> {
    const w = await this.currentWorker();
    const stop = await this.withRecovery(w, () => w.run(opts));
    this.setCurrent(w, stop.icount);
    // Snapshots are only saved where a replay-break stopped the replay (what QEMU was measured to reload).
    this.afterMove();
    return stop;
  }

  /**
   * Runs backward to the LAST time a breakpoint or watchpoint triggered before the current
   * position, whatever lies between; or to the start when none did.
   */
  async reverseContinue(opts: { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[]; signal?: AbortSignal; onProgress?: (done: TimePoint, total: TimePoint) => void }): Promise<StopCause | { kind: 'start'; icount: 0 }> {
    const before = this.position;
    // Going backward, a breakpoint stops where it is hit and a watchpoint stops just BEFORE the
    // access (the accessing instruction next), as gdb expects of reverse execution: the watched
    // value is then still the old one, and the stack shows the writing code. Strictly before now.
    // With watchpoints the search runs one instruction past now: a write ending exactly now lands
    // just before it, and a replay-break at `before` can win over its watchpoint (measured).
    const landing = (h: Hit) => (h.dataAddress !== undefined ? h.icount - 1 : h.icount);
    const windows = this.reverseWindows((opts.watchpoints?.length ?? 0) > 0 ? before + 1 : before);
    const found = await this.searchBack(windows, opts, (hits) => hits.filter((h) => landing(h) < before), 'reverse continue', opts.signal, (done) => opts.onProgress?.(Math.min(done, before), before));
    // Cancelled now: the position stays where it was.
    if (opts.signal?.aborted) throw new CancelledError('reverse continue');
    if (found) {
      const hit = found.reduce((a, b) => (landing(b) >= landing(a) ? b : a));
      const at = await this.seek(landing(hit));
      if (hit.dataAddress === undefined) return { kind: 'breakpoint', icount: at, address: hit.address };
      const regs = await this.registers();
      return { kind: 'watchpoint', icount: at, address: regs.rip ?? regs.eip ?? hit.address, dataAddress: hit.dataAddress };
    }
    await this.seek(0);
    return { kind: 'start', icount: 0 };
  }

  /**
   * Scans windows newest first, `parallelism` at a time, and returns the accepted hits of the
   * newest window that has any. Older windows of the same batch still running then are cancelled:
   * a hit close to now never waits for a long scan further back.
   */
  private async searchBack(
    windows: Slice[],
    what: { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[] },
    accept: (hits: Hit[]) => Hit[],
    label: string,
    signal: AbortSignal | undefined,
    onProgress: (done: TimePoint) => void,
  ): Promise<Hit[] | undefined> {
    let scanned = 0;
    for (let i = 0; i < windows.length; i += this.parallelism) {
      if (signal?.aborted) throw new CancelledError(label);
      const batch = windows.slice(i, i + this.parallelism);
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      signal?.addEventListener('abort', onAbort);
      const runs = batch.map((w) => this.scanSlice(w, { breakpoints: what.breakpoints ?? [], watchpoints: what.watchpoints ?? [] }, stop.signal));
      // Older windows are cancelled once a newer one has hits: their rejections are expected.
      for (const r of runs) r.catch(() => undefined);
      try {
        for (let k = 0; k < runs.length; k++) {
          const hits = accept(await runs[k]!);
          scanned += batch[k]!.to - batch[k]!.from;
          onProgress(scanned);
          if (hits.length > 0) return hits;
        }
      } catch (e) {
        if (signal?.aborted) throw new CancelledError(label);
        throw e;
      } finally {
        stop.abort();
        signal?.removeEventListener('abort', onAbort);
        await Promise.allSettled(runs);
      }
    }
    return undefined;
  }

  /**
   * Every time point in [from, to) where one of the addresses executes (and its stack filter, if
   * any, accepts), by slices in parallel. Each hit names the address that triggered.
   */
  async hits(address: bigint | Breakpoint | Array<bigint | Breakpoint>, range: { from?: TimePoint; to?: TimePoint; signal?: AbortSignal } = {}): Promise<Hit[]> {
    const breakpoints = (Array.isArray(address) ? address : [address]).map((a) => (typeof a === 'bigint' ? { address: a } : a));
    return this.query({ breakpoints }, range);
  }

  /** Every write to [address, address+size) in [from, to): the time point just after each write. */
  async writes(address: bigint, size: number, range: { from?: TimePoint; to?: TimePoint; signal?: AbortSignal } = {}): Promise<Hit[]> {
    return this.query({ watchpoints: [{ address, size, access: 'write' }] }, range);
  }

  /** The last write to the range before the current position (without moving), if any. */
  async lastWrite(address: bigint, size: number, opts: { signal?: AbortSignal; onProgress?: (done: TimePoint, total: TimePoint) => void } = {}): Promise<Hit | undefined> {
    const before = this.position;
    // One instruction past now: a replay-break at `before` can win over the watchpoint of a write
    // that ends exactly there (measured), and that write ran before now.
    const windows = this.reverseWindows(before + 1);
    const what = { watchpoints: [{ address, size, access: 'write' as const }] };
    // A write whose instruction ran before `before` ends at or before it.
    const found = await this.searchBack(windows, what, (hits) => hits.filter((x) => x.icount <= before), 'last write', opts.signal, (done) => opts.onProgress?.(Math.min(done, before), before));
    return found?.[found.length - 1];
  }

  async registers(): Promise<X86Registers> {
    return this.onCurrent((w) => w.registers());
  }

  /**
   * A read-only gdb remote-protocol packet (gdb/read-packets.ts; anything else is refused with
   * 'packet-refused'), answered by the process that holds the current time. With `thread`, the
   * read is about that thread (`Hg` is sent first when needed).
   */
  async gdbPacket(packet: string, thread?: string): Promise<string> {
    checkReadPacket(packet, thread);
    return this.onCurrent((w) => w.gdbPacket(packet, thread));
  }

  /** Interrupts a running continueForward (prefer its `signal`: this one misses a continue that has not started yet). */
  interrupt(): void {
    this.current?.interrupt();
  }

  async readMemory(address: bigint, length: number): Promise<Buffer> {
    return this.onCurrent((w) => w.readMemory(address, length));
  }

  /**
   * A read from the process that holds the current time. If that process died or hung under the
   * read, the same time point is rebuilt on a fresh process and the read is retried once.
   */
  private async onCurrent<T>(read: (w: ReplayWorker) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const w = await this.currentWorker();
      try {
        return await read(w);
      } catch (e) {
        if (w.alive || attempt > 0) throw e;
        this.workers = this.workers.filter((x) => x !== w);
        if (this.current === w) this.current = undefined;
        await w.kill();
      }
    }
  }

  /** Process groups of the live replay processes: for tests and diagnostics. */
  workerPids(): number[] {
    return this.workers.filter((w) => w.alive).map((w) => w.pid!).filter((p) => p !== undefined);
  }

  /** Kills a worker in the background; close() waits for every one of them. */
  private retire(w: ReplayWorker): void {
    const p = w.kill().catch(() => undefined);
    this.dying.add(p);
    void p.finally(() => this.dying.delete(p));
  }

  async close(): Promise<void> {
    this.closed = true;
    // Kill first: a background job (the spare) waiting on a process that never answers then fails at once.
    await Promise.all(this.workers.map((w) => w.kill()));
    await this.spare;
    await Promise.all(this.workers.map((w) => w.kill())); // any the spare started meanwhile
    await Promise.all([...this.dying]);
    this.workers = [];
    this.current = undefined;
    await this.ws.dispose();
  }

  // ---- internals ----

  private async query(what: { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[] }, range: { from?: TimePoint; to?: TimePoint; signal?: AbortSignal }): Promise<Hit[]> {
    const slices = this.slices(range.from ?? 0, range.to ?? this.end);
    const out: Hit[][] = new Array(slices.length);
    let next = 0;
    const runner = async () => {
      while (next < slices.length) {
        if (range.signal?.aborted) throw new CancelledError('query');
        const k = next++;
        out[k] = await this.scanSlice(slices[k]!, what, range.signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.parallelism, slices.length) }, runner));
    return out.flat();
  }

  /**
   * The slices covering [from, to), cut at snapshots: the first starts at the snapshot nearest
   * before `from` (whatever its kind), the others at recorded snapshots and at added ones where they
   * split a long slice.
   */
  private slices(from: TimePoint, to: TimePoint): Slice[] {
    const snaps: LadderPoint[] = [this.nearestSnapshot(from)];
    for (const p of this.ladder) {
      if (p.icount <= snaps[0]!.icount || p.icount >= to || this.unusable.has(p)) continue;
      const last = snaps[snaps.length - 1]!;
      if (p.source === 'record' || p.icount - last.icount >= MIN_SLICE) snaps.push(p);
    }
    const out: Slice[] = [];
    for (let i = 0; i < snaps.length; i++) {
      const s = snaps[i]!;
      const next = i + 1 < snaps.length ? snaps[i + 1]!.icount : this.end + 1;
      const a = Math.max(from, s.icount);
      const b = Math.min(to, next);
      if (a < b) out.push({ snapshot: s, from: a, to: b });
    }
    return out;
  }

  /**
   * The stretches of [0, before) newest first, for searching backward: the first from the
   * snapshot nearest before `before`, each next one at least as long as all the newer ones
   * together, so a search near the present scans little and one far back takes few windows.
   */
  private reverseWindows(before: TimePoint): Slice[] {
    const out: Slice[] = [];
    let end = before;
    while (end > 0) {
      const covered = before - end;
      const p = this.nearestSnapshot(Math.max(0, Math.min(end - 1, end - covered)));
      out.push({ snapshot: p, from: p.icount, to: end });
      end = p.icount;
    }
    return out;
  }

  /**
   * Replays one slice in a worker of its own and collects the triggers inside it. A worker that
   * died or hung under the scan is replaced once.
   */
  private async scanSlice(slice: Slice, what: { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[] }, signal?: AbortSignal): Promise<Hit[]> {
    let lostFrom = slice.snapshot.icount + 1;
    for (let attempt = 0; ; attempt++) {
      // A spare parked inside the slice (before its start) saves starting a process.
      // A retry starts from another (earlier) snapshot than the lost process: the glitches seen in
      // QEMU's replay depend on where it started.
      const w = attempt === 0 ? await this.claimAtOrBefore(slice.from, slice.snapshot) : await this.startWorker(this.nearestSnapshot(Math.min(slice.from, lostFrom - 1)));
      this.claimed.add(w);
      // Cancellation stops the slice's replay at once: the worker is only this scan's.
      const onAbort = () => w.interrupt();
      signal?.addEventListener('abort', onAbort);
      try {
        if (slice.from > w.icount) await w.runTo(slice.from);
        if (signal?.aborted) throw new CancelledError('query');
        const { hits: stops } = await w.collect({ ...what, until: slice.to, ...(signal ? { signal } : {}) });
        if (signal?.aborted) throw new CancelledError('query');
        const hits: Hit[] = stops.map((h) => (h.kind === 'watchpoint' ? { icount: h.icount, address: h.address, dataAddress: h.dataAddress } : { icount: h.icount, address: h.address }));
        return hits.filter((h) => h.icount >= slice.from && h.icount < slice.to + ((what.watchpoints?.length ?? 0) > 0 ? 1 : 0));
      } catch (e) {
        if (w.alive || attempt > 1 || signal?.aborted || this.closed) throw e;
        this.avoidIfStuck(w);
        lostFrom = w.snapshot.icount;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        this.claimed.delete(w);
        this.workers = this.workers.filter((x) => x !== w);
        // Used up (it ran to the slice's end): it goes, without making the caller wait for its exit.
        this.retire(w);
      }
    }
  }

  private setCurrent(w: ReplayWorker, icount: TimePoint): void {
    this.current = w;
    this.position = icount;
    this.lastUse.set(w, ++this.useClock);
  }

  /**
   * A worker at the current time that stopped there by a replay-break (where savevm was measured
   * to reload). One that stopped at a breakpoint or watchpoint is replaced by one that runs there
   * with a replay-break.
   */
  private async savableCurrent(): Promise<ReplayWorker> {
    const w = await this.currentWorker();
    if (w.savable) return w;
    const t = this.position;
    const others = this.workers.filter((x) => x !== w && x.alive && !x.isBusy && (x.icount < t || (x.icount === t && x.savable)));
    others.sort((a, b) => b.icount - a.icount);
    const snap = this.nearestSnapshot(t);
    const best = others[0] && others[0].icount >= snap.icount ? others[0] : await this.startWorker(snap);
    const stop = await this.withRecovery(best, () => best.runTo(t));
    this.setCurrent(best, stop.icount);
    return best;
  }

  private async currentWorker(): Promise<ReplayWorker> {
    if (this.current?.alive) return this.current;
    // The process holding the current time died: rebuild the same time point.
    const t = this.position;
    this.current = undefined;
    await this.seek(t);
    return this.current!;
  }

  /**
   * The cheapest way to reach `t`: an idle live worker at or before it, unless a snapshot between
   * that worker and `t` is closer, in which case a fresh worker starts there.
   */
  private async workerAtOrBefore(t: TimePoint): Promise<ReplayWorker> {
    const snap = this.nearestSnapshot(t);
    const candidates = this.workers.filter((w) => w.alive && !w.isBusy && !this.claimed.has(w) && w.icount <= t);
    candidates.sort((a, b) => b.icount - a.icount);
    const best = candidates[0];
    if (best && best.icount >= snap.icount) return best;
    return this.startWorker(snap);
  }

  /** Like workerAtOrBefore, but the worker is reserved (claimed) for the caller, who releases it. */
  private async claimAtOrBefore(t: TimePoint, snapshot = this.nearestSnapshot(t)): Promise<ReplayWorker> {
    const candidates = this.workers.filter((w) => w !== this.current && w.alive && !w.isBusy && !this.claimed.has(w) && w.icount <= t && w.icount >= snapshot.icount);
    candidates.sort((a, b) => b.icount - a.icount);
    const w = candidates[0] ?? (await this.startWorker(snapshot));
    this.claimed.add(w);
    return w;
  }

  private nearestSnapshot(t: TimePoint): LadderPoint {
    let best = this.ladder[0]!;
    for (const s of this.ladder) if (s.icount <= t && s.icount >= best.icount && !this.unusable.has(s)) best = s;
    return best;
  }

  /**
   * After a move, in the background: make going back from here cheap. When the nearest snapshot
   * behind is far (an idle stretch replays at the wall clock's pace, compute at about 5e8
   * instructions a second), replay the way once more and leave an anchor snapshot just behind the
   * current time; then park `spares` idle replay processes at the nearest snapshot behind, so a
   * step back, a scan or a landing starts without waiting for a process.
   */
  private afterMove(): void {
    if (this.spare || this.closed) return;
    const target = this.position;
    this.spare = this.keepWarm(target)
      .catch(() => undefined)
      .finally(() => {
        this.spare = undefined;
        // Moved meanwhile: warm up for the new place.
        if (!this.closed && this.position !== target) this.afterMove();
      });
  }

  private async keepWarm(t: TimePoint): Promise<void> {
    if (t === 0) return;
    let point = this.nearestSnapshot(t - 1);
    const anchorAt = t - LADDER_NEAR;
    if (this.maxLadder > 0 && anchorAt - point.icount > LADDER_GAP) {
      const w = await this.claimAtOrBefore(anchorAt);
      try {
        await w.runTo(anchorAt);
        point = (await this.addLadderPoint(w, false)) ?? point;
      } finally {
        this.claimed.delete(w);
      }
    }
    for (;;) {
      if (this.closed || this.position !== t) return;
      const parked = this.workers.filter((x) => x !== this.current && x.alive && !x.isBusy && !this.claimed.has(x) && x.icount >= point.icount && x.icount < t);
      if (parked.length >= this.spareCount) return;
      await this.startWorker(point);
    }
  }

  /** Saves a snapshot in a worker and puts it on the ladder, within the storage bound. */
  private async addLadderPoint(w: ReplayWorker, explicit: boolean): Promise<LadderPoint | undefined> {
    if (!explicit && this.maxLadder === 0) return undefined;
    const existing = this.ladder.find((p) => p.icount === w.icount);
    if (existing) return existing;
    const p = await w.saveSnapshot(`rw${++this.ladderSeq}`);
    if (!p) return undefined;
    this.ladder.push(p);
    this.ladder.sort((a, b) => a.icount - b.icount);
    // Over the bound: drop the added snapshots farthest from the current time (never those created on request).
    const added = this.ladder.filter((x) => x.source === 'replay' && !x.pinned);
    if (added.length > Math.max(this.maxLadder, 1)) {
      added.sort((a, b) => Math.abs(b.icount - this.position) - Math.abs(a.icount - this.position));
      const drop = new Set(added.slice(0, added.length - Math.max(this.maxLadder, 1)));
      this.ladder = this.ladder.filter((x) => !drop.has(x));
    }
    return p;
  }

  private async startWorker(snapshot: LadderPoint): Promise<ReplayWorker> {
    if (this.closed) throw new UserError('the replay engine is closed', 'engine-closed');
    await this.evict();
    const w = await ReplayWorker.start(this.bundle, this.ws, snapshot, this.end, this.hangMs);
    this.workers.push(w);
    this.lastUse.set(w, ++this.useClock);
    return w;
  }

  /** Keeps at most maxWorkers - 1 workers before a new one starts: the least recently used go. */
  private async evict(): Promise<void> {
    this.workers = this.workers.filter((w) => w.alive);
    while (this.workers.length >= this.maxWorkers) {
      const idle = this.workers.filter((w) => w !== this.current && !w.isBusy && !this.claimed.has(w));
      if (idle.length === 0) return;
      idle.sort((a, b) => (this.lastUse.get(a) ?? 0) - (this.lastUse.get(b) ?? 0));
      const victim = idle[0]!;
      this.workers = this.workers.filter((w) => w !== victim);
      this.retire(victim);
    }
  }

  /**
   * Runs an operation on a worker; when the worker's process died or hung, it is killed and the
   * operation is retried once on a fresh worker started from the same place.
   */
  /**
   * A lost replay that never got past its snapshot (QEMU spinning at the snapshot's icount, a
   * known QEMU problem with some snapshots): later moves start elsewhere. Never the initial one.
   */
  private avoidIfStuck(w: ReplayWorker): void {
    if (w.icount !== w.snapshot.icount || w.snapshot.icount === 0) return;
    const point = this.ladder.find((p) => p.name === w.snapshot.name);
    if (point) this.unusable.add(point);
    // Spare processes parked at that snapshot would spin the same way: they go too.
    for (const x of this.workers) {
      if (x === w || x === this.current || x.isBusy || this.claimed.has(x)) continue;
      if (x.snapshot.name === w.snapshot.name && x.icount === x.snapshot.icount) {
        this.workers = this.workers.filter((y) => y !== x);
        this.retire(x);
      }
    }
  }

  private async withRecovery(w: ReplayWorker, op: () => Promise<StopCause>): Promise<StopCause> {
    try {
      return await op();
    } catch (e) {
      if (w.alive) throw e;
      this.workers = this.workers.filter((x) => x !== w);
      this.avoidIfStuck(w);
      await w.kill();
      if (this.current === w) this.current = undefined;
      throw new ReplayWorkerLost(e as Error);
    }
  }
}

/** A replay process died under an operation; callers (seek) retry once. */
export class ReplayWorkerLost extends Error {
  constructor(override readonly cause: Error) {
    super(`a replay process died: ${cause.message}`);
  }
}
