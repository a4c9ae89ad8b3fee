/**
 * A recording's index in memory, for queries: per bucket (a stretch of time points the engine
 * marked exactly), the executions of every instruction address and the 4-byte grains written. It
 * says which buckets CAN hold a breakpoint hit or a write; the engine replays only those, with the
 * gdbstub, to land exactly (docs/index-design.md). Built from the plugin's output as stored
 * (index-store.ts), parsed straight into typed arrays: the Linux fixture's index has a few million
 * (address, count) pairs, too many for Maps of bigints.
 */
import { UserError } from '../errors';
import type { TimePoint } from '../timepoint';
import { GRAIN_SHIFT, PLUGIN_OUTPUT_MAGIC, VarintReader } from './plugin-output';

/** A stretch [from, to) of time points. */
export interface IndexSpan {
  from: TimePoint;
  to: TimePoint;
}

/** One slice of the index as stored: its buckets' exact time points and the plugin's output for them. */
export interface IndexSliceData {
  spans: ReadonlyArray<readonly [TimePoint, TimePoint]>;
  output: Buffer;
}

interface Bucket extends IndexSpan {
  /**
   * Instruction addresses, ascending, as their high and low 32 bits, and how often each ran
   * (attempts) in the bucket. Not a BigUint64Array: reading a kernel address (above 2^63) from one
   * allocates a bigint, and a file's counts look a thousand addresses up in every bucket.
   */
  hi: Uint32Array;
  lo: Uint32Array;
  counts: Uint32Array;
  /** Written grains as runs, ascending and disjoint: first grain, number of grains. */
  grainStarts: BigUint64Array;
  grainCounts: Uint32Array;
}

export class RecordingIndex {
  private totalsCache?: Map<bigint, number>;

  private constructor(private readonly buckets: Bucket[]) {}

  /** The index of the slices (in time order, each covering its spans). `what` names it in errors. */
  static fromSlices(slices: readonly IndexSliceData[], what: string): RecordingIndex {
    const buckets: Bucket[] = [];
    for (const [k, s] of slices.entries()) {
      const parsed = parseBuckets(s.output, `${what}, slice ${k}`);
      if (parsed.length !== s.spans.length) throw damaged(`${what}, slice ${k}`, `it holds ${parsed.length} buckets for ${s.spans.length} time spans`);
      parsed.forEach((b, i) => buckets.push({ ...b, from: s.spans[i]![0], to: s.spans[i]![1] }));
    }
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]!.from !== buckets[i - 1]!.to) throw damaged(what, `its buckets leave a gap or overlap at time point ${buckets[i - 1]!.to}`);
    }
    return new RecordingIndex(buckets);
  }

  /** The time points it covers: [start, end). */
  get start(): TimePoint {
    return this.buckets[0]?.from ?? 0;
  }

  get end(): TimePoint {
    return this.buckets[this.buckets.length - 1]?.to ?? 0;
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Whether [from, to) lies inside what the index covers. */
  covers(from: TimePoint, to: TimePoint): boolean {
    return from >= this.start && to <= this.end;
  }

  /** The buckets overlapping [from, to) in which one of the addresses ran, ascending. */
  executing(addresses: readonly bigint[], from: TimePoint, to: TimePoint): IndexSpan[] {
    const keys = addresses.map(split);
    return this.spansWhere(from, to, (b) => keys.some((k) => countAt(b, k) > 0));
  }

  /** The buckets overlapping [from, to) with a store to a grain that [address, address + size) touches, ascending. */
  writing(address: bigint, size: number, from: TimePoint, to: TimePoint): IndexSpan[] {
    const first = address >> GRAIN_SHIFT;
    const last = (address + BigInt(Math.max(1, size)) - 1n) >> GRAIN_SHIFT;
    return this.spansWhere(from, to, (b) => grainsOverlap(b, first, last));
  }

  /** Executions of `address` in each bucket overlapping [from, to) where it ran: for counting without replaying. */
  countsOf(address: bigint, from: TimePoint = this.start, to: TimePoint = this.end): Array<IndexSpan & { count: number }> {
    return this.countsOfMany([address], from, to).get(address)!;
  }

  /**
   * countsOf for many addresses in one walk over the buckets (a source file's lines and functions):
   * per address, the buckets overlapping [from, to) where it ran, with its count there.
   */
  countsOfMany(addresses: readonly bigint[], from: TimePoint = this.start, to: TimePoint = this.end): Map<bigint, Array<IndexSpan & { count: number }>> {
    const sorted = [...new Set(addresses)].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const qh = Uint32Array.from(sorted, (a) => Number(a >> 32n));
    const ql = Uint32Array.from(sorted, (a) => Number(a & 0xffffffffn));
    const out = new Map<bigint, Array<IndexSpan & { count: number }>>(sorted.map((a) => [a, []]));
    const lists = sorted.map((a) => out.get(a)!);
    const first = this.indexAt(Math.max(from, this.start)) ?? this.buckets.length;
    for (let k = first; k < this.buckets.length && this.buckets[k]!.from < to; k++) {
      const b = this.buckets[k]!;
      // Both ascending: each query address is looked for from where the one before it was.
      let i = 0;
      for (let q = 0; q < sorted.length && i < b.hi.length; q++) {
        i = lowerBound(b, qh[q]!, ql[q]!, i);
        if (i < b.hi.length && b.hi[i] === qh[q] && b.lo[i] === ql[q]) lists[q]!.push({ from: b.from, to: b.to, count: b.counts[i]! });
      }
    }
    return out;
  }

  /**
   * Executions per address in [lo, hi) over the buckets overlapping [from, to): whole-bucket
   * counts (the caller replays partial buckets at the edges when it needs them exact).
   */
  countsInRange(lo: bigint, hi: bigint, from: TimePoint = this.start, to: TimePoint = this.end): Map<bigint, number> {
    if (from <= this.start && to >= this.end) {
      const out = new Map<bigint, number>();
      for (const [a, c] of this.totals()) if (a >= lo && a < hi) out.set(a, c);
      return out;
    }
    const out = new Map<bigint, number>();
    const [loHi, loLo] = split(lo);
    const [hiHi, hiLo] = split(hi);
    for (const b of this.overlapping(from, to)) {
      for (let i = lowerBound(b, loHi, loLo); i < b.hi.length && less(b.hi[i]!, b.lo[i]!, hiHi, hiLo); i++) {
        const a = join(b, i);
        out.set(a, (out.get(a) ?? 0) + b.counts[i]!);
      }
    }
    return out;
  }

  /** Executions per address over the whole index (computed once). */
  totals(): Map<bigint, number> {
    if (!this.totalsCache) {
      const t = new Map<bigint, number>();
      for (const b of this.buckets) {
        for (let i = 0; i < b.hi.length; i++) {
          const a = join(b, i);
          t.set(a, (t.get(a) ?? 0) + b.counts[i]!);
        }
      }
      this.totalsCache = t;
    }
    return this.totalsCache;
  }

  /** The bucket holding time point t (its span), if covered. */
  bucketAt(t: TimePoint): IndexSpan | undefined {
    const i = this.indexAt(t);
    return i === undefined ? undefined : { from: this.buckets[i]!.from, to: this.buckets[i]!.to };
  }

  private spansWhere(from: TimePoint, to: TimePoint, keep: (b: Bucket) => boolean): IndexSpan[] {
    const out: IndexSpan[] = [];
    for (const b of this.overlapping(from, to)) if (keep(b)) out.push({ from: b.from, to: b.to });
    return out;
  }

  private *overlapping(from: TimePoint, to: TimePoint): Generator<Bucket> {
    let i = this.indexAt(Math.max(from, this.start)) ?? this.buckets.length;
    for (; i < this.buckets.length && this.buckets[i]!.from < to; i++) yield this.buckets[i]!;
  }

  private indexAt(t: TimePoint): number | undefined {
    let lo = 0;
    let hi = this.buckets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.buckets[mid]!.to <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.buckets.length && this.buckets[lo]!.from <= t ? lo : undefined;
  }
}

/** An address as its high and low 32 bits (Bucket's form). */
function split(a: bigint): [number, number] {
  return [Number(a >> 32n), Number(a & 0xffffffffn)];
}

function join(b: Bucket, i: number): bigint {
  return (BigInt(b.hi[i]!) << 32n) | BigInt(b.lo[i]!);
}

function less(h1: number, l1: number, h2: number, l2: number): boolean {
  return h1 < h2 || (h1 === h2 && l1 < l2);
}

function countAt(b: Bucket, key: [number, number]): number {
  const h = key[0];
  const l = key[1];
  const i = lowerBound(b, h, l);
  return i < b.hi.length && b.hi[i] === h && b.lo[i] === l ? b.counts[i]! : 0;
}

/** The first index of a bucket's addresses, from `start` on, that is >= (h, l). */
function lowerBound(b: Bucket, h: number, l: number, start = 0): number {
  const his = b.hi;
  const los = b.lo;
  let lo = start;
  let hi = his.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const mh = his[mid]!;
    if (mh < h || (mh === h && los[mid]! < l)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function grainsOverlap(b: Bucket, first: bigint, last: bigint): boolean {
  // The last run starting at or before `last` is the only one that can reach into [first, last].
  const i = lowerBoundBig(b.grainStarts, last + 1n) - 1;
  return i >= 0 && b.grainStarts[i]! + BigInt(b.grainCounts[i]!) > first;
}

/** The first index whose value is >= v in an ascending array. */
function lowerBoundBig(a: BigUint64Array, v: bigint): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function damaged(what: string, why: string): UserError {
  return new UserError(`${what}: ${why}; run \`rewind index BUNDLE --force\` to rebuild the index`, 'index-damaged');
}

/** Parses the plugin's output (plugin-output.ts has the format) into typed arrays, bucket by bucket. */
function parseBuckets(buf: Buffer, what: string): Array<Omit<Bucket, 'from' | 'to'>> {
  if (buf.length < 8 || buf.toString('latin1', 0, 8) !== PLUGIN_OUTPUT_MAGIC) throw damaged(what, `it does not start with ${PLUGIN_OUTPUT_MAGIC}`);
  const out: Array<Omit<Bucket, 'from' | 'to'>> = [];
  const outer = new VarintReader(buf, buf.length, what);
  outer.pos = 8;
  while (!outer.done) {
    const length = outer.small();
    const end = outer.pos + length;
    if (end > buf.length) throw damaged(what, `record ${out.length} is cut`);
    const r = new VarintReader(buf, end, what);
    r.pos = outer.pos;
    if (r.small() !== out.length) throw damaged(what, `record ${out.length} is out of sequence`);
    const n = r.small();
    const hi = new Uint32Array(n);
    const lo = new Uint32Array(n);
    const counts = new Uint32Array(n);
    let a = 0n;
    for (let i = 0; i < n; i++) {
      a += r.big();
      hi[i] = Number(a >> 32n);
      lo[i] = Number(a & 0xffffffffn);
      counts[i] = r.small();
    }
    const m = r.small();
    const grainStarts = new BigUint64Array(m);
    const grainCounts = new Uint32Array(m);
    let grainEnd = 0n;
    for (let i = 0; i < m; i++) {
      const first = grainEnd + r.big();
      const grains = r.small();
      grainStarts[i] = first;
      grainCounts[i] = grains;
      grainEnd = first + BigInt(grains);
    }
    if (r.pos !== end) throw damaged(what, `record ${out.length} has ${end - r.pos} bytes left over`);
    out.push({ hi, lo, counts, grainStarts, grainCounts });
    outer.pos = end;
  }
  return out;
}
