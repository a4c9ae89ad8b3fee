/**
 * bench/language-server: what an editor waits for from `rewind lsp` (issue 13) against what QEMU +
 * gdb take to learn the same facts, on one recording with its index.
 *
 * Set up as nvim is (docs/language-server.md): a bridge hosted here, a DAP session attached to it,
 * and the server over stdio with settings naming that bridge and the recording, following the
 * session's position. With a fixed seed it draws `--points` random time points; at each the DAP
 * session seeks there, the server is told (its refresh request), and for a random source file of
 * the recording it times:
 * - lenses and line counts: textDocument/codeLens plus textDocument/inlayHint over the whole file
 *   (issue 13's target: ≤ 1 s with the index);
 * - a function's "previous" and "next" lens (codeLens/resolve), for a function that ran.
 * The first request of each file is reported apart (on the first file it opens the recording:
 * a bridge session of the server's own and gdb reading the symbols).
 * QEMU + gdb, on `--baseline-files` (3) of the files: the same counts the lenses show, with a breakpoint (ignore count 2^30) on
 * every address of the file's functions, replayed to the end of the recording; its counts must equal
 * the lenses'.
 *
 *   node out/bench/language-server.js [--linux] [--seed N] [--points N] [--baseline-runs 0|1] [--baseline-files N] [--baseline-timeout S]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { CodeLens } from 'vscode-languageserver-protocol';
import { startBridge, type RunningBridge } from '../recorder-bridge/src/bridge/server';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { buildIndex } from '../recorder-bridge/src/index/index-pass';
import { loadIndex } from '../recorder-bridge/src/index/index-store';
import { record } from '../recorder-bridge/src/record/recorder';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { ensureLinuxFixture } from '../test/linux-fixture';
import { linuxSourceFiles } from '../test/linux-source';
import { RewindDapClient } from '../test/support/dap-client';
import { LspClient } from '../test/support/lsp-client';
import { prng } from '../test/support/prng';
import { Baseline, type BaselineResult } from './baseline';
import { benchHeader, killLeftovers, fmtN, fmtS, median, now, progress, quantile, ratio, resultsPath, ROOT, since, sourceState } from './common';

const DEMO_INPUT = 'guests/demo/inputs/long.txt';
const DEMO_SNAPSHOT_EVERY = 50_000_000;
const LINUX_FILES = ['kernel/sys.c', 'fs/read_write.c', 'kernel/fork.c'];
/** Issue 13's target: a whole file's lenses and line counts, with the index. */
const TARGET_FILE_S = 1;

interface Settings {
  linux: boolean;
  seed: number;
  points: number;
  baselineRuns: number;
  baselineFiles: number;
  baselineTimeout: number;
}

function settings(): Settings {
  const a = process.argv.slice(2);
  const value = (name: string, fallback: number) => {
    const i = a.indexOf(name);
    if (i < 0) return fallback;
    const n = Number(a[i + 1]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} needs a number, got ${a[i + 1] ?? 'nothing'}`);
    return n;
  };
  return { linux: a.includes('--linux'), seed: value('--seed', 13), points: value('--points', 10), baselineRuns: value('--baseline-runs', 1), baselineFiles: value('--baseline-files', 3), baselineTimeout: value('--baseline-timeout', 600) };
}

/** A function as its lenses show it: where, its count, its addresses, its lenses. */
interface LensedFunction {
  name: string;
  line: number;
  count: number;
  addresses: string[];
  nav: CodeLens[];
}

function functionsOf(lenses: CodeLens[]): LensedFunction[] {
  const byLine = new Map<number, CodeLens[]>();
  for (const l of lenses) byLine.set(l.range.start.line, [...(byLine.get(l.range.start.line) ?? []), l]);
  const out: LensedFunction[] = [];
  for (const [line, group] of byLine) {
    const title = group[0]!.command?.title ?? '';
    const m = /^ran ([\d,]+)× in this recording$/.exec(title);
    const count = m ? Number(m[1]!.replace(/,/g, '')) : title === 'never ran in this recording' ? 0 : NaN;
    const data = group[1]?.data as { function: string; addresses: string[] } | undefined;
    if (data) out.push({ name: data.function, line: line + 1, count, addresses: data.addresses, nav: group.slice(1) });
  }
  return out;
}

/** gdb's counts of every address of `fns`, over the whole replay: a breakpoint each, never stopping. */
function countingScript(fns: LensedFunction[], end: number): string[] {
  const addrs = [...new Set(fns.flatMap((f) => f.addresses))];
  return [
    `python __bps = [(a, gdb.Breakpoint('*' + a, internal=False)) for a in ${JSON.stringify(addrs)}]`,
    'python [setattr(b, "ignore_count", 1 << 30) for (_, b) in __bps]',
    `monitor replay_break ${end}`,
    'continue',
    'python [print("HITS %s %d" % (a, b.hit_count)) for (a, b) in __bps]; sys.stdout.flush()',
  ];
}

interface PointRow {
  icount: number;
  file: string;
  fileSeconds: number;
  lenses: number;
  hints: number;
  fn?: string;
  previousSeconds?: number;
  nextSeconds?: number;
  /** Where the lens goes (undefined: "no earlier/later call"). */
  previousAt?: number;
  nextAt?: number;
}

async function main(): Promise<void> {
  // The code as built for this run: the working tree may change while it runs.
  const sourceAtStart = sourceState();
  const cfg = settings();
  const rand = prng(cfg.seed);
  const loadBefore = loadavg();
  const work = mkdtempSync(join(tmpdir(), 'rewind-bench-lsp-'));
  const stop = new AbortController();
  let bridge: RunningBridge | undefined;
  const dap = new RewindDapClient({ timeoutMs: 600_000 });
  const lsp = new LspClient();
  let ws: ReplayWorkspace | undefined;
  let madeIndex: string | undefined;
  const cleanup = async () => {
    stop.abort();
    await lsp.stop().catch(() => undefined);
    await dap.stop().catch(() => undefined);
    await bridge?.close().catch(() => undefined);
    await ws?.dispose().catch(() => undefined);
    killLeftovers('language-server');
    if (madeIndex) rmSync(madeIndex, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().finally(() => process.exit(143)));

  try {
    // ---- the recording, its index, its sources ----
    let bundlePath: string;
    let symbols: string[] = [];
    let files: string[];
    let about: string;
    if (cfg.linux) {
      const f = await ensureLinuxFixture();
      bundlePath = f.bundle;
      symbols = [f.vmlinux];
      progress(`kernel sources ${LINUX_FILES.join(', ')} from Debian's linux-source ...`);
      files = await linuxSourceFiles(f, LINUX_FILES);
      about = `the Linux fixture (test/linux-fixture.ts): Debian's ${f.release} (package ${f.packageVersion}); sources ${LINUX_FILES.join(', ')} from Debian's linux-source of that version`;
    } else {
      bundlePath = join(work, 'bench.rewind');
      progress(`recording ${DEMO_INPUT} ...`);
      await record({ kernel: join(ROOT, 'guests/demo/build/kernel.elf'), input: join(ROOT, DEMO_INPUT), out: bundlePath, snapshotEvery: DEMO_SNAPSHOT_EVERY, signal: stop.signal });
      const demo = join(ROOT, 'guests', 'demo');
      files = readdirSync(demo).filter((f) => f.endsWith('.c')).sort().map((f) => join(demo, f));
      about = `the demo guest running \`${DEMO_INPUT}\`, recorded by this run (a snapshot every ${DEMO_SNAPSHOT_EVERY / 1e6}M instructions); its ${files.length} C files`;
    }
    const bundle = await Bundle.open(bundlePath);
    if (!(await loadIndex(bundle).catch(() => undefined))) {
      if (cfg.linux && !existsSync(join(bundlePath, 'index'))) madeIndex = join(bundlePath, 'index');
      progress('building the index (rewind index) ...');
      const t0 = now();
      await buildIndex(bundle, { signal: stop.signal });
      progress(`index built in ${fmtS(since(t0))}`);
    }

    // ---- bridge, DAP session, server ----
    const socket = join(work, 'bridge.sock');
    bridge = await startBridge({ root: dirname(bundlePath), socket, log: join(work, 'bridge.log') });
    const target = { bridge: `unix:${socket}`, recording: basename(bundlePath), ...(symbols.length ? { symbols } : {}) };
    await dap.start();
    await dap.launchOrAttach('attach', target);
    const end = (await dap.position()).end;
    const t0 = now();
    await lsp.start({ rewind: target });
    const initializeSeconds = since(t0);

    // ---- the first request of each file ----
    const firstRows: Array<{ file: string; seconds: number; lenses: number; functions: LensedFunction[] }> = [];
    // Each file's URI and line count, read once (not inside the timed requests).
    const opened = new Map<string, { uri: string; lines: number }>();
    for (const f of files) {
      const lines = readFileSync(f, 'utf8').split('\n').length;
      const t = now();
      const uri = await lsp.open(f);
      const lenses = await lsp.codeLens(uri);
      await lsp.inlayHints(uri, lines);
      const seconds = since(t);
      opened.set(f, { uri, lines });
      firstRows.push({ file: f, seconds, lenses: lenses.length, functions: functionsOf(lenses) });
      progress(`first request of ${basename(f)}: ${lenses.length} lenses in ${fmtS(seconds)}`);
      if (lenses.length === 0) throw new Error(`no lenses for ${f}: the server says ${lsp.log.slice(-5).join(' / ')}`);
    }

    const serverAccount = lsp.log.filter((l) => /lines with code; gdb /.test(l)).map((l) => l.replace(/^.*?(\S+: \d+ functions)/, '$1'));

    // ---- random points ----
    const points: PointRow[] = [];
    for (let k = 0; k < cfg.points; k++) {
      const icount = Math.floor(rand() * end);
      const file = files[Math.floor(rand() * files.length)]!;
      const { uri, lines } = opened.get(file)!;
      const refreshed = lsp.nextCodeLensRefresh();
      await dap.run(() => dap.dc.send('rewind/seek', { icount }));
      await refreshed;
      const t = now();
      const lenses = await lsp.codeLens(uri);
      const hints = (await lsp.inlayHints(uri, lines)) ?? [];
      const row: PointRow = { icount, file: basename(file), fileSeconds: since(t), lenses: lenses.length, hints: hints.length };
      const ran = functionsOf(lenses).filter((f) => f.count > 0);
      const fn = ran[Math.floor(rand() * ran.length)];
      if (fn) {
        row.fn = fn.name;
        for (const which of ['previous', 'next'] as const) {
          const lens = fn.nav.find((l) => (l.data as { which: string }).which === which);
          if (!lens) continue;
          const tr = now();
          const resolved = await lsp.resolve(lens);
          row[which === 'previous' ? 'previousSeconds' : 'nextSeconds'] = since(tr);
          const at = (resolved.command?.arguments?.[0] as { icount?: number } | undefined)?.icount;
          if (at !== undefined) row[which === 'previous' ? 'previousAt' : 'nextAt'] = at;
        }
      }
      points.push(row);
      progress(`point ${k + 1}/${cfg.points} at ${fmtN(icount)}: ${row.file} in ${fmtS(row.fileSeconds)}${fn ? `; ${fn.name} previous ${fmtS(row.previousSeconds)}, next ${fmtS(row.nextSeconds)}` : ''}`);
    }
    await lsp.stop();
    await dap.stop();
    await bridge.close();
    bridge = undefined;

    // ---- QEMU + gdb: the same counts, per file ----
    const baselines: Array<{ file: string; result: BaselineResult; agree: string }> = [];
    if (cfg.baselineRuns > 0) {
      ws = await ReplayWorkspace.create(bundle);
      const base = await Baseline.create(bundle, ws, work, symbols.length ? symbols : undefined);
      // A sample of the files, drawn with the same seed: a file with a hot function takes QEMU + gdb a stop per call.
      const sample = [...firstRows].sort(() => rand() - 0.5).slice(0, cfg.baselineFiles);
      for (const row of sample) {
        const fns = row.functions;
        progress(`QEMU + gdb: counting ${fns.length} functions of ${basename(row.file)} over the whole recording ...`);
        const result = await base.run([], countingScript(fns, end), cfg.baselineTimeout, 1, `counts of ${basename(row.file)}`);
        let agree = 'n/a';
        if (result.output) {
          const hits = new Map([...result.output.matchAll(/^HITS (\S+) (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
          const wrong = fns.filter((f) => f.addresses.reduce((n, a) => n + (hits.get(a) ?? NaN), 0) !== f.count);
          agree = wrong.length === 0 ? `all ${fns.length} equal` : `**${wrong.length} differ**: ${wrong.map((f) => `${f.name} lens ${f.count}, gdb ${f.addresses.reduce((n, a) => n + (hits.get(a) ?? NaN), 0)}`).join('; ')}`;
        }
        baselines.push({ file: basename(row.file), result, agree });
      }
    }

    // ---- the report ----
    const loadAfter = loadavg();
    const later = firstRows.slice(1).map((r) => r.seconds);
    const fileS = points.map((p) => p.fileSeconds);
    const prevS = points.map((p) => p.previousSeconds).filter((x): x is number => x !== undefined);
    const nextS = points.map((p) => p.nextSeconds).filter((x): x is number => x !== undefined);
    // A lens with no call to go to is answered by the index alone (no candidate bucket): counted apart.
    const prevFound = points.filter((p) => p.previousAt !== undefined).map((p) => p.previousSeconds!);
    const nextFound = points.filter((p) => p.nextAt !== undefined).map((p) => p.nextSeconds!);
    const rewindCountS = median(firstRows.map((r) => r.seconds));
    const lines = [
      await benchHeader('language-server', `${cfg.points} random time points (seed ${cfg.seed}); at each, the DAP session seeks there, then a random file's codeLens + inlayHint (whole file) and a random function's previous and next lens; QEMU + gdb counts the same functions with a breakpoint per address over one whole replay`),
      `- recording: ${about}; ${fmtN(end)} instructions; ${sourceAtStart}${sourceState() !== sourceAtStart ? ` at the start of the run (at its end: ${sourceState()})` : ''}`,
      `- load average: ${loadBefore[0]!.toFixed(2)} at the start, ${loadAfter[0]!.toFixed(2)} at the end`,
      '',
      '| what | n | p50 | p95 | max | target |',
      '|---|---|---|---|---|---|',
      `| lenses + line counts of a whole file, at a random point | ${fileS.length} | ${fmtS(quantile(fileS, 0.5))} | ${fmtS(quantile(fileS, 0.95))} | ${fmtS(quantile(fileS, 1))} | ≤ ${TARGET_FILE_S} s: ${quantile(fileS, 0.95) <= TARGET_FILE_S ? 'met' : '**missed**'} |`,
      `| the first request of a file after the first | ${later.length} | ${fmtS(quantile(later, 0.5))} | ${fmtS(quantile(later, 0.95))} | ${fmtS(quantile(later, 1))} | ≤ ${TARGET_FILE_S} s: ${quantile(later, 0.95) <= TARGET_FILE_S ? 'met' : '**missed**'} |`,
      `| a function's previous lens (resolve: rewind/lastHit, the indexed backward search) | ${prevS.length} | ${fmtS(quantile(prevS, 0.5))} | ${fmtS(quantile(prevS, 0.95))} | ${fmtS(quantile(prevS, 1))} | |`,
      `| a function's next lens (resolve: rewind/firstHit, the indexed forward search) | ${nextS.length} | ${fmtS(quantile(nextS, 0.5))} | ${fmtS(quantile(nextS, 0.95))} | ${fmtS(quantile(nextS, 1))} | |`,
      `| of which previous lenses with a call to go to | ${prevFound.length} | ${fmtS(quantile(prevFound, 0.5))} | ${fmtS(quantile(prevFound, 0.95))} | ${fmtS(quantile(prevFound, 1))} | |`,
      `| of which next lenses with a call to go to | ${nextFound.length} | ${fmtS(quantile(nextFound, 0.5))} | ${fmtS(quantile(nextFound, 0.95))} | ${fmtS(quantile(nextFound, 1))} | |`,
      '',
      `initialize: ${fmtS(initializeSeconds)}. The first request of ${basename(firstRows[0]!.file)} (opens the recording in the server): ${fmtS(firstRows[0]!.seconds)}.`,
      '',
      '## Per file: the first request, and QEMU + gdb counting the same',
      '',
      '| file | functions that ran | lenses | Rewind, first request | QEMU + gdb | ratio | counts |',
      '|---|---|---|---|---|---|---|',
      ...firstRows.map((r) => {
        const b = baselines.find((x) => x.file === basename(r.file));
        return `| ${basename(r.file)} | ${r.functions.length} | ${r.lenses} | ${fmtS(r.seconds)} | ${b ? fmtS(b.result.seconds, cfg.baselineTimeout) : 'not run'} | ${b ? ratio(b.result.seconds, r.seconds) : ''} | ${b?.agree ?? ''} |`;
      }),
      '',
      `Median first request ${fmtS(rewindCountS)}.`,
      '',
      "The server's own account of each first request (its log): gdb's part reads the file's functions and lines from the symbols, the counts part asks the bridge.",
      '',
      ...serverAccount.map((l) => `- ${l}`),
      '',
      '## Every point',
      '',
      '| icount | file | lenses | hints | whole file | function | previous | goes to | next | goes to |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...points.map((p) => `| ${fmtN(p.icount)} | ${p.file} | ${p.lenses} | ${p.hints} | ${fmtS(p.fileSeconds)} | ${p.fn ?? ''} | ${fmtS(p.previousSeconds)} | ${p.previousAt !== undefined ? fmtN(p.previousAt) : p.previousSeconds !== undefined ? 'none' : ''} | ${fmtS(p.nextSeconds)} | ${p.nextAt !== undefined ? fmtN(p.nextAt) : p.nextSeconds !== undefined ? 'none' : ''} |`),
      '',
    ];
    const out = resultsPath(cfg.linux ? 'language-server-linux' : 'language-server');
    writeFileSync(`${out}.md`, lines.join('\n'));
    writeFileSync(`${out}.json`, `${JSON.stringify({ settings: cfg, end, initializeSeconds, firstRows: firstRows.map((r) => ({ file: basename(r.file), seconds: r.seconds, lenses: r.lenses, functions: r.functions.length })), points, baselines: baselines.map((b) => ({ file: b.file, seconds: b.result.seconds, outcome: b.result.outcome, agree: b.agree })), load: [loadBefore[0], loadAfter[0]] }, null, 2)}\n`);
    progress(`results: ${out}.md`);
  } finally {
    await cleanup();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench/language-server: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
