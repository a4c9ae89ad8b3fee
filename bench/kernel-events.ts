/**
 * bench/kernel-events: the kernel-event scan of a Linux recording (panics, oopses, BUGs, warnings,
 * module loads and unloads, task switches: rewind/events' kernel kinds) over DAP, as the Events view
 * and the timeline wait for it: from the first rewind/events (the session at its first stop, its
 * background work settled) to the rewind/eventsChanged that announces the first part (with the
 * recording's index: everything but the task switches) and the one that announces the whole; with
 * the index (by probe replays where they pay: the default), with the index but no probe replays
 * (REWIND_PROBE=off: a gdbstub stop at each hit) and without the index (REWIND_INDEX=off), `--runs`
 * times each; every way must find the same events at the same time points.
 * QEMU + gdb learn the same: a breakpoint on each reporting function, each hit's icount read
 * (`monitor info replay`) without stopping, replayed to the end of the recording; its hits of each
 * function must be Rewind's.
 *
 *   node out/bench/kernel-events.js [--bundle B --symbols ELF] [--runs N] [--baseline-runs 0|1] [--baseline-timeout S]
 *
 * Without --bundle: the Linux fixture (test/linux-fixture.ts), its index built first if missing.
 * Results: bench/results/kernel-events-DATE.md and .json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RewindKernelEventsResponse } from '@rewind/protocol';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { RewindDapClient } from '../test/support/dap-client';
import { Baseline, type BaselineResult } from './baseline';
import { indexedLinuxRecording } from './linux-recording';
import { benchArgs, benchHeader, fmtN, fmtS, killLeftovers, median, progress, ratio, resultsPath, sourceState } from './common';

/** Time for the background work after the first stop (blank processes, spares) before the scan is asked for. */
const SETTLE_MS = 5_000;

/** 'use': the index and probe replays (the default); 'no-probe': the index, a gdbstub stop at each hit; 'off': no index. */
type ScanMode = 'use' | 'no-probe' | 'off';
const MODES: ScanMode[] = ['use', 'no-probe', 'off'];
const MODE_NAMES: Record<ScanMode, string> = { use: 'with the index, probe replays', 'no-probe': 'with the index, gdbstub stops', off: 'without the index' };

interface ScanRun {
  index: ScanMode;
  /** Seconds from the request to the announcement of the first part ('partial'), when there was one. */
  first?: number;
  /** Seconds to the announcement of the whole ('done'). */
  whole: number;
  announced: string[];
  counts: Record<string, number>;
}

/** One DAP session: the first rewind/events starts the scan in the background; the announcements are timed. */
async function scanOnce(bundle: string, symbols: string, index: ScanMode): Promise<{ run: ScanRun; result: RewindKernelEventsResponse }> {
  // The adapter's bridge reads them when it starts.
  const env = { REWIND_INDEX: index === 'off' ? 'off' : undefined, REWIND_PROBE: index === 'no-probe' ? 'off' : undefined };
  const saved = { REWIND_INDEX: process.env['REWIND_INDEX'], REWIND_PROBE: process.env['REWIND_PROBE'] };
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  const c = new RewindDapClient({ timeoutMs: 900_000 });
  try {
    await c.start();
  } finally {
    set(saved);
  }
  try {
    await c.launch({ recording: bundle, symbols: [symbols], stopOnEntry: true });
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const t0 = Date.now();
    await c.custom('rewind/events', { limit: 0 });
    // Polled every 20 ms: when the first part was announced (if it was), and the whole.
    let first: number | undefined;
    for (;;) {
      const states = c.eventsChanges().map((b) => b.kernelScan);
      if (first === undefined && states.includes('partial')) first = (Date.now() - t0) / 1000;
      if (states.includes('done') || states.includes('failed')) break;
      if (Date.now() - t0 > 900_000) throw new Error('the scan was not announced done within 900 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const whole = (Date.now() - t0) / 1000;
    const told = c.eventsChanges();
    const last = told[told.length - 1]!;
    if (last.kernelScan !== 'done') throw new Error(`the scan failed: ${last.error ?? 'no reason given'}`);
    const result = await c.custom('rewind/kernelEvents', {});
    return { run: { index, ...(first !== undefined ? { first } : {}), whole, announced: told.map((b) => b.kernelScan), counts: last.counts }, result };
  } finally {
    await c.stop().catch(() => undefined);
  }
}

/**
 * gdb: a breakpoint per function whose commands record the icount (`monitor info replay`, from
 * Python) and continue; then the replay to the end. (A Python breakpoint's stop() cannot send
 * monitor commands: gdb stops on its error.)
 */
function baselineScript(functions: Array<{ name: string; address: string }>, end: number): string[] {
  const code = [
    'import gdb, re',
    '__hits = []',
    'def __rec(where):',
    '    m = re.search(r"(\\d+)\\s*$", gdb.execute("monitor info replay", to_string=True).strip())',
    '    __hits.append((where, int(m.group(1)) if m else -1))',
    `__bps = [gdb.Breakpoint("*" + a) for a in ${JSON.stringify(functions.map((f) => f.address))}]`,
    'for b in __bps:',
    '    b.commands = "silent\\npython __rec(%r)\\ncontinue" % b.location',
  ].join('\n');
  // One -ex line: gdb's multi-line `python ... end` would read the rest from stdin.
  return [`python exec(${JSON.stringify(code)})`, `monitor replay_break ${end}`, 'continue', 'python [print("HIT %s %d" % h) for h in __hits]; sys.stdout.flush()'];
}

async function main(): Promise<void> {
  const source = sourceState();
  const { values } = benchArgs('kernel-events', {
    options: { bundle: { type: 'string' }, symbols: { type: 'string' }, runs: { type: 'string', default: '1' }, 'baseline-runs': { type: 'string', default: '1' }, 'baseline-timeout': { type: 'string', default: '900' } },
  });
  const runs = Number(values.runs);
  const baselineRuns = Number(values['baseline-runs']);
  const baselineTimeout = Number(values['baseline-timeout']);
  const { bundlePath, symbols, bundle } = await indexedLinuxRecording('kernel-events', values.bundle, values.symbols);
  const loadBefore = loadavg();

  const scans: ScanRun[] = [];
  let result: RewindKernelEventsResponse | undefined;
  const found = (r: RewindKernelEventsResponse) => JSON.stringify(r.events.map((e) => [e.kind, e.function, e.icount]));
  const differing = new Set<ScanMode>();
  for (let i = 0; i < runs; i++) {
    for (const index of MODES) {
      progress(`bench/kernel-events: scan ${i + 1}/${runs}, ${MODE_NAMES[index]}`);
      const r = await scanOnce(bundlePath, symbols, index);
      scans.push(r.run);
      result ??= r.result;
      if (found(r.result) !== found(result)) differing.add(index);
      progress(`  first part ${fmtS(r.run.first)}, whole ${fmtS(r.run.whole)} (${r.run.announced.join(', ')})`);
    }
  }
  const end = replayEnd(await bundle.readIndex());
  const hitsOf = (name: string) => (result?.events ?? []).filter((e) => e.function === name).map((e) => e.icount).sort((a, b) => a - b);

  let baseline: BaselineResult | undefined;
  let agree = 'not run';
  if (baselineRuns > 0 && result) {
    progress('bench/kernel-events: QEMU + gdb');
    const work = mkdtempSync(join(tmpdir(), 'rewind-bench-kev-'));
    const ws = await ReplayWorkspace.create(bundle);
    try {
      const base = await Baseline.create(bundle, ws, work, [symbols]);
      baseline = await base.run([], baselineScript(result.functions, end), baselineTimeout, 1, 'breakpoints on the reporting functions to the end');
      const seen = new Map<string, number[]>();
      for (const m of (baseline.output ?? '').matchAll(/^HIT \*(0x[0-9a-f]+) (-?\d+)$/gm)) {
        const name = result.functions.find((f) => BigInt(f.address) === BigInt(m[1]!))?.name ?? m[1]!;
        seen.set(name, [...(seen.get(name) ?? []), Number(m[2])]);
      }
      const differ = result.functions.filter((f) => JSON.stringify((seen.get(f.name) ?? []).sort((a, b) => a - b)) !== JSON.stringify(hitsOf(f.name)));
      agree = baseline.outcome !== 'finished' ? baseline.outcome : differ.length === 0 ? 'yes: every hit at the same icount' : `no: ${differ.map((f) => `${f.name} ${seen.get(f.name)?.length ?? 0} against ${hitsOf(f.name).length}`).join(', ')}`;
    } finally {
      await ws.dispose();
      rmSync(work, { recursive: true, force: true });
    }
  }
  const loadAfter = loadavg();

  const of = (index: ScanMode) => scans.filter((s) => s.index === index);
  const med = (xs: Array<number | undefined>) => median(xs.filter((x): x is number => x !== undefined));
  const header = await benchHeader('kernel-events', 'the kernel-event scan over DAP (the first rewind/events to the rewind/eventsChanged announcing the first part and the whole): with the index and probe replays, with the index and a gdbstub stop at each hit, without the index; QEMU + gdb: breakpoints on the same functions, each hit\'s icount read without stopping, to the end');
  const lines = [
    header,
    `- source: ${source}`,
    `- recording: ${bundlePath}; ${fmtN(end)} instructions; symbols ${symbols}`,
    `- runs: ${runs} of each; load average (1 min) ${loadBefore[0]!.toFixed(2)} at the start, ${loadAfter[0]!.toFixed(2)} at the end`,
    '',
    '| | first part (problems, modules), median | whole (with the task switches), median | announced | QEMU + gdb (whole) | QEMU + gdb / Rewind (whole) |',
    '|---|---|---|---|---|---|',
    ...MODES.map((index) => {
      const s = of(index);
      const whole = med(s.map((x) => x.whole));
      return `| ${MODE_NAMES[index]} | ${fmtS(med(s.map((x) => x.first)))} | ${fmtS(whole)} | ${s[0]?.announced.join(', ') ?? ''} | ${baseline ? fmtS(baseline.seconds, baselineTimeout) : 'not run'} | ${baseline ? ratio(baseline.seconds, whole) : ''} |`;
    }),
    '',
    `Events found: ${Object.entries(of('use')[0]?.counts ?? {}).filter(([k]) => k.startsWith('kernel-')).map(([k, n]) => `${k} ${fmtN(n)}`).join(', ')}. ${differing.size === 0 ? 'Every way found the same events at the same time points' : `DIFFERENT events ${[...differing].map((m) => MODE_NAMES[m]).join(', ')}`}. QEMU + gdb found the same: ${agree}.`,
    '',
  ];
  const out = resultsPath('kernel-events');
  writeFileSync(`${out}.md`, `${lines.join('\n')}\n`);
  writeFileSync(`${out}.json`, `${JSON.stringify({ bundle: bundlePath, end, scans, differing: [...differing], baseline: baseline && { seconds: baseline.seconds, outcome: baseline.outcome }, agree, load: [loadBefore[0], loadAfter[0]] }, null, 2)}\n`);
  progress(`bench/kernel-events: ${out}.md`);
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench/kernel-events: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    killLeftovers('kernel-events');
    process.exit(process.exitCode ?? 0);
  });
