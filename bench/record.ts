/**
 * bench/record: the cost of recording. The same guest and workload run under plain TCG with
 * `-icount shift=auto` (the baseline: no record/replay) and under `rewind record`, alternating,
 * in one run; reports medians and ratios, and log bytes per guest-second raw and compressed.
 *
 *   node out/bench/record.js [--runs N] [--kernel FILE --input FILE]
 *
 * Results are appended as a Markdown table to bench/results/record-DATE.md (plus .json).
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { record, runWithoutRecording } from '../recorder-bridge/src/record/recorder';
import { benchArgs, benchHeader, median, resultsPath, ROOT } from './common';

interface Sample {
  workload: string;
  baselineSeconds: number;
  recordGuestSeconds: number;
  recordTotalSeconds: number;
  icount: number;
  guestSeconds: number | undefined;
  logRaw: number;
  logCompressed: number;
  snapshots: number;
  snapshotBytes: number;
}

async function main(): Promise<void> {
  const { values } = benchArgs('record', { options: { runs: { type: 'string' }, kernel: { type: 'string' }, input: { type: 'string' } } });
  const runs = Number(values.runs ?? 3);
  const kernel = values.kernel ?? join(ROOT, 'guests/demo/build/kernel.elf');
  const workloads: Array<{ name: string; input?: string; timeoutSeconds?: number }> = values.input
    ? [{ name: values.input, input: values.input }]
    : [
        { name: 'compute (demo guest, spin ~6e8 instructions)', input: join(ROOT, 'guests/demo/inputs/long.txt') },
        { name: 'idle (demo guest at its prompt, 5 s)', timeoutSeconds: 5 },
      ];
  const work = mkdtempSync(join(tmpdir(), 'rewind-bench-'));
  const samples: Sample[] = [];
  try {
    for (const w of workloads) {
      for (let i = 0; i < runs; i++) {
        process.stderr.write(`${w.name}: run ${i + 1}/${runs}\n`);
        const base = await runWithoutRecording({ kernel, ...(w.input ? { input: w.input } : {}), ...(w.timeoutSeconds ? { timeoutSeconds: w.timeoutSeconds } : {}) });
        const out = join(work, `r${samples.length}.rewind`);
        const t0 = Date.now();
        await record({ kernel, out, ...(w.input ? { input: w.input } : {}), ...(w.timeoutSeconds ? { timeoutSeconds: w.timeoutSeconds } : {}) });
        const total = (Date.now() - t0) / 1000;
        const m = (await Bundle.open(out)).manifest;
        samples.push({
          workload: w.name,
          baselineSeconds: base.wallSeconds,
          recordGuestSeconds: m.recording.wallSeconds,
          recordTotalSeconds: total,
          icount: m.recording.totalIcount,
          guestSeconds: m.recording.guestSeconds ?? (w.timeoutSeconds ? m.recording.wallSeconds : undefined),
          logRaw: m.stats.logBytesRaw,
          logCompressed: m.stats.logBytesCompressed,
          snapshots: m.snapshots.list.length,
          snapshotBytes: m.files['snapshots.qcow2']!.size,
        });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const rows = workloads.map((w) => {
    const s = samples.filter((x) => x.workload === w.name);
    const base = median(s.map((x) => x.baselineSeconds));
    const rec = median(s.map((x) => x.recordGuestSeconds));
    const recTotal = median(s.map((x) => x.recordTotalSeconds));
    const gs = median(s.map((x) => x.guestSeconds ?? NaN));
    return {
      workload: w.name,
      runs: s.length,
      icount: median(s.map((x) => x.icount)),
      baselineSeconds: base,
      recordSeconds: rec,
      ratio: rec / base,
      recordTotalSeconds: recTotal,
      guestSeconds: gs,
      logRawPerGuestSecond: median(s.map((x) => x.logRaw)) / gs,
      logCompressedPerGuestSecond: median(s.map((x) => x.logCompressed)) / gs,
      compression: median(s.map((x) => x.logRaw / x.logCompressed)),
      snapshots: median(s.map((x) => x.snapshots)),
      snapshotBytes: median(s.map((x) => x.snapshotBytes)),
    };
  });

  const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const kb = (n: number) => (Number.isFinite(n) ? `${(n / 1024).toFixed(1)} KiB` : 'n/a');
  const table = [
    '| workload | instructions | -icount only (s) | rr record (s) | ratio | record incl. bundling (s) | guest s | log raw / guest s | log gzip / guest s | gzip ratio | snapshots (bytes) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.workload} | ${(r.icount / 1e6).toFixed(1)}M | ${f(r.baselineSeconds)} | ${f(r.recordSeconds)} | **${f(r.ratio)}x** | ${f(r.recordTotalSeconds)} | ${f(r.guestSeconds)} | ${kb(r.logRawPerGuestSecond)} | ${kb(r.logCompressedPerGuestSecond)} | ${f(r.compression, 0)}x | ${r.snapshots} (${kb(r.snapshotBytes)}) |`,
    ),
  ].join('\n');
  const header = await benchHeader('record', `medians of ${runs} alternating runs; wall seconds from the first instruction to QEMU's exit`);
  const text = `${header}\n${table}\n`;
  process.stdout.write(text);
  const path = resultsPath('record');
  await fs.mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  await fs.writeFile(path + '.md', text);
  await fs.writeFile(path + '.json', JSON.stringify({ rows, samples }, null, 2) + '\n');
  process.stderr.write(`results: ${path}.md\n`);
}

main().catch((e) => {
  process.stderr.write(`bench/record: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
