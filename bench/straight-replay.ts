/**
 * One straight replay per QEMU of a recording: from its initial snapshot forward through seeded
 * random time points (and its end), registers read at each; the wall time of each and whether
 * every QEMU reached the same icount and registers as the first. It compares QEMU builds (Debian's,
 * Rewind's, a patch being tried: docs/replay-research.md) on the same log.
 *
 *   node out/bench/straight-replay.js BUNDLE [--points N] [--seed S] --qemu system --qemu /path/to/out/native/qemu ...
 *
 * Each --qemu is a REWIND_QEMU value: `system` (Debian's) or a build of Rewind's QEMU.
 */
import { promises as fs } from 'node:fs';
import { basename } from 'node:path';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { chooseQemu } from '../recorder-bridge/src/qemu/qemu-binary';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { seededPoints, straightReplay, type StraightStop } from '../test/support/straight-replay';
import { benchArgs, benchHeader, now, resultsPath, since } from './common';

async function main(): Promise<void> {
  const { values, positionals } = benchArgs('straight-replay', { allowPositionals: true, options: { points: { type: 'string', default: '100' }, seed: { type: 'string', default: '20261205' }, qemu: { type: 'string', multiple: true } } });
  const bundlePath = positionals[0];
  const qemus = values.qemu ?? [];
  if (!bundlePath || qemus.length === 0) throw new Error('usage: node out/bench/straight-replay.js BUNDLE [--points N] [--seed S] --qemu system --qemu /path/to/out/native/qemu ...');
  const b = await Bundle.open(bundlePath);
  const end = replayEnd(await b.readIndex());
  const points = [...seededPoints(Number(values.seed), Number(values.points), end), end];
  const runs: Array<{ qemu: string; seconds: number; seen: StraightStop[] }> = [];
  for (const q of qemus) {
    process.env['REWIND_QEMU'] = q;
    const path = chooseQemu(b.manifest.qemu.binary).path;
    const t0 = now();
    const seen = await straightReplay(b, end, points);
    const seconds = since(t0);
    runs.push({ qemu: `${q} (${path})`, seconds, seen });
    process.stderr.write(`${q}: ${seconds.toFixed(2)} s\n`);
  }
  const same = (i: number): number => points.filter((_, k) => {
    const a = runs[0]!.seen[k]!;
    const d = runs[i]!.seen[k]!;
    return a.icount === d.icount && Object.keys(a.registers).every((r) => a.registers[r] === d.registers[r]);
  }).length;
  const lines = [
    await benchHeader('straight-replay', `one straight replay per QEMU from the initial snapshot through ${points.length} time points (seed ${values.seed}, uniform over the recording, and its end), registers read at each`),
    `- recording: ${basename(bundlePath)}, ${end.toLocaleString('en-US')} instructions, recorded by ${b.manifest.qemu.banner}`,
    '',
    '| QEMU | wall time | vs the first | same icount and registers as the first |',
    '|---|---|---|---|',
    ...runs.map((r, i) => `| ${r.qemu} | ${r.seconds.toFixed(2)} s | ${(runs[0]!.seconds / r.seconds).toFixed(1)}x | ${i === 0 ? '(the reference)' : `${same(i)} of ${points.length}`} |`),
    '',
  ];
  const file = `${resultsPath('straight-replay')}-${basename(bundlePath).replace(/\.rewind$/, '')}.md`;
  await fs.writeFile(file, lines.join('\n'));
  process.stdout.write(lines.join('\n'));
  process.exit(runs.every((_, i) => i === 0 || same(i) === points.length) ? 0 : 1);
}

main().catch((e: Error) => {
  process.stderr.write(`straight-replay: ${e.message}\n`);
  process.exit(2);
});
