/**
 * The Recording Timeline's data: the recording's events by lane, counted into the buckets of
 * whatever part of the recording the webview shows. Never imports `vscode` (unit-tested).
 *
 * Why it works this way: the adapter answers `rewind/events` with the events themselves (up to
 * a limit), and has no histogram request. Lanes with few events (most of them: serial input,
 * disk, interrupts of a short run) are fetched once, whole, and counted locally at any zoom.
 * Lanes with more than `fullLimit` events (clock reads and timer interrupts of a long Linux run:
 * millions) are sampled per view: the view is cut into slices and each slice is asked for at
 * most `sliceLimit` events; a slice that comes back complete is counted exactly, one that is cut
 * short is counted exactly up to where its answer stops and estimated beyond from the density
 * seen (those buckets are marked `estimated`). So a view costs at most lanes x slices requests
 * and lanes x slices x sliceLimit events, whatever the size of the recording.
 */
import type {
  RewindEventsResponse,
  RewindEventsArguments,
  TimelineEvent,
  TimelineLaneData,
  TimelineLaneId,
  TimelineViewRange,
} from '@rewind/protocol';

export interface LaneSpec {
  id: TimelineLaneId;
  label: string;
  /** Event kinds of the index shown in this lane. */
  kinds: readonly string[];
}

/** The lanes, top to bottom. Bottom halves, checkpoints and the log's end marker are replay bookkeeping, not guest events. */
export const TIMELINE_LANES: readonly LaneSpec[] = [
  // A Linux guest's panics, oopses, BUG()s and WARN()s (the adapter's kernel-event scan); the webview hides the lane when it is empty.
  { id: 'kernel', label: 'Kernel problems', kinds: ['kernel-panic', 'kernel-oops', 'kernel-bug', 'kernel-warning'] },
  // A Linux guest's module loads and unloads (the same scan); hidden when empty, as the kernel lane.
  { id: 'modules', label: 'Modules', kinds: ['kernel-module-load', 'kernel-module-unload'] },
  // Which task a CPU switched to, at each switch (the same scan): what ran when; hidden when empty.
  { id: 'tasks', label: 'Task switches', kinds: ['kernel-task-switch'] },
  { id: 'interrupts', label: 'Interrupts', kinds: ['interrupt', 'exception'] },
  { id: 'clock', label: 'Clock', kinds: ['clock'] },
  { id: 'serial', label: 'Serial input', kinds: ['serial-input', 'char-read-all'] },
  { id: 'console', label: 'Console output', kinds: ['char-write'] },
  { id: 'disk', label: 'Disk', kinds: ['block'] },
  { id: 'network', label: 'Network', kinds: ['network'] },
  { id: 'other', label: 'Other input', kinds: ['input', 'random', 'audio', 'shutdown'] },
];

/** `rewind/events` as the timeline needs it. */
export type EventFetcher = (args: RewindEventsArguments) => Promise<Pick<RewindEventsResponse, 'events' | 'truncated' | 'counts' | 'totalIcount'>>;

export interface TimelineDataOptions {
  /** Lanes with at most this many events are fetched whole, once. */
  fullLimit?: number;
  /** Dense lanes: slices per view, and events asked for per slice. */
  slices?: number;
  sliceLimit?: number;
  /** The events themselves are sent along when a lane has at most this many in the view. */
  detailLimit?: number;
  /** Concurrent requests. */
  concurrency?: number;
}

export const MAX_BUCKETS = 4000;

export class AbortedError extends Error {
  constructor() {
    super('superseded by a newer view');
  }
}

interface Lane {
  spec: LaneSpec;
  total: number;
  /** All events, by icount, when the lane is small enough to hold. */
  all?: TimelineEvent[];
}

export class TimelineData {
  /** Requests and events fetched so far (for tests and the trace). */
  readonly stats = { requests: 0, events: 0 };
  private readonly lanes: Lane[];
  private readonly opts: Required<TimelineDataOptions>;

  private constructor(
    private readonly fetch: EventFetcher,
    readonly end: number,
    readonly counts: Record<string, number>,
    opts: TimelineDataOptions,
  ) {
    this.opts = { fullLimit: 50_000, slices: 16, sliceLimit: 1_000, detailLimit: 2_000, concurrency: 4, ...opts };
    this.lanes = TIMELINE_LANES.map((spec) => ({ spec, total: spec.kinds.reduce((n, k) => n + (counts[k] ?? 0), 0) }));
  }

  /** Reads the counts (one request), then every small lane whole. `end`: the recording's last time point, if known. */
  static async open(fetch: EventFetcher, opts: TimelineDataOptions & { end?: number } = {}): Promise<TimelineData> {
    const head = await fetch({ limit: 0 });
    const data = new TimelineData(fetch, Math.max(opts.end ?? 0, head.totalIcount), head.counts, opts);
    data.stats.requests++;
    await data.loadSmallLanes();
    return data;
  }

  private async loadSmallLanes(): Promise<void> {
    const small = this.lanes.filter((l) => l.total > 0 && l.total <= this.opts.fullLimit);
    await inParallel(small, this.opts.concurrency, async (lane) => {
      const r = await this.request({ kinds: [...lane.spec.kinds], limit: this.opts.fullLimit });
      lane.all = r.events;
      // The counts were taken from the same index; a truncated answer would mean they disagree.
      if (r.truncated) lane.all = undefined;
    });
  }

  /** Lanes whose events are fetched per view (too many to hold). */
  get sampledLanes(): TimelineLaneId[] {
    return this.lanes.filter((l) => l.total > 0 && !l.all).map((l) => l.spec.id);
  }

  /** Every lane's counts for one view. Throws AbortedError when `isStale()` turns true meanwhile. */
  async view(range: TimelineViewRange, isStale: () => boolean = () => false): Promise<TimelineLaneData[]> {
    const v = normalizeView(range, this.end);
    const out: TimelineLaneData[] = [];
    for (const lane of this.lanes) {
      if (isStale()) throw new AbortedError();
      const base = { id: lane.spec.id, label: lane.spec.label, total: lane.total };
      if (lane.total === 0) out.push({ ...base, counts: new Array<number>(v.buckets).fill(0), estimated: [] });
      else if (lane.all) out.push({ ...base, ...countEvents(lane.all, v, this.opts.detailLimit) });
      else out.push({ ...base, ...(await this.sample(lane, v, isStale)) });
    }
    return out;
  }

  private async sample(lane: Lane, v: TimelineViewRange, isStale: () => boolean): Promise<Pick<TimelineLaneData, 'counts' | 'estimated' | 'events'>> {
    const counts = new Array<number>(v.buckets).fill(0);
    const estimated = new Set<number>();
    const span = bucketSpan(v);
    const slices = Math.min(this.opts.slices, v.buckets);
    const detail: TimelineEvent[] = [];
    let exact = true;
    const parts = Array.from({ length: slices }, (_, k) => {
      const b0 = Math.floor((k * v.buckets) / slices);
      const b1 = Math.floor(((k + 1) * v.buckets) / slices);
      return { from: v.from + Math.ceil(b0 * span), to: k === slices - 1 ? v.to : v.from + Math.ceil(b1 * span) - 1 };
    });
    await inParallel(parts, this.opts.concurrency, async (part) => {
      if (isStale()) throw new AbortedError();
      if (part.to < part.from) return;
      const r = await this.request({ from: part.from, to: part.to, kinds: [...lane.spec.kinds], limit: this.opts.sliceLimit });
      let events = r.events;
      if (r.truncated && events.length > 0) {
        exact = false;
        // Events at the last icount may go on past the limit: count exactly only those before it,
        // and estimate the rest of the slice from the density seen so far.
        const last = events[events.length - 1]!.icount;
        const before = events.filter((e) => e.icount < last);
        const seen = Math.max(1, last - part.from);
        const density = (before.length > 0 ? before.length : events.length) / seen;
        events = before;
        spread(counts, estimated, v, last, part.to, density);
      }
      for (const e of events) counts[bucketOf(e.icount, v, span)]!++;
      if (exact) detail.push(...events);
    });
    for (const b of estimated) counts[b] = Math.max(1, Math.round(counts[b]!));
    const total = counts.reduce((a, b) => a + b, 0);
    return { counts, estimated: [...estimated].sort((a, b) => a - b), ...(exact && total <= this.opts.detailLimit ? { events: detail.sort((a, b) => a.icount - b.icount) } : {}) };
  }

  private async request(args: RewindEventsArguments): Promise<{ events: TimelineEvent[]; truncated: boolean }> {
    this.stats.requests++;
    const r = await this.fetch(args);
    this.stats.events += r.events.length;
    return { events: r.events.map(toTimelineEvent), truncated: r.truncated };
  }
}

/** Clamps a view to the recording and to MAX_BUCKETS. */
export function normalizeView(range: TimelineViewRange, end: number): TimelineViewRange {
  const from = clamp(Math.floor(range.from), 0, end);
  const to = clamp(Math.ceil(range.to), from, end);
  const buckets = clamp(Math.floor(range.buckets), 1, MAX_BUCKETS);
  return { from, to, buckets };
}

export function bucketSpan(v: TimelineViewRange): number {
  return (v.to - v.from + 1) / v.buckets;
}

export function bucketOf(icount: number, v: TimelineViewRange, span = bucketSpan(v)): number {
  return clamp(Math.floor((icount - v.from) / span), 0, v.buckets - 1);
}

/** Counts sorted events into the view's buckets (binary search to the view's start). */
export function countEvents(sorted: readonly TimelineEvent[], v: TimelineViewRange, detailLimit: number): Pick<TimelineLaneData, 'counts' | 'estimated' | 'events'> {
  const counts = new Array<number>(v.buckets).fill(0);
  const span = bucketSpan(v);
  let i = lowerBound(sorted, v.from);
  const start = i;
  for (; i < sorted.length && sorted[i]!.icount <= v.to; i++) counts[bucketOf(sorted[i]!.icount, v, span)]!++;
  const n = i - start;
  return { counts, estimated: [], ...(n <= detailLimit ? { events: sorted.slice(start, i) } : {}) };
}

/** Adds `density` events per instruction over [from, to] to the buckets it overlaps, marking them estimated. */
function spread(counts: number[], estimated: Set<number>, v: TimelineViewRange, from: number, to: number, density: number): void {
  const span = bucketSpan(v);
  for (let b = bucketOf(from, v, span); b <= bucketOf(to, v, span); b++) {
    const b0 = v.from + b * span;
    const overlap = Math.min(to + 1, b0 + span) - Math.max(from, b0);
    if (overlap <= 0) continue;
    counts[b]! += density * overlap;
    estimated.add(b);
  }
}

function lowerBound(sorted: readonly TimelineEvent[], icount: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.icount < icount) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function toTimelineEvent(e: RewindEventsResponse['events'][number]): TimelineEvent {
  return {
    index: e.index,
    icount: e.icount,
    kind: e.kind,
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
    ...(e.bytes !== undefined ? { bytes: e.bytes } : {}),
    ...(e.value !== undefined ? { value: e.value } : {}),
    ...(e.size !== undefined ? { size: e.size } : {}),
  };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
