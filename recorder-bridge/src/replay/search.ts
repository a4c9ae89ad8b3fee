/**
 * The replay engine's search strategy: queries over a range of the recording replay it in slices
 * cut at snapshots, `parallelism` slices at a time, each in a replay process of its own; searches
 * backward from a time point scan windows newest first, each window as long as all the newer ones
 * together, and stop at the newest window with a hit. A query's slice with many hits is scanned by a
 * probe replay (probe-scan.ts) instead of a gdbstub stop at each.
 */
import { CancelledError } from '../errors';
import type { IndexSpan, RecordingIndex } from '../index/recording-index';
import { clip, mergeAdjacent } from './candidate-runs';
import type { TimePoint } from '../timepoint';
import type { SnapshotLadder } from './ladder';
import { nowNs, type EngineObservers } from './observer';
import type { ReplayWorker } from './worker';
import type { LadderPoint, MemoryRange } from './worker-types';
import type { Hit, Slice, Traps } from './scan-types';
import { probeCanScan, type ProbeChoice } from './probe-plugin';
import { probeFinds, probeSliceOnce, probeWorthIt } from './probe-scan';
import { ReplayWorkerLost, type WorkerPool } from './worker-pool';

export type { Hit, Traps } from './scan-types';

/** A window of candidate buckets starts a process of its own only where that saves this much replay (cutAtSnapshots). */
const MIN_SLICE = 20_000_000;
/**
 * A landing by the index's counts stops at every hit in its bucket on the way to the last: up to
 * this many (each stop a gdbstub round trip); more, and the scan with a lander beside it is cheaper.
 */
export const DIRECT_LANDING_MAX_HITS = 64;

/** What every query and search over the recording takes. */
export interface ScanOptions {
  /** Stops the scan (it then fails with a CancelledError). */
  signal?: AbortSignal;
  /** Instructions scanned of the total: 0 first, then after each slice or window. */
  onProgress?: (done: TimePoint, total: TimePoint) => void;
}

/** A query's range: [from, to), by default the whole recording. */
export interface ScanRange extends ScanOptions {
  from?: TimePoint;
  to?: TimePoint;
  /** Read at every write found, and before it (value history): the hits then carry `before` and `value`. */
  sample?: MemoryRange;
}

/**
 * Where going backward lands for a hit: a breakpoint stops where it is hit and a watchpoint just
 * BEFORE the access (the accessing instruction next), as gdb expects of reverse execution: the
 * watched value is then still the old one, and the stack shows the writing code. An interrupt's
 * frame is written at its time point itself, before the interrupted instruction runs.
 */
export function landing(h: Hit): TimePoint {
  return h.dataAddress !== undefined && !h.delivery ? h.icount - 1 : h.icount;
}

export class SliceSearch {
  /** The recording's index, once loaded or built: it narrows every scan to the buckets that can hold a trigger. */
  private index?: RecordingIndex;

  constructor(
    private readonly ladder: SnapshotLadder,
    private readonly pool: WorkerPool,
    private readonly parallelism: number,
    private readonly end: TimePoint,
    private readonly observers: EngineObservers,
    /**
     * The probe plugin, where the engine's QEMU can load it (probe-plugin.ts probeFor): asked at
     * the first query that could use it, since finding out reads the QEMU binary (about 0.2 s).
     */
    private readonly findProbe?: () => ProbeChoice | undefined,
  ) {}

  private probeChoice?: { probe: ProbeChoice | undefined };

  private get probe(): ProbeChoice | undefined {
    return (this.probeChoice ??= { probe: this.findProbe?.() }).probe;
  }

  /**
   * Whether a query's scan of this slice runs as a probe replay (probe-scan.ts): when the plugin
   * can find what the gdbstub would, and the stops it saves are worth a process of its own.
   */
  private probes(what: Traps, slice: Slice, sample?: MemoryRange): boolean {
    if (!probeCanScan(what, sample)) return false;
    const probe = this.probe;
    return probe !== undefined && (probe.always ? probeFinds(this.index, what, slice) : probeWorthIt(this.index, what, slice));
  }

  /** Uses the index from now on (undefined: none again). */
  useIndex(index: RecordingIndex | undefined): void {
    this.index = index;
  }

  /** Whether scans of [from, to) for these traps go by the index. */
  indexed(what: Traps, from: TimePoint, to: TimePoint): boolean {
    return this.indexKnows(what, from, to);
  }

  /** Every trigger in the range, by slices in parallel, in time order. */
  async query(what: Traps, range: ScanRange): Promise<Hit[]> {
    const from = range.from ?? 0;
    const to = range.to ?? this.end;
    const candidates = this.candidates(what, from, to);
    let slices = this.slices(from, to);
    if (candidates) {
      // Only the slices with candidate buckets, each walked through its own.
      const runs = mergeAdjacent(candidates);
      slices = slices
        .map((s) => ({ ...s, runs: clip(runs, s.from, s.to) }))
        .filter((s) => s.runs.length > 0);
    }
    const total = slices.reduce((n, s) => n + (s.to - s.from), 0);
    let done = 0;
    range.onProgress?.(0, total);
    const out: Hit[][] = new Array(slices.length);
    let next = 0;
    const runner = async () => {
      while (next < slices.length) {
        if (range.signal?.aborted) throw new CancelledError('query');
        const k = next++;
        const slice = slices[k]!;
        out[k] = await this.scanSlice(slice, what, range.signal, range.sample, this.probes(what, slice, range.sample));
        done += slice.to - slice.from;
        range.onProgress?.(done, total);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.parallelism, slices.length) }, runner));
    return uniqueHits(out.flat());
  }

  /**
   * With the index, the stretches of [from, to) that a forward run has to replay with its traps
   * (the candidate buckets, adjacent ones merged), ascending; undefined when the index cannot say.
   */
  forwardRuns(what: Traps, from: TimePoint, to: TimePoint): IndexSpan[] | undefined {
    const candidates = this.candidates(what, from, to);
    return candidates && mergeAdjacent(candidates);
  }

  /**
   * The newest trigger whose landing is before `before` (the one landing latest), if any, searching
   * backward. With watchpoints the search runs one instruction past `before`: a write ending exactly
   * there lands just before it, and a replay-break at `before` can win over its watchpoint (measured).
   */
  async lastBefore(before: TimePoint, what: Traps, opts: ScanOptions, label: string): Promise<Hit | undefined> {
    return (await this.landingBefore(before, what, opts, label, false)).hit;
  }

  /**
   * The earliest trigger at or after `from` (before `to`), searching forward: with the index its
   * first candidate bucket alone, then windows of twice as many buckets (a breakpoint's candidate
   * always holds a hit; a stack filter may reject them); without, slice by slice, `parallelism` at
   * a time. Scans only as far as the first window with a hit.
   */
  async firstFrom(from: TimePoint, to: TimePoint, what: Traps, opts: ScanOptions, label: string): Promise<Hit | undefined> {
    const candidates = this.candidates(what, from, to);
    const windows = candidates ? this.groupedWindows(candidates) : this.slices(from, to);
    let scanned = 0;
    const total = windows.reduce((n, w) => n + (w.to - w.from), 0);
    opts.onProgress?.(0, total);
    for (let i = 0; i < windows.length; i += this.parallelism) {
      if (opts.signal?.aborted) throw new CancelledError(label);
      const batch = windows.slice(i, i + this.parallelism);
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      opts.signal?.addEventListener('abort', onAbort);
      const runs = batch.map((w) => this.scanSlice(w, { breakpoints: what.breakpoints ?? [], watchpoints: what.watchpoints ?? [] }, stop.signal));
      // Later windows are cancelled once an earlier one has hits: their rejections are expected.
      for (const r of runs) r.catch(() => undefined);
      try {
        for (let k = 0; k < runs.length; k++) {
          const hits = (await runs[k]!).filter((h) => h.icount >= from && h.icount < to);
          scanned += batch[k]!.to - batch[k]!.from;
          opts.onProgress?.(scanned, total);
          if (hits.length > 0) return hits.reduce((a, b) => (b.icount < a.icount ? b : a));
        }
      } catch (e) {
        if (opts.signal?.aborted) throw new CancelledError(label);
        throw e;
      } finally {
        stop.abort();
        opts.signal?.removeEventListener('abort', onAbort);
        await Promise.allSettled(runs);
      }
    }
    return undefined;
  }

  /**
   * lastBefore for a caller that goes to the hit next. With the index, a second process (the
   * lander) replays plainly to the newest window's first candidate bucket while the scan runs and
   * waits there; when that window holds the hit, the lander comes back still claimed, so that no
   * background start evicts it before the landing takes it (the caller releases it), and the
   * landing replays only inside the bucket instead of from the snapshot again.
   */
  async landingBefore(before: TimePoint, what: Traps, opts: ScanOptions, label: string, land = true): Promise<{ hit?: Hit; lander?: ReplayWorker }> {
    const candidates = this.candidates(what, 0, before);
    opts.onProgress?.(0, before);
    const direct = land && candidates ? await this.landByCounts(before, what, candidates, opts.signal) : undefined;
    if (direct) {
      opts.onProgress?.(before, before);
      return direct;
    }
    if (opts.signal?.aborted) throw new CancelledError(label);
    const windows = candidates ? this.indexedWindows(candidates) : this.reverseWindows((what.watchpoints?.length ?? 0) > 0 ? before + 1 : before);
    const found = await this.searchBack(windows, what, (hits) => hits.filter((h) => landing(h) < before), label, opts.signal, (done) => opts.onProgress?.(Math.min(done, before), before), land && candidates !== undefined);
    const hit = found?.hits.reduce((a, b) => (landing(b) >= landing(a) ? b : a));
    return { ...(hit ? { hit } : {}), ...(found?.lander ? { lander: found.lander } : {}) };
  }

  /**
   * A backward search for breakpoints whose newest candidate bucket lies wholly before `before`:
   * the index counts their hits in it (exactly, as the gdbstub triggers: docs/index-design.md), so
   * ONE process replays to the bucket and stops at its n-th hit, the answer, and stands there for
   * the landing. The scan and the lander of searchBack replay the same stretch twice at once.
   * Undefined (the caller searches as without it) when it does not apply: watchpoints, stack
   * filters, a bucket that `before` cuts, too many hits to stop at one by one, or a count the replay
   * did not confirm.
   */
  private async landByCounts(before: TimePoint, what: Traps, candidates: IndexSpan[], signal?: AbortSignal): Promise<{ hit: Hit; lander: ReplayWorker } | undefined> {
    const bps = what.breakpoints ?? [];
    const bucket = candidates[candidates.length - 1];
    if (!this.index || !bucket || bucket.to > before || bps.length === 0 || bps.some((b) => b.stack) || (what.watchpoints?.length ?? 0) > 0) return undefined;
    let n = 0;
    for (const spans of this.index.countsOfMany([...new Set(bps.map((b) => b.address))], bucket.from, bucket.to).values()) for (const c of spans) n += c.count;
    if (n === 0 || n > DIRECT_LANDING_MAX_HITS) return undefined;
    let w: ReplayWorker | undefined;
    let landed = false;
    try {
      w = await this.pool.claimAtOrBefore(bucket.from);
      if (w.icount < bucket.from) await w.runTo(bucket.from);
      const { hits } = await w.collect({ breakpoints: bps, until: bucket.to, ...(signal ? { signal } : {}) }, n);
      const last = hits[hits.length - 1];
      landed = !signal?.aborted && hits.length === n && last !== undefined && last.icount < bucket.to && w.icount === last.icount;
      if (landed && last) return { hit: { icount: last.icount, address: last.address }, lander: w };
    } catch (e) {
      if (signal?.aborted || this.pool.closed) throw e;
      // Best effort: the search below finds the answer without it.
    } finally {
      // A process that did not land goes, also when the search is cancelled (it was claimed).
      if (w && !landed) this.pool.discard(w, w.alive ? 'used' : 'lost');
    }
    return undefined;
  }

  /**
   * Scans windows newest first, `parallelism` at a time, and returns the accepted hits of the
   * newest window that has any. Older windows of the same batch still running then are cancelled:
   * a hit close to now never waits for a long scan further back. `land`: a process is parked at the
   * start of each batch's newest window meanwhile, and returned (claimed) when that window has the hits.
   */
  private async searchBack(windows: Slice[], what: Traps, accept: (hits: Hit[]) => Hit[], label: string, signal: AbortSignal | undefined, onProgress: (done: TimePoint) => void, land: boolean): Promise<{ hits: Hit[]; lander?: ReplayWorker } | undefined> {
    let scanned = 0;
    for (let i = 0; i < windows.length; i += this.parallelism) {
      if (signal?.aborted) throw new CancelledError(label);
      const batch = windows.slice(i, i + this.parallelism);
      const stop = new AbortController();
      // The lander goes on to its place only while the newest window may hold the answer.
      const noLanding = new AbortController();
      const onAbort = () => {
        stop.abort();
        noLanding.abort();
      };
      signal?.addEventListener('abort', onAbort);
      const lander = land ? this.park(batch[0]!, noLanding.signal) : undefined;
      const runs = batch.map((w) => this.scanSlice(w, { breakpoints: what.breakpoints ?? [], watchpoints: what.watchpoints ?? [] }, stop.signal));
      // Older windows are cancelled once a newer one has hits: their rejections are expected.
      for (const r of runs) r.catch(() => undefined);
      let keep = false;
      try {
        for (let k = 0; k < runs.length; k++) {
          const hits = accept(await runs[k]!);
          if (k === 0 && hits.length === 0) noLanding.abort();
          scanned += batch[k]!.to - batch[k]!.from;
          onProgress(scanned);
          if (hits.length > 0) {
            keep = k === 0;
            const parked = keep ? await lander : undefined;
            return { hits, ...(parked ? { lander: parked } : {}) };
          }
        }
      } catch (e) {
        noLanding.abort();
        if (signal?.aborted) throw new CancelledError(label);
        throw e;
      } finally {
        stop.abort();
        signal?.removeEventListener('abort', onAbort);
        await Promise.allSettled(runs);
        const parked = await lander;
        if (parked && !keep) this.pool.release(parked);
      }
    }
    return undefined;
  }

  /**
   * Parks a process at the start of a window's first candidate run, for the landing that may
   * follow; returns it still claimed (undefined when it failed). Best effort: when it fails or is
   * stopped, the landing starts where it would have without it.
   */
  private async park(window: Slice, stop: AbortSignal): Promise<ReplayWorker | undefined> {
    const at = window.runs?.[0]?.from ?? window.from;
    let w: ReplayWorker | undefined;
    try {
      w = await this.pool.claimAtOrBefore(at, window.snapshot);
      if (!stop.aborted && w.icount < at) await w.run({ until: at, signal: stop });
    } catch {
      // best effort (see above)
    }
    if (w?.alive) return w;
    if (w) this.pool.discard(w, 'lost');
    return undefined;
  }

  /**
   * The slices covering [from, to), cut at snapshots: the first starts where a scan reaching `from`
   * does (ladder.scanStart), the others at recorded and index snapshots, and at added ones where they
   * split a long stretch (ladder.cutsScan).
   */
  private slices(from: TimePoint, to: TimePoint): Slice[] {
    const { ladder } = this;
    const snaps: LadderPoint[] = [ladder.scanStart(from)];
    const points = ladder.all().filter((p) => ladder.startOf(p) > ladder.startOf(snaps[0]!) && ladder.startOf(p) < to && ladder.usable(p));
    for (const p of points) if (ladder.cutsScan(p, snaps[snaps.length - 1]!, to)) snaps.push(p);
    const out: Slice[] = [];
    for (let i = 0; i < snaps.length; i++) {
      const s = snaps[i]!;
      const next = i + 1 < snaps.length ? ladder.startOf(snaps[i + 1]!) : this.end + 1;
      const a = Math.max(from, ladder.startOf(s));
      const b = Math.min(to, next);
      if (a < b) out.push({ snapshot: s, from: a, to: b });
    }
    return out;
  }

  /**
   * With an index that covers [from, to) and knows these traps (breakpoints, write watchpoints),
   * the buckets overlapping [from, to) that can hold a trigger, ascending (clipped to the range);
   * undefined when the scan has to go without the index.
   */
  private candidates(what: Traps, from: TimePoint, to: TimePoint): IndexSpan[] | undefined {
    const ix = this.index;
    // A range past the end (the bridge's default `to`) is the range up to the end.
    to = Math.min(to, this.end);
    if (!ix || !this.indexKnows(what, from, to)) return undefined;
    const watches = what.watchpoints ?? [];
    const lists: IndexSpan[][] = [];
    const bps = (what.breakpoints ?? []).map((b) => b.address);
    if (bps.length > 0) lists.push(ix.executing(bps, from, to));
    for (const w of watches) lists.push(ix.writing(w.address, w.size, from, to));
    const byStart = new Map<TimePoint, IndexSpan>();
    for (const s of lists.flat()) byStart.set(s.from, s);
    return [...byStart.values()].sort((a, b) => a.from - b.from).map((s) => ({ from: Math.max(s.from, from), to: Math.min(s.to, to) }));
  }

  /** Whether the index covers [from, to) and knows these traps (breakpoints, write watchpoints): cheap, without finding the buckets. */
  private indexKnows(what: Traps, from: TimePoint, to: TimePoint): boolean {
    to = Math.min(to, this.end);
    return this.index !== undefined && this.index.covers(from, to) && to > from && (what.watchpoints ?? []).every((w) => w.access === 'write');
  }

  /**
   * With an index, the windows of a backward search: the candidate buckets newest first, the
   * newest alone, then each window twice as many buckets as the one before (a trap the stack
   * filter rejects in the newest buckets, as in a reverse finish, costs few windows), each walked
   * by one process with traps only in its buckets.
   */
  private indexedWindows(candidates: IndexSpan[]): Slice[] {
    return this.groupedWindows([...candidates].reverse(), true);
  }

  /**
   * Windows of the candidate buckets in the order given: the first alone, then each twice as many
   * as the one before; a window whose buckets lie far apart is cut where a snapshot saves replaying
   * the way between them (its parts keep the order: newest first when `newestFirst`).
   */
  private groupedWindows(inOrder: IndexSpan[], newestFirst = false): Slice[] {
    const out: Slice[] = [];
    for (let i = 0, size = 1; i < inOrder.length; i += size, size *= 2) {
      const parts = this.cutAtSnapshots(mergeAdjacent(inOrder.slice(i, i + size).sort((a, b) => a.from - b.from)));
      out.push(...(newestFirst ? parts.reverse() : parts));
    }
    return out;
  }

  /**
   * Ascending runs as windows, each walked by one process from where a scan reaching its first run
   * starts (ladder.scanStart: the nearest snapshot, unless an added one that saves little).
   * A run starts a window of its own when its start snapshot lies at least MIN_SLICE past the end
   * of the run before: a process from there replays that much less than one going on (measured on
   * Linux: a watch whose 7 candidate buckets lay across 970M instructions walked them all in one
   * process), and the windows run side by side.
   */
  private cutAtSnapshots(runs: IndexSpan[]): Slice[] {
    const out: Slice[] = [];
    for (const run of runs) {
      const snapshot = this.ladder.scanStart(run.from);
      const last = out[out.length - 1];
      if (last && this.ladder.startOf(snapshot) < last.to + MIN_SLICE) {
        last.runs!.push(run);
        last.to = run.to;
      } else out.push({ snapshot, from: run.from, to: run.to, runs: [run] });
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
      const p = this.ladder.nearest(Math.max(0, Math.min(end - 1, end - covered)));
      out.push({ snapshot: p, from: this.ladder.startOf(p), to: end });
      end = this.ladder.startOf(p);
    }
    return out;
  }

  /**
   * Replays one slice in a worker of its own and collects the triggers inside it. A worker that
   * died or hung under the scan is replaced (attempts()).
   */
  private async scanSlice(slice: Slice, what: Traps, signal?: AbortSignal, sample?: MemoryRange, probing = false): Promise<Hit[]> {
    const startedNs = nowNs();
    const probe = probing ? this.probe?.plugin : undefined;
    const hits = await this.pool.attempts('scan', () => (probe ? probeSliceOnce(this.pool, probe, slice, what, signal, sample) : this.scanSliceOnce(slice, what, signal, sample)));
    this.observers.emit({ type: 'slice-scanned', from: slice.from, to: slice.to, hits: hits.length, probe: probe !== undefined, startedNs, endedNs: nowNs() });
    return hits;
  }

  private async scanSliceOnce(slice: Slice, what: Traps, signal?: AbortSignal, sample?: MemoryRange): Promise<Hit[]> {
    const start = slice.runs?.[0]?.from ?? slice.from;
    // A spare parked inside the slice (before its start) saves starting a process.
    const w = await this.pool.claimAtOrBefore(start, slice.snapshot);
    // Cancellation stops the slice's replay at once: the worker is only this scan's.
    const onAbort = () => w.interrupt();
    signal?.addEventListener('abort', onAbort);
    const watching = (what.watchpoints?.length ?? 0) > 0;
    try {
      const hits: Hit[] = [];
      for (const run of slice.runs ?? [slice]) {
        if (run.from > w.icount) await w.runTo(run.from);
        if (signal?.aborted) throw new CancelledError('query');
        // A write by a run's last instruction triggers at run.to: an indexed run goes one
        // instruction further, since a replay-break at run.to can win over the watchpoint there.
        const until = slice.runs && watching ? run.to + 1 : run.to;
        // Each write's old value is the one before it in the run: no write goes unseen in between.
        let before = sample && sample.length > 0 ? await w.readMemory(sample.address, sample.length).catch(() => undefined) : undefined;
        const { hits: stops, stop } = await w.collect({ ...what, until, ...(signal ? { signal } : {}), ...(sample ? { sample } : {}) });
        if (signal?.aborted) throw new CancelledError('query');
        for (const h of stops) {
          if (h.kind !== 'watchpoint') {
            if (h.icount >= run.from && h.icount < run.to) hits.push({ icount: h.icount, address: h.address, ...(h.task ? { task: h.task } : {}) });
            continue;
          }
          const sampled = sample ? { ...(before ? { before } : {}), ...(h.value ? { value: h.value } : {}) } : {};
          before = h.value;
          if (h.icount >= run.from && h.icount < run.to + 1) hits.push({ icount: h.icount, address: h.address, dataAddress: h.dataAddress, ...(h.delivery ? { delivery: h.delivery } : {}), ...sampled, ...(h.task ? { task: h.task } : {}) });
        }
        if (stop.kind === 'end') break;
      }
      return hits;
    } catch (e) {
      if (w.alive || signal?.aborted || this.pool.closed) throw e;
      throw new ReplayWorkerLost(e as Error, w.snapshot);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Used up (it ran to the slice's end): it goes, without making the caller wait for its exit.
      this.pool.discard(w, w.alive ? 'used' : 'lost');
    }
  }
}

/** The hits in order, each once: a guard where slices meet (a write may end exactly at a slice's end). */
function uniqueHits(hits: Hit[]): Hit[] {
  const seen = new Set<string>();
  return hits.filter((h) => {
    const key = `${h.icount}:${h.address}:${h.dataAddress ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
