/**
 * The index pass's cost and output (issue 12, part 1): a plain replay of a whole recording against
 * replays of its slices with the index plugin, with several bucket sizes, and what the plugin writes.
 *
 *   node out/bench/index-pass.js [--demo] [--bundle B ...] [--buckets 1M,4M]
 *
 * --demo records guests/demo/inputs/long.txt (about 6e8 instructions, a snapshot every 50M); each
 * --bundle is measured as it is (read only: replays run on private copies). Per recording:
 *  - a plain replay of the whole recording in one process (init to end);
 *  - per slice (recorded snapshot to the next one's start point), one after the other: plain, with
 *    the plugin and one bucket per slice (the instrumentation alone), and with the plugin and each
 *    bucket size (instrumentation plus a stop and a mark per bucket);
 *  - the parallel wall time on 2 cores is computed from the measured slice times (slices taken in
 *    order by whichever of 2 workers is free first), not measured: this benchmark runs one QEMU at
 *    a time so as not to disturb other work on the machine (and a shared machine would distort it);
 *  - sizes: the plugin's output raw and deflated (zlib level 6), distinct instruction addresses,
 *    distinct addresses and written grains per bucket (median, max).
 * Results: bench/results/index-pass-DATE.md and .json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { runPluginPass, type IndexBucket } from '../recorder-bridge/src/index/plugin-pass';
import { record } from '../recorder-bridge/src/record/recorder';
import { QuietPoints } from '../recorder-bridge/src/replay/quiet-points';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { probeOf } from '../recorder-bridge/src/replay/snapshot-verify';
import { ReplayWorker, type LadderPoint } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { parseIcount } from '../recorder-bridge/src/timepoint';
import { killAllChildren } from '../recorder-bridge/src/util/processes';
import { benchArgs, benchHeader, median, now, resultsPath, ROOT, since } from './common';

const DEMO_INPUT = 'guests/demo/inputs/long.txt';
const DEMO_SNAPSHOT_EVERY = 50_000_000;
/** Cores the parallel pass is computed for. */
const CORES = 2;
/** A shared machine can hold a replay process up for seconds: not a hang here. */
const HANG_MS = 30_000;

interface Slice {
  point: LadderPoint;
  from: number;
  to: number;
}

interface PassStats {
  bucket: number | 'slice';
  seconds: number[];
  rawBytes: number;
  deflatedBytes: number;
  buckets: number;
  distinctAddresses: number;
  addressesPerBucket: { median: number; max: number };
  linesPerBucket: { median: number; max: number };
  /** Sum of all counts minus the instructions the buckets span (attempts of faulting instructions), and the buckets where they differ. */
  excessAttempts: number;
  bucketsWithExcess: number;
}

interface RecordingResult {
  label: string;
  instructions: number;
  slices: Array<{ snapshot: string; from: number; to: number }>;
  plainWhole: number;
  plainSlices: number[];
  passes: PassStats[];
}

/** Finishing times of `jobs` (seconds each, in order) on `cores` workers that each take the next job when free. */
function makespan(jobs: number[], cores: number): number {
  const free = new Array<number>(cores).fill(0);
  for (const j of jobs) {
    const k = free.indexOf(Math.min(...free));
    free[k] = free[k]! + j;
  }
  return Math.max(...free);
}

function spread(xs: number[]): { median: number; max: number } {
  return { median: median(xs), max: xs.length ? Math.max(...xs) : NaN };
}

function excess(buckets: IndexBucket[]): { excessAttempts: number; bucketsWithExcess: number } {
  const diffs = buckets.map((b) => [...b.counts.values()].reduce((a, c) => a + c, 0) - (b.to - b.from));
  return { excessAttempts: diffs.reduce((a, d) => a + d, 0), bucketsWithExcess: diffs.filter((d) => d !== 0).length };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = now();
  const r = await fn();
  return [r, since(t0)];
}

async function measure(path: string, label: string, bucketSizes: number[]): Promise<RecordingResult> {
  const bundle = await Bundle.open(path);
  const index = await bundle.readIndex();
  const end = replayEnd(index);
  const ws = await ReplayWorkspace.create(bundle);
  try {
    const quiet = new QuietPoints(index.events.map((e) => e.icount));
    const points = bundle.manifest.snapshots.list.filter((s) => s.icount < end && s.verified !== false).map((s) => ({ ...s, image: ws.snapshots, source: 'record' as const }));
    const starts = points.map((p) => probeOf(p, quiet));
    const slices: Slice[] = points.map((point, i) => ({ point, from: starts[i]!, to: i + 1 < points.length ? starts[i + 1]! : end }));
    const say = (m: string) => process.stderr.write(`${label}: ${m}\n`);

    say(`plain replay of ${end} instructions`);
    const [, plainWhole] = await timed(async () => {
      const w = await ReplayWorker.start(bundle, ws, slices[0]!.point, end, { hangMs: HANG_MS });
      try {
        await w.runTo(end);
      } finally {
        await w.kill();
      }
    });
    const plainSlices: number[] = [];
    for (const s of slices) {
      const [, t] = await timed(async () => {
        const w = await ReplayWorker.start(bundle, ws, s.point, s.to, { startAt: s.from, hangMs: HANG_MS });
        try {
          await w.runTo(s.to);
        } finally {
          await w.kill();
        }
      });
      plainSlices.push(t);
    }
    const passes: PassStats[] = [];
    for (const size of [Number.MAX_SAFE_INTEGER, ...bucketSizes]) {
      say(`plugin pass, buckets of ${size === Number.MAX_SAFE_INTEGER ? 'one slice' : size}`);
      const seconds: number[] = [];
      const outputs: Buffer[] = [];
      const buckets: IndexBucket[] = [];
      for (const s of slices) {
        const [r, t] = await timed(() => runPluginPass({ bundle, workspace: ws, snapshot: s.point, from: s.from, to: s.to, bucket: size, hangMs: HANG_MS }));
        seconds.push(t);
        outputs.push(r.output);
        buckets.push(...r.buckets);
      }
      const raw = Buffer.concat(outputs);
      const addresses = new Set<bigint>();
      for (const b of buckets) for (const a of b.counts.keys()) addresses.add(a);
      passes.push({
        bucket: size === Number.MAX_SAFE_INTEGER ? 'slice' : size,
        seconds,
        rawBytes: raw.length,
        deflatedBytes: deflateSync(raw, { level: 6 }).length,
        buckets: buckets.length,
        distinctAddresses: addresses.size,
        addressesPerBucket: spread(buckets.map((b) => b.counts.size)),
        linesPerBucket: spread(buckets.map((b) => b.writes.reduce((n, [, k]) => n + k, 0))),
        ...excess(buckets),
      });
    }
    return { label, instructions: end, slices: slices.map((s) => ({ snapshot: s.point.name, from: s.from, to: s.to })), plainWhole, plainSlices, passes };
  } finally {
    await ws.dispose();
  }
}

const s = (x: number) => `${x.toFixed(2)} s`;
const mb = (x: number) => `${(x / 1e6).toFixed(2)} MB`;

function report(r: RecordingResult): string {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const lines = [
    `## ${r.label}: ${(r.instructions / 1e6).toFixed(1)}M instructions, ${r.slices.length} slices (${r.slices.map((x) => x.snapshot).join(', ')})`,
    '',
    `Plain replay of the whole recording in one process: **${s(r.plainWhole)}**.`,
    '',
    '| run | slices one after the other | parallel on 2 cores (computed) | vs plain whole | per bucket over one bucket per slice |',
    '|---|---|---|---|---|',
    `| plain, per slice | ${s(sum(r.plainSlices))} | ${s(makespan(r.plainSlices, CORES))} | ${(makespan(r.plainSlices, CORES) / r.plainWhole).toFixed(2)}x | |`,
  ];
  const slicePass = r.passes.find((p) => p.bucket === 'slice')!;
  for (const p of r.passes) {
    const perBucket = p.bucket === 'slice' ? '' : `${(((sum(p.seconds) - sum(slicePass.seconds)) / Math.max(1, p.buckets - slicePass.buckets)) * 1000).toFixed(2)} ms`;
    lines.push(`| plugin, ${p.bucket === 'slice' ? 'one bucket per slice' : `${p.bucket / 1e6}M buckets`} | ${s(sum(p.seconds))} | ${s(makespan(p.seconds, CORES))} | ${(makespan(p.seconds, CORES) / r.plainWhole).toFixed(2)}x | ${perBucket} |`);
  }
  lines.push('', '| buckets | count | output raw | deflated | distinct instruction addresses | addresses per bucket (median / max) | written lines per bucket (median / max) | counts minus instructions (buckets where they differ) |', '|---|---|---|---|---|---|---|---|');
  for (const p of r.passes) {
    lines.push(`| ${p.bucket === 'slice' ? 'one per slice' : `${p.bucket / 1e6}M`} | ${p.buckets} | ${mb(p.rawBytes)} | ${mb(p.deflatedBytes)} | ${p.distinctAddresses} | ${p.addressesPerBucket.median} / ${p.addressesPerBucket.max} | ${p.linesPerBucket.median} / ${p.linesPerBucket.max} | ${p.excessAttempts} (${p.bucketsWithExcess}) |`);
  }
  lines.push('', 'Slice times (s): plain ' + r.plainSlices.map((x) => x.toFixed(2)).join(', '));
  for (const p of r.passes) lines.push(`; plugin ${p.bucket === 'slice' ? 'one bucket' : `${p.bucket / 1e6}M`} ` + p.seconds.map((x) => x.toFixed(2)).join(', '));
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values } = benchArgs('index-pass', { options: { demo: { type: 'boolean' }, bundle: { type: 'string', multiple: true }, buckets: { type: 'string', default: '1M,4M' } } });
  const sizes = values.buckets!.split(',').map((x) => parseIcount(x) ?? NaN);
  if (sizes.some((x) => !(x > 0))) throw new Error(`--buckets: ${values.buckets} is not a list of instruction counts`);
  const work = mkdtempSync(join(tmpdir(), 'rewind-bench-index-'));
  const load: number[] = [loadavg()[0]!];
  const loadTimer = setInterval(() => load.push(loadavg()[0]!), 10_000);
  loadTimer.unref();
  const results: RecordingResult[] = [];
  try {
    if (values.demo || !values.bundle?.length) {
      const out = join(work, 'demo.rewind');
      process.stderr.write(`recording ${DEMO_INPUT} ...\n`);
      await record({ kernel: join(ROOT, 'guests/demo/build/kernel.elf'), input: join(ROOT, DEMO_INPUT), out, snapshotEvery: DEMO_SNAPSHOT_EVERY });
      results.push(await measure(out, `demo guest, ${DEMO_INPUT}`, sizes));
    }
    for (const b of values.bundle ?? []) results.push(await measure(b, basename(b), sizes));
  } finally {
    clearInterval(loadTimer);
    killAllChildren();
    rmSync(work, { recursive: true, force: true });
  }
  const header = await benchHeader(
    'index-pass',
    'one QEMU at a time; a plain replay of the whole recording, then every slice plain and with the index plugin (one bucket per slice, then each bucket size); the parallel figure is the makespan of the measured slice times on 2 workers',
  );
  const md = `${header}- load average (1 min) during the run: ${Math.min(...load).toFixed(2)} to ${Math.max(...load).toFixed(2)}\n\n${results.map(report).join('\n')}`;
  const path = resultsPath('index-pass');
  writeFileSync(`${path}.md`, md);
  writeFileSync(`${path}.json`, JSON.stringify({ load, results }, null, 2) + '\n');
  process.stdout.write(md);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  killAllChildren();
  process.exit(1);
});
