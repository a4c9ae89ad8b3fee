/**
 * bench/probe-scans: whole-recording queries that stop at many hits, by probe replays
 * (replay/probe-scan.ts) and by a gdbstub stop at each hit, on one recording with its index: all
 * hits of a kernel function, and the value history of a global (every write, old and new value),
 * both with the Linux task of each hit as the editor's views ask for them. Functions and globals are
 * drawn with a fixed seed from what the index says: functions entered at least --min-hits times,
 * globals written in at least --min-buckets buckets (the queries probes are for; rarer ones go by
 * gdbstub stops either way). Timed at the engine, from the call to its answer; the answers of both
 * ways compared hit for hit. QEMU + gdb on a sample: a breakpoint (or a watchpoint) whose commands
 * record each stop's icount and continue, over one replay to the end.
 * --session: as in an editor's session, each engine first moves (to a time point drawn with the
 * seed) and settles its background work (spare processes, blank and probe blanks) before each query;
 * without it, the engines stay at the start, where they launch nothing ahead.
 *
 *   node out/bench/probe-scans.js [--bundle B --symbols VMLINUX] [--seed S] [--functions N] [--globals N]
 *        [--min-hits N] [--min-buckets N] [--baseline-sample K] [--baseline-timeout S] [--session]
 *
 * Without --bundle: the Linux fixture (test/linux-fixture.ts), its index built first if missing.
 * Results: bench/results/probe-scans-DATE.md and .json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplayEngine, type Hit } from '../recorder-bridge/src/replay/engine';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { symbolTable } from '../test/support/elf';
import { linuxTaskProbe } from '../test/support/linux-task-probe';
import { prng } from '../test/support/prng';
import { Baseline, type BaselineResult } from './baseline';
import { indexedLinuxRecording } from './linux-recording';
import { benchArgs, benchHeader, fmtN, fmtS, killLeftovers, median, progress, quantile, ratio, resultsPath, settle, since, now, sourceState } from './common';

const KERNEL_TEXT = 0xffffffff80000000n;
const HANG_MS = 30_000;

interface Row {
  kind: 'hits' | 'history';
  name: string;
  address: bigint;
  size: number;
  /** What the index says: runs of the entry (hits), candidate buckets (history). */
  indexed: number;
  found: number;
  probe: number;
  gdbstub: number;
  /** Slices the probe way scanned by probe replays, and by gdbstub stops (where it did not pay). */
  probeSlices: number;
  gdbSlices: number;
  same: boolean;
  baseline?: BaselineResult & { stops?: number };
}

const show = (h: Hit) => `${h.icount}:${h.address.toString(16)}:${h.dataAddress?.toString(16) ?? ''}:${h.before?.toString('hex') ?? ''}:${h.value?.toString('hex') ?? ''}:${h.task ? `${h.task.task.toString(16)},${h.task.pid},${h.task.comm}` : ''}`;

/** gdb's way: a breakpoint or watchpoint whose commands record each stop's icount and continue, to the end. */
function baselineScript(spec: string, watch: boolean, end: number): string[] {
  const code = [
    'import gdb, re',
    '__stops = []',
    'def __rec():',
    '    m = re.search(r"(\\d+)\\s*$", gdb.execute("monitor info replay", to_string=True).strip())',
    '    __stops.append(int(m.group(1)) if m else -1)',
    `__b = gdb.Breakpoint(${JSON.stringify(spec)}${watch ? ', gdb.BP_WATCHPOINT' : ''})`,
    '__b.commands = "silent\\npython __rec()\\ncontinue"',
  ].join('\n');
  return [`python exec(${JSON.stringify(code)})`, `monitor replay_break ${end}`, 'continue', 'python print("STOPS %d" % len(__stops)); sys.stdout.flush()'];
}

async function main(): Promise<void> {
  const source = sourceState();
  const { values } = benchArgs('probe-scans', {
    options: {
      bundle: { type: 'string' },
      symbols: { type: 'string' },
      seed: { type: 'string', default: '7' },
      functions: { type: 'string', default: '8' },
      globals: { type: 'string', default: '8' },
      'min-hits': { type: 'string', default: '100' },
      'min-buckets': { type: 'string', default: '20' },
      'baseline-sample': { type: 'string', default: '1' },
      'baseline-timeout': { type: 'string', default: '600' },
      session: { type: 'boolean', default: false },
    },
  });
  const n = (k: keyof typeof values) => Number(values[k]);
  const { bundlePath, symbols, bundle } = await indexedLinuxRecording('probe-scans', values.bundle, values.symbols);
  const task = linuxTaskProbe(symbols);
  const loadBefore = loadavg();
  const probe = await ReplayEngine.open(bundlePath, { index: 'use', probe: 'use', hangTimeoutMs: HANG_MS });
  const gdbstub = await ReplayEngine.open(bundlePath, { index: 'use', probe: 'off', hangTimeoutMs: HANG_MS });
  const rows: Row[] = [];
  try {
    const ix = probe.indexing.index;
    if (!ix) throw new Error(`the index of ${bundlePath} did not load: ${JSON.stringify(probe.indexing.status)}`);
    const totals = ix.totals();
    const table = [...symbolTable(symbols)].filter(([, s]) => s.address >= KERNEL_TEXT).sort(([a], [b]) => (a < b ? -1 : 1));
    const random = prng(n('seed'));
    const draw = <T>(xs: T[], k: number): T[] => {
      const pool = [...xs];
      const out: T[] = [];
      while (out.length < k && pool.length > 0) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0]!);
      return out;
    };
    const functions = table.flatMap(([name, s]) => {
      const runs = totals.get(s.address) ?? 0;
      return runs >= n('min-hits') && runs <= 20_000 ? [{ name, address: s.address, size: 0, indexed: runs }] : [];
    });
    const globals = table.flatMap(([name, s]) => {
      if (s.size < 1n || s.size > 8n || totals.has(s.address)) return [];
      const buckets = ix.writing(s.address, Number(s.size), 0, ix.end).length;
      return buckets >= n('min-buckets') ? [{ name, address: s.address, size: Number(s.size), indexed: buckets }] : [];
    });
    progress(`bench/probe-scans: ${functions.length} functions with ${n('min-hits')} to 20,000 hits, ${globals.length} globals written in ${n('min-buckets')}+ buckets`);
    const picks = [...draw(functions, n('functions')).map((f) => ({ ...f, kind: 'hits' as const })), ...draw(globals, n('globals')).map((g) => ({ ...g, kind: 'history' as const }))];
    for (const p of picks) {
      const sample = p.kind === 'hits' ? (task ? { address: 0n, length: 0, task } : undefined) : { address: p.address, length: p.size, ...(task ? { task } : {}) };
      const timed = async (e: ReplayEngine) => {
        let probeSlices = 0;
        let gdbSlices = 0;
        const stop = e.observe((ev) => {
          if (ev.type === 'slice-scanned') ev.probe ? probeSlices++ : gdbSlices++;
        });
        const t0 = now();
        const hits = await (p.kind === 'hits' ? e.hits(p.address, sample ? { sample } : {}) : e.writes(p.address, p.size, { sample: sample! })).finally(stop);
        return { hits, seconds: since(t0), probeSlices, gdbSlices };
      };
      if (values.session) {
        // One time point for both engines: the same place, the same slices.
        const at = Math.floor(random() * probe.end);
        for (const e of [probe, gdbstub]) await e.seek(at);
        await settle([probe, gdbstub]);
      }
      const a = await timed(probe);
      const b = await timed(gdbstub);
      const same = a.hits.length === b.hits.length && a.hits.every((h, i) => show(h) === show(b.hits[i]!));
      rows.push({ kind: p.kind, name: p.name, address: p.address, size: p.size, indexed: p.indexed, found: a.hits.length, probe: a.seconds, gdbstub: b.seconds, probeSlices: a.probeSlices, gdbSlices: a.gdbSlices, same });
      progress(`  ${p.kind === 'hits' ? 'all hits of' : 'value history of'} ${p.name}: ${fmtN(a.hits.length)} in ${fmtS(a.seconds)} (${a.probeSlices} slices by probe replays, ${a.gdbSlices} by gdbstub stops); gdbstub stops only ${fmtS(b.seconds)}${same ? '' : ' (DIFFERENT answers)'}`);
    }
  } finally {
    await probe.close();
    await gdbstub.close();
  }

  const sampleSize = n('baseline-sample');
  const end = replayEnd(await bundle.readIndex());
  if (sampleSize > 0) {
    const work = mkdtempSync(join(tmpdir(), 'rewind-bench-probe-'));
    const ws = await ReplayWorkspace.create(bundle);
    try {
      const base = await Baseline.create(bundle, ws, work, [symbols]);
      for (const kind of ['hits', 'history'] as const) {
        for (const r of rows.filter((x) => x.kind === kind).slice(0, sampleSize)) {
          // gdb's watch stops where the value changes (it compares after each write QEMU reports).
          const spec = kind === 'hits' ? `*0x${r.address.toString(16)}` : `*(unsigned char (*)[${r.size}])0x${r.address.toString(16)}`;
          const b = await base.run([], baselineScript(spec, kind === 'history', end), n('baseline-timeout'), 1, `${kind === 'hits' ? 'break' : 'watch'} ${r.name} to the end`);
          const m = /^STOPS (\d+)$/m.exec(b.output ?? '');
          r.baseline = { ...b, ...(m ? { stops: Number(m[1]) } : {}) };
        }
      }
    } finally {
      await ws.dispose();
      rmSync(work, { recursive: true, force: true });
    }
  }
  const loadAfter = loadavg();

  const header = await benchHeader('probe-scans', 'all hits of a function and the value history of a global (each hit with its Linux task), by probe replays where they pay and by a gdbstub stop at each hit, both with the index; timed at the engine; QEMU + gdb: a breakpoint or watchpoint recording each stop and continuing, over one replay');
  const summary = (kind: Row['kind']) => {
    const rs = rows.filter((r) => r.kind === kind);
    const p = rs.map((r) => r.probe);
    const g = rs.map((r) => r.gdbstub);
    return `| ${kind === 'hits' ? 'all hits of a function' : 'value history of a global'} | ${rs.length} | ${fmtS(median(p))} / ${fmtS(quantile(p, 0.95))} / ${fmtS(Math.max(...p))} | ${fmtS(median(g))} / ${fmtS(quantile(g, 0.95))} / ${fmtS(Math.max(...g))} | ${ratio(median(g), median(p))} | ${rs.every((r) => r.same) ? 'yes' : 'NO'} |`;
  };
  const lines = [
    header,
    `- source: ${source}`,
    `- recording: ${bundlePath}; ${fmtN(end)} instructions; symbols ${symbols}; tasks ${task ? 'sampled at each hit' : 'not sampled (no current_task)'}`,
    `- seed ${values.seed}: ${values.functions} functions with ${values['min-hits']} to 20,000 hits, ${values.globals} globals written in ${values['min-buckets']}+ of the index's buckets`,
    `- ${values.session ? 'session: before each query both engines moved to a drawn time point and settled their background work (spares, blank and probe blanks)' : 'engines at the start: no process launched ahead (no blank or probe blank)'}`,
    `- load average (1 min) ${loadBefore[0]!.toFixed(2)} at the start, ${loadAfter[0]!.toFixed(2)} at the end`,
    '',
    '| query | pairs | probe replays p50 / p95 / max | gdbstub stops p50 / p95 / max | ratio of medians | same answers |',
    '|---|---|---|---|---|---|',
    summary('hits'),
    summary('history'),
    '',
    '| query | symbol | index says | found | probe replays | slices by probe / by gdbstub | gdbstub stops | ratio | same | QEMU + gdb (stops) | QEMU + gdb / probe |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.kind === 'hits' ? 'all hits' : 'value history'} | \`${r.name}\` | ${fmtN(r.indexed)} ${r.kind === 'hits' ? 'runs' : 'buckets'} | ${fmtN(r.found)} | ${fmtS(r.probe)} | ${r.probeSlices} / ${r.gdbSlices} | ${fmtS(r.gdbstub)} | ${ratio(r.gdbstub, r.probe)} | ${r.same ? 'yes' : 'NO'} | ${r.baseline ? `${fmtS(r.baseline.seconds, n('baseline-timeout'))}${r.baseline.stops !== undefined ? ` (${fmtN(r.baseline.stops)})` : ''}` : 'not run'} | ${r.baseline ? ratio(r.baseline.seconds, r.probe) : ''} |`),
    '',
    'QEMU + gdb\'s watch stops only where the value changes (gdb compares after each write QEMU reports), so its stops are fewer than the writes.',
    '',
  ];
  const out = resultsPath('probe-scans');
  writeFileSync(`${out}.md`, `${lines.join('\n')}\n`);
  writeFileSync(`${out}.json`, `${JSON.stringify({ bundle: bundlePath, end, session: values.session, rows: rows.map((r) => ({ ...r, address: `0x${r.address.toString(16)}` })), load: [loadBefore[0], loadAfter[0]] }, null, 2)}\n`);
  progress(`bench/probe-scans: ${out}.md`);
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench/probe-scans: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    killLeftovers('probe-scans');
    process.exit(process.exitCode ?? 0);
  });
