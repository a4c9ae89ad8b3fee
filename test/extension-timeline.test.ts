/**
 * The Recording Timeline's data and geometry (extension/novsc/timeline-data.ts and
 * timeline-scale.ts): counts per bucket that add up, exact where the events were all fetched,
 * bounded work on recordings with millions of events, and zoom / pan / ticks that keep what the
 * user points at in place. The events source is a stand-in for `rewind/events` with the bridge's
 * semantics (filter by kinds and range, first `limit` by icount, `truncated`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventsResult, RewindEventsArguments } from '@rewind/protocol';
import { bucketOf, countEvents, normalizeView, TIMELINE_LANES, TimelineData, type EventFetcher } from '../extension/novsc/timeline-data';
import { clampSpan, follow, icountAt, MIN_SPAN, pan, ticks, xOf, zoomAround } from '../extension/novsc/timeline-scale';

type Ev = EventsResult['events'][number];

/** Generates events on demand: kind -> (count, icount of the i-th event), without holding millions of objects. */
function syntheticIndex(end: number, kinds: Record<string, { count: number; at: (i: number) => number }>): { fetch: EventFetcher; requests: RewindEventsArguments[]; returned: () => number } {
  const requests: RewindEventsArguments[] = [];
  let returned = 0;
  // Global index order = by icount; events of different kinds get ids from a merged order estimate.
  const counts = Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, v.count]));
  function firstAtOrAfter(k: string, icount: number): number {
    const { count, at } = kinds[k]!;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (at(mid) < icount) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  const fetch: EventFetcher = async (args) => {
    requests.push(args);
    const limit = args.limit ?? 10_000;
    const from = args.from ?? 0;
    const to = args.to ?? end;
    const chosen = (args.kinds ?? Object.keys(kinds)).filter((k) => k in kinds);
    // Merge the kinds' streams in icount order, up to limit + 1 (to know whether it was cut).
    const cursors = chosen.map((k) => ({ k, i: firstAtOrAfter(k, from) }));
    const out: Ev[] = [];
    while (out.length <= limit) {
      let best: { k: string; i: number } | undefined;
      for (const c of cursors) {
        if (c.i >= kinds[c.k]!.count || kinds[c.k]!.at(c.i) > to) continue;
        if (!best || kinds[c.k]!.at(c.i) < kinds[best.k]!.at(best.i)) best = c;
      }
      if (!best) break;
      out.push({ index: best.i, icount: kinds[best.k]!.at(best.i), kind: best.k as Ev['kind'], offset: 0 });
      best.i++;
    }
    const truncated = out.length > limit;
    const events = out.slice(0, limit);
    returned += events.length;
    return { totalIcount: end, counts, events, truncated };
  };
  return { fetch, requests, returned: () => returned };
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

describe('timeline data', () => {
  it('counts small lanes exactly at any zoom, from one fetch per lane', async () => {
    const end = 5_700_000;
    const src = syntheticIndex(end, {
      interrupt: { count: 144, at: (i) => 1000 + i * 39_000 },
      'serial-input': { count: 43, at: (i) => 5_600_000 + i * 2000 },
      clock: { count: 4414, at: (i) => i * 1290 },
    });
    const data = await TimelineData.open(src.fetch);
    assert.equal(data.end, end);
    const opened = src.requests.length;
    assert.equal(opened, 1 + 3, 'the counts, then one request per non-empty lane');
    assert.deepEqual(data.sampledLanes, []);

    const whole = await data.view({ from: 0, to: end, buckets: 300 });
    assert.deepEqual(whole.map((l) => l.id), TIMELINE_LANES.map((l) => l.id));
    const lane = (id: string) => whole.find((l) => l.id === id)!;
    assert.equal(sum(lane('interrupts').counts), 144);
    assert.equal(sum(lane('serial').counts), 43);
    assert.equal(sum(lane('clock').counts), 4414);
    assert.equal(lane('disk').total, 0);
    assert.equal(lane('kernel').total, 0, 'no kernel problems outside a Linux guest');
    assert.deepEqual(lane('disk').estimated, []);
    assert.equal(lane('serial').counts.length, 300);
    // Every serial byte falls in the bucket its icount says.
    for (const e of lane('serial').events!) assert.ok(lane('serial').counts[bucketOf(e.icount, { from: 0, to: end, buckets: 300 })]! > 0);
    // A zoomed view needs no more requests and is still exact.
    const zoom = await data.view({ from: 5_600_000, to: 5_650_000, buckets: 100 });
    assert.equal(src.requests.length, opened);
    assert.equal(sum(zoom.find((l) => l.id === 'serial')!.counts), 26); // 5.600M .. 5.650M inclusive, every 2000
    assert.equal(zoom.find((l) => l.id === 'serial')!.events!.length, 26);
  });

  it('stays bounded on millions of events: sampled lanes cost at most slices x sliceLimit events per view', async () => {
    const end = 4_000_000_000;
    const clocks = 3_000_000;
    const timer = 400_000;
    const src = syntheticIndex(end, {
      clock: { count: clocks, at: (i) => Math.floor((i * end) / clocks) },
      // Interrupts crowd into the first half: a non-uniform density the estimate must follow.
      interrupt: { count: timer, at: (i) => Math.floor((i * end) / 2 / timer) },
      'serial-input': { count: 50, at: (i) => 3_000_000_000 + i * 1000 },
    });
    const data = await TimelineData.open(src.fetch, { slices: 16, sliceLimit: 1000 });
    assert.deepEqual(data.sampledLanes.sort(), ['clock', 'interrupts']);
    const before = src.returned();
    const t0 = Date.now();
    const lanes = await data.view({ from: 0, to: end, buckets: 800 });
    const elapsed = Date.now() - t0;
    const fetched = src.returned() - before;
    assert.ok(fetched <= 2 * 16 * 1000, `fetched ${fetched} events for one view`);
    assert.ok(elapsed < 2000, `${elapsed} ms`);
    const clock = lanes.find((l) => l.id === 'clock')!;
    const irq = lanes.find((l) => l.id === 'interrupts')!;
    assert.equal(clock.counts.length, 800);
    assert.equal(clock.events, undefined, 'no per-event details when zoomed out on millions');
    assert.ok(clock.estimated.length > 700, 'most clock buckets are estimates');
    // The estimates add up to the truth within 5%, and follow where the events are.
    assert.ok(Math.abs(sum(clock.counts) - clocks) / clocks < 0.05, `clock total ${sum(clock.counts)}`);
    assert.ok(Math.abs(sum(irq.counts) - timer) / timer < 0.05, `interrupt total ${sum(irq.counts)}`);
    assert.ok(sum(irq.counts.slice(0, 400)) > 0.95 * sum(irq.counts), 'interrupts are in the first half');
    assert.ok(sum(irq.counts.slice(420)) === 0, 'and none in the second');
    // The small lane stays exact.
    assert.equal(sum(lanes.find((l) => l.id === 'serial')!.counts), 50);

    // Zoomed far in, a dense lane is exact again and carries its events.
    const narrow = await data.view({ from: 2_000_000_000, to: 2_000_100_000, buckets: 200 });
    const c2 = narrow.find((l) => l.id === 'clock')!;
    assert.deepEqual(c2.estimated, []);
    const expected = Math.floor((2_000_100_000 * clocks) / end) - Math.ceil((2_000_000_000 * clocks) / end) + 1;
    assert.ok(Math.abs(sum(c2.counts) - expected) <= 1, `${sum(c2.counts)} vs ${expected}`);
    assert.equal(c2.events!.length, sum(c2.counts));
  });

  it('puts a Linux guest\'s kernel problems on a lane of their own', async () => {
    const end = 90_000_000;
    const src = syntheticIndex(end, {
      interrupt: { count: 500, at: (i) => i * 150_000 },
      'kernel-warning': { count: 2, at: (i) => 40_000_000 + i * 1_000_000 },
      'kernel-panic': { count: 1, at: () => 89_000_000 },
    });
    const data = await TimelineData.open(src.fetch);
    const lanes = await data.view({ from: 0, to: end, buckets: 90 });
    const kernel = lanes.find((l) => l.id === 'kernel')!;
    assert.equal(kernel.total, 3);
    assert.deepEqual(kernel.events!.map((e) => e.kind), ['kernel-warning', 'kernel-warning', 'kernel-panic']);
    const view = { from: 0, to: end, buckets: 90 };
    assert.equal(kernel.counts[bucketOf(40_000_000, view)], 1);
    assert.equal(kernel.counts[bucketOf(89_000_000, view)], 1);
    assert.equal(sum(kernel.counts), 3);
    assert.equal(lanes.find((l) => l.id === 'interrupts')!.total, 500, 'kernel events are not interrupts');
  });

  it('drops a view as soon as a newer one is asked for', async () => {
    const src = syntheticIndex(1e9, { clock: { count: 1_000_000, at: (i) => i * 1000 } });
    const data = await TimelineData.open(src.fetch, { fullLimit: 10 });
    let calls = 0;
    await assert.rejects(data.view({ from: 0, to: 1e9, buckets: 100 }, () => ++calls > 2), /superseded/);
  });

  it('clamps views and counts sorted events with a binary search', () => {
    assert.deepEqual(normalizeView({ from: -5, to: 2e9, buckets: 1e6 }, 1000), { from: 0, to: 1000, buckets: 4000 });
    assert.deepEqual(normalizeView({ from: 900, to: 100, buckets: 0 }, 1000), { from: 900, to: 900, buckets: 1 });
    const evs = [10, 20, 20, 30, 99, 100].map((icount, index) => ({ index, icount, kind: 'interrupt' }));
    const r = countEvents(evs, { from: 20, to: 99, buckets: 4 }, 10);
    assert.deepEqual(r.counts, [3, 0, 0, 1]); // buckets of 20: [20,40) [40,60) [60,80) [80,100)
    assert.deepEqual(r.events!.map((e) => e.icount), [20, 20, 30, 99]);
    assert.equal(countEvents(evs, { from: 0, to: 100, buckets: 2 }, 3).events, undefined, 'no details over the limit');
  });
});

describe('timeline geometry', () => {
  const end = 5_700_000;

  it('zooms around the point under the mouse', () => {
    const v = { from: 0, to: end };
    const anchor = 4_000_000;
    const z = zoomAround(v, anchor, 0.25, end);
    assert.ok(Math.abs(z.to - z.from - end / 4) <= 1);
    const before = xOf(anchor, v, 1000);
    const after = xOf(anchor, z, 1000);
    assert.ok(Math.abs(before - after) < 1, `the anchor stays put: ${before} -> ${after}`);
    // Never narrower than MIN_SPAN, never wider than the recording, never outside it.
    const tiny = zoomAround({ from: 100, to: 200 }, 150, 0.001, end);
    assert.equal(tiny.to - tiny.from, MIN_SPAN);
    assert.deepEqual(zoomAround(v, anchor, 10, end), { from: 0, to: end });
    assert.deepEqual(clampSpan({ from: end - 10, to: end + 990 }, end), { from: end - 1000, to: end });
  });

  it('pans within the recording and maps pixels to icounts and back', () => {
    assert.deepEqual(pan({ from: 0, to: 1000 }, -500, end), { from: 0, to: 1000 });
    assert.deepEqual(pan({ from: 1000, to: 2000 }, 500, end), { from: 1500, to: 2500 });
    const v = { from: 1_000_000, to: 2_000_000 };
    assert.equal(icountAt(250, v, 1000), 1_250_000);
    assert.equal(xOf(1_250_000, v, 1000), 250);
  });

  it('follows the position only when it leaves the view', () => {
    const v = { from: 1_000_000, to: 2_000_000 };
    assert.equal(follow(v, 1_500_000, end), v);
    assert.equal(follow(v, 1_990_000, end, 0), v, 'a click near the edge does not move the view');
    assert.deepEqual(follow(v, 1_990_000, end), { from: 1_490_000, to: 2_490_000 }, 'a step that reaches the edge recentres');
    assert.deepEqual(follow(v, 3_000_000, end), { from: 2_500_000, to: 3_500_000 });
    assert.deepEqual(follow({ from: end - 1000, to: end }, end, end), { from: end - 1000, to: end });
  });

  it('puts ticks at round numbers with labels that tell them apart', () => {
    const t = ticks({ from: 0, to: end }, 7);
    assert.deepEqual(t.map((x) => x.label), ['0', '1M', '2M', '3M', '4M', '5M']);
    const fine = ticks({ from: 5_680_000, to: 5_700_000 }, 5);
    assert.deepEqual(fine.map((x) => x.label), ['5.68M', '5.685M', '5.69M', '5.695M', '5.7M']);
    const labels = ticks({ from: 5_686_100, to: 5_686_300 }, 6).map((x) => x.label);
    assert.equal(new Set(labels).size, labels.length, labels.join(' '));
    assert.deepEqual(ticks({ from: 0, to: 0 }, 5), []);
  });
});
