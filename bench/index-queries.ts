/**
 * bench/index-queries: reverse queries with and without the recording's index (issue 12), on
 * randomly drawn start points and targets, timed as a DAP client waits, side by side with QEMU +
 * gdb on a sample.
 *
 *   node out/bench/index-queries.js                      # the demo guest (records it first)
 *   node out/bench/index-queries.js --linux              # the Linux fixture (test/linux-fixture.ts)
 *   node out/bench/index-queries.js --second-workload    # a second Linux recording (test/linux-workloads.ts)
 *   node out/bench/index-queries.js --bundle B --symbols ELF
 *   options: --pairs N (50)  --seed S (12)  --baseline-sample K (10 demo, 5 Linux)
 *            --baseline-timeout SECONDS (60 demo, 300 Linux)  --baseline-attempts N (3)
 *            --limit SECONDS (a Rewind request's time limit, 300)  --history N (10)
 *            --history-plain K (3)  --keep-index
 *
 * The recording: the demo guest running guests/demo/inputs/long.txt (recorded by the run, a
 * snapshot every 50M instructions, as bench/dap does); the Linux fixture (cached under
 * $REWIND_CACHE_DIR or .rewind-cache); the second Linux workload (same kernel and busybox, another
 * script; cached beside the fixture); or any bundle. Its index is built first when it has none
 * (buildIndex, the pass `rewind index` runs; timed). An index this run built beside the shared
 * Linux fixture is removed at the end (as test/index-queries-linux does: the other Linux tests are
 * about the fixture as recorded) unless --keep-index.
 *
 * Pairs, drawn with a fixed seed (mulberry32, test/support/prng.ts):
 *   - N (start point S, kernel function): S uniform in the second half of the recording; the
 *     function (an ELF symbol of type T/t with a size and a name of its own; on Linux in the
 *     kernel's image) drawn uniformly among those whose entry address ran in a bucket that ended
 *     before S (the index's counts), alternately rare (1 to 3 runs before S) and common (more);
 *   - N (S, kernel global): a D/d/B/b symbol of 1 to 8 bytes (not code, a name of its own) whose
 *     bytes were written in a bucket that ended before S (index.writing: 4-byte grains), alternately near
 *     (the newest such bucket less than 10% of the recording before S) and far (written long before).
 *   A target that gdb cannot break on or watch by name is drawn again.
 *
 * Timing, as a user waits (bench/dap's method): two bridges hosted by this process, one whose
 * engines open with { index: 'use' } and one with { index: 'off' }, and a DAP session (the real
 * adapter, dist/dap.js, attached with stopOnEntry) on each. For every pair, in both sessions (the
 * order alternates from pair to pair): rewind/seek to S, the breakpoint set (setFunctionBreakpoints
 * [FN], or dataBreakpointInfo by name + setDataBreakpoints with write access), every engine's
 * background work settled, then reverseContinue, timed from the request to its `stopped` event;
 * then the breakpoints are cleared. Both sessions must land on the same icount: a mismatch is a
 * bug, listed in the results. A request over --limit is reported as "> limit" and its session is
 * restarted.
 * Whole-recording queries over the bridge (rewind/hits of a function's entry address, rewind/writes
 * with values of a global) for the first --history pairs of each kind, with the index; the first
 * --history-plain of them also without it (same answers expected).
 * QEMU + gdb (bench/baseline.ts) on the first --baseline-sample pairs of each kind: `break FN` or
 * `watch VAR` after replaying to S (untimed), then `reverse-continue` (timed by gdb's clock), with
 * a time limit; QEMU deadlocks are retried.
 * Progress on stderr. Results: bench/results/index-queries-DATE[-linux|-workload2|-bundle].md and
 * .json, with the machine, the versions and the load average. Ctrl-C stops everything it started.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BridgeClient, startBridge, type RunningBridge } from '../recorder-bridge/src/bridge';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { buildIndex } from '../recorder-bridge/src/index/index-pass';
import { loadIndex, type StoredIndex } from '../recorder-bridge/src/index/index-store';
import { RecordingIndex } from '../recorder-bridge/src/index/recording-index';
import { record } from '../recorder-bridge/src/record/recorder';
import type { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { ensureLinuxFixture, WRITE_BYTES } from '../test/linux-fixture';
import { ensureSecondWorkload } from '../test/linux-workloads';
import { RewindDapClient } from '../test/support/dap-client';
import { prng } from '../test/support/prng';
import { Baseline, type BaselineResult } from './baseline';
import { benchArgs, benchHeader, fmtN, fmtS, killLeftovers, median, now, progress, quantile, ratio, resultsPath, ROOT, settle, since, sourceState } from './common';
import { describeCalls, EngineProbe, type EngineCall, type Internals } from './engine-probe';

const DEMO_INPUT = 'guests/demo/inputs/long.txt';
const DEMO_SNAPSHOT_EVERY = 50_000_000;
/** __START_KERNEL_map: the x86_64 kernel image's mapping; below it lie user space, the direct map and per-CPU offsets. */
const KERNEL_TEXT = 0xffffffff80000000n;
/** Rare: a function that ran at most this often before S. */
const RARE_RUNS = 3;
/** Far: a global whose bytes were last written more than this fraction of the recording before S. */
const FAR_FRACTION = 0.1;
/** Draws of a target before its class is given up for the other one. */
const MAX_DRAWS = 20_000;

/** Issue 12's targets, with the index (seconds). */
const TARGETS = {
  reverseContinueP95: 0.5,
  watchP95: 1,
  hits: { base: 0.3, perItem: 0.001 },
  history: { base: 0.5, perItem: 0.002 },
};

type Mode = 'use' | 'off';
const MODES: Mode[] = ['use', 'off'];

// ---- symbols ----------------------------------------------------------------------------------

interface Sym {
  name: string;
  address: bigint;
  size: number;
  type: string;
}

/** Defined symbols of an ELF with their nm type letter, names that occur once only. */
function uniqueSymbols(elf: string): Sym[] {
  const text = execFileSync('nm', ['-S', '--defined-only', elf], { encoding: 'utf8', maxBuffer: 512 << 20 });
  const seen = new Map<string, Sym | null>();
  for (const m of text.matchAll(/^([0-9a-f]+) (?:([0-9a-f]+) )?(\w) (\S+)$/gm)) {
    const name = m[4]!;
    seen.set(name, seen.has(name) ? null : { name, address: BigInt('0x' + m[1]), size: m[2] ? parseInt(m[2], 16) : 0, type: m[3]! });
  }
  return [...seen.values()].filter((s): s is Sym => s !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---- pairs ------------------------------------------------------------------------------------

interface FnPair {
  i: number;
  start: number;
  name: string;
  entry: bigint;
  /** Runs of the entry address in the buckets that ended before S (the index). */
  runsBefore: number;
  /** Runs of the entry address in the whole recording (the index). */
  runsTotal: number;
  class: 'rare' | 'common';
  /** Where gdb put the breakpoint (first location) and how many locations. */
  breakAt?: string;
  locations?: number;
}

interface GlobalPair {
  i: number;
  start: number;
  name: string;
  address: bigint;
  size: number;
  /** The end of the newest bucket before S in which the variable's bytes were written (its grains). */
  lastWrite: number;
  /** Buckets with a write to its grains before S, and in the whole recording. */
  bucketsBefore: number;
  bucketsTotal: number;
  class: 'near' | 'far';
  /** The watch is by address (the name means something else at S, e.g. a local). */
  byAddress?: boolean;
}

interface Timed {
  outcome: 'stopped' | 'timeout' | 'error';
  seconds: number;
  landed?: number;
  reason?: string;
  detail?: string;
  /** The engine's calls inside the request (bench/engine-probe.ts): their seconds, and what they were. */
  engineSeconds?: number;
  engineCalls?: string;
  internals?: Internals;
}

interface PairResult {
  use?: Timed;
  off?: Timed;
  baseline?: BaselineResult;
}

// ---- the DAP client -----------------------------------------------------------------------------

class BenchDap extends RewindDapClient {
  async open(attach: Record<string, unknown>): Promise<void> {
    await this.start();
    // Only the breakpoints each pair sets: no panic filter.
    await this.launchOrAttach('attach', attach, async () => void (await this.dc.setExceptionBreakpointsRequest({ filters: [] })));
  }

  async seek(icount: number): Promise<void> {
    if ((await this.position()).icount === icount) return;
    await this.move(() => this.custom('rewind/seek', { icount }));
  }
}

interface Session {
  mode: Mode;
  bridge: RunningBridge;
  socket: string;
  dap?: BenchDap;
  restarts: number;
}

// ---- settings -----------------------------------------------------------------------------------

interface Settings {
  mode: 'demo' | 'linux' | 'workload2' | 'bundle';
  bundle?: string;
  symbols: string[];
  pairs: number;
  seed: number;
  baselineSample: number;
  baselineTimeout: number;
  baselineAttempts: number;
  limit: number;
  history: number;
  historyPlain: number;
  keepIndex: boolean;
}

function settings(): Settings {
  const { values } = benchArgs('index-queries', {
    options: {
      linux: { type: 'boolean' },
      'second-workload': { type: 'boolean' },
      bundle: { type: 'string' },
      symbols: { type: 'string', multiple: true },
      pairs: { type: 'string' },
      seed: { type: 'string' },
      'baseline-sample': { type: 'string' },
      'baseline-timeout': { type: 'string' },
      'baseline-attempts': { type: 'string' },
      limit: { type: 'string' },
      history: { type: 'string' },
      'history-plain': { type: 'string' },
      'keep-index': { type: 'boolean' },
    },
  });
  const chosen = [values.linux, values['second-workload'], values.bundle !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new Error('choose one of --linux, --second-workload and --bundle');
  const mode = values.linux ? 'linux' : values['second-workload'] ? 'workload2' : values.bundle ? 'bundle' : 'demo';
  const linuxLike = mode === 'linux' || mode === 'workload2';
  const num = (v: string | undefined, dflt: number, what: string, min: number) => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${what} needs a number >= ${min}, got ${v}`);
    return n;
  };
  const pairs = Math.floor(num(values.pairs, 50, 'pairs', 1));
  return {
    mode,
    ...(values.bundle ? { bundle: resolve(values.bundle) } : {}),
    symbols: (values.symbols ?? []).map((s) => (isAbsolute(s) ? s : resolve(s))),
    pairs,
    seed: Math.floor(num(values.seed, 12, 'seed', 0)),
    baselineSample: Math.min(pairs, Math.floor(num(values['baseline-sample'], linuxLike ? 5 : 10, 'baseline-sample', 0))),
    baselineTimeout: num(values['baseline-timeout'], linuxLike ? 300 : 60, 'baseline-timeout', 1),
    baselineAttempts: Math.floor(num(values['baseline-attempts'], 3, 'baseline-attempts', 1)),
    limit: num(values.limit, 300, 'limit', 1),
    history: Math.min(pairs, Math.floor(num(values.history, 10, 'history', 0))),
    historyPlain: Math.floor(num(values['history-plain'], 3, 'history-plain', 0)),
    keepIndex: values['keep-index'] === true,
  };
}

// ---- helpers ------------------------------------------------------------------------------------

const hex = (a: bigint) => `0x${a.toString(16)}`;

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cfg = settings();
  const loadBefore = loadavg();
  const loadSamples: number[] = [loadBefore[0]!];
  const loadTimer = setInterval(() => loadSamples.push(loadavg()[0]!), 30_000);
  loadTimer.unref();
  const startedAt = new Date();
  const sourceAtStart = sourceState();
  const work = mkdtempSync(join(tmpdir(), 'rewind-bench-index-'));
  const stop = new AbortController();
  const sessions: Session[] = [];
  const bridgeClients: BridgeClient[] = [];
  const engines = new Set<ReplayEngine>();
  let ws: ReplayWorkspace | undefined;
  let madeIndex: string | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    stop.abort();
    for (const c of bridgeClients) c.dispose();
    for (const s of sessions) await s.dap?.stop().catch(() => undefined);
    for (const s of sessions) await s.bridge.close().catch(() => undefined);
    await ws?.dispose().catch(() => undefined);
    killLeftovers('index-queries');
    if (madeIndex && !cfg.keepIndex) rmSync(madeIndex, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = () => {
    progress('interrupted: stopping everything this run started');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // ---- the recording and its index ----
    let bundlePath: string;
    let symbols = cfg.symbols;
    let about: string;
    if (cfg.mode === 'demo') {
      bundlePath = join(work, 'bench.rewind');
      progress(`recording ${DEMO_INPUT} ...`);
      await record({ kernel: join(ROOT, 'guests/demo/build/kernel.elf'), input: join(ROOT, DEMO_INPUT), out: bundlePath, snapshotEvery: DEMO_SNAPSHOT_EVERY, signal: stop.signal });
      about = `the demo guest running \`${DEMO_INPUT}\` (\`spin 67\`, idle stretches included), recorded by this run with a snapshot every ${DEMO_SNAPSHOT_EVERY / 1e6}M instructions`;
    } else if (cfg.mode === 'linux') {
      const f = await ensureLinuxFixture();
      bundlePath = f.bundle;
      if (symbols.length === 0) symbols = [f.vmlinux];
      about = `the Linux fixture (test/linux-fixture.ts): Debian's ${f.release} (package ${f.packageVersion}) booting a busybox initramfs whose init runs \`dd bs=${WRITE_BYTES} count=3\`, writes to /dev/kmsg and crashes through sysrq`;
    } else if (cfg.mode === 'workload2') {
      const w = await ensureSecondWorkload({ signal: stop.signal });
      bundlePath = w.bundle;
      if (symbols.length === 0) symbols = [w.vmlinux];
      about = `the second Linux workload (test/linux-workloads.ts): Debian's ${w.release} (package ${w.packageVersion}), the fixture's kernel and busybox, whose init ${w.description}`;
    } else {
      bundlePath = cfg.bundle!;
      about = bundlePath;
    }
    const bundle = await Bundle.open(bundlePath);
    const linux = bundle.manifest.guest.kernel.format === 'linux-bzimage';
    if (linux && symbols.length === 0) throw new Error('a Linux recording needs --symbols VMLINUX');
    const symbolFile = symbols[0] ?? bundle.path(bundle.manifest.guest.kernel.file);

    let stored: StoredIndex | undefined;
    try {
      stored = await loadIndex(bundle);
    } catch (e) {
      progress(`the stored index is not usable (${(e as Error).message}): rebuilding it`);
    }
    let indexBuild: { seconds: number } | undefined;
    if (!stored) {
      const folder = join(bundlePath, 'index');
      const had = existsSync(folder);
      progress('building the index (the pass `rewind index` runs) ...');
      let shown = 0;
      const t0 = now();
      stored = await buildIndex(bundle, {
        signal: stop.signal,
        onProgress: (done, total) => {
          if (Date.now() - shown < 5000 && done < total) return;
          shown = Date.now();
          progress(`  index pass: ${total > 0 ? ((done / total) * 100).toFixed(0) : 100}% of ${fmtN(total)} instructions`);
        },
      });
      indexBuild = { seconds: since(t0) };
      if (!had && cfg.mode === 'linux') madeIndex = stored.where;
      progress(`index built in ${fmtS(indexBuild.seconds)} (${stored.where})`);
    }
    const ix = RecordingIndex.fromSlices(stored.slices, stored.where);
    const end = ix.end;
    // Where a replay can start: the recorded snapshots the engine uses and the index's extra ones.
    const startPoints = [...bundle.manifest.snapshots.list.filter((x) => x.verified !== false).map((x) => x.icount), ...stored.slices.flatMap((x) => x.extra?.snapshots.map((e) => e.icount) ?? [])].sort((a, b) => a - b);
    /** Instructions from the nearest snapshot at or before `t` to `t`: what a landing there replays at least. */
    const fromSnapshot = (t: number) => t - (startPoints.filter((x) => x <= t).pop() ?? 0);
    progress(`index: ${fmtN(ix.bucketCount)} buckets over ${fmtN(end)} instructions`);

    // ---- candidates ----
    const all = uniqueSymbols(symbolFile);
    const inKernel = (s: Sym) => !linux || s.address >= KERNEL_TEXT;
    const plainName = (s: Sym) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s.name);
    const totals = ix.totals();
    const fnCandidates = all.filter((s) => (s.type === 'T' || s.type === 't') && s.size > 0 && inKernel(s) && plainName(s) && (totals.get(s.address) ?? 0) > 0);
    const globalCandidates = all.filter((s) => 'DdBb'.includes(s.type) && s.size >= 1 && s.size <= 8 && inKernel(s) && plainName(s) && !totals.has(s.address));
    progress(`${fmtN(fnCandidates.length)} functions that ran, ${fmtN(globalCandidates.length)} globals of 1 to 8 bytes to draw from`);
    if (fnCandidates.length === 0 || globalCandidates.length === 0) throw new Error(`nothing to draw from in ${symbolFile}`);

    // ---- the bridges and the DAP sessions ----
    const probes = new Map(MODES.map((m) => [m, new EngineProbe()] as const));
    for (const mode of MODES) {
      const socket = join(work, `bridge-${mode}.sock`);
      const onOpen = (e: ReplayEngine) => {
        engines.add(e);
        probes.get(mode)!.attach(e);
      };
      const bridge = await startBridge({ root: dirname(bundlePath), socket, log: join(work, `bridge-${mode}.log`), engine: { index: mode, onOpen } });
      sessions.push({ mode, bridge, socket, restarts: 0 });
    }
    const attachOf = (s: Session) => ({ bridge: `unix:${s.socket}`, recording: bundlePath, stopOnEntry: true, ...(symbols.length ? { symbols } : {}) });
    const openDap = async (s: Session) => {
      const d = new BenchDap({ timeoutMs: cfg.limit * 1000 });
      s.dap = d;
      await d.open(attachOf(s));
    };
    const restart = async (s: Session, why: string) => {
      progress(`  restarting the ${s.mode} session (${why})`);
      s.restarts++;
      await s.dap?.stop().catch(() => undefined);
      s.dap = undefined;
      await openDap(s);
    };
    for (const s of sessions) {
      progress(`opening the DAP session with index: '${s.mode}'`);
      await openDap(s);
      const st = await s.dap!.custom('rewind/indexStatus', {});
      const want = s.mode === 'use' ? 'ready' : 'off';
      if (st.state !== want) throw new Error(`the ${s.mode} session's index is ${st.state}${st.message ? ` (${st.message})` : ''}, expected ${want}`);
    }
    const [useSession, offSession] = sessions as [Session, Session];
    const dapEnd = (await useSession.dap!.position()).end;

    // ---- draw the pairs (checked against gdb in both sessions: also their warm-up) ----
    const random = prng(cfg.seed);
    const startPoint = () => Math.floor(end / 2 + random() * (end / 2));
    const badFn = new Set<string>();
    const badGlobal = new Set<string>();
    const fnPairs: FnPair[] = [];
    const globalPairs: GlobalPair[] = [];
    const checkFunction = async (name: string): Promise<{ breakAt?: string; locations: number } | undefined> => {
      let out: { breakAt?: string; locations: number } | undefined;
      for (const s of sessions) {
        const bp = (await s.dap!.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name }] })).body.breakpoints[0];
        await s.dap!.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
        if (!bp?.verified) return undefined;
        out ??= { ...(bp.instructionReference ? { breakAt: bp.instructionReference } : {}), locations: Number(/^(\d+) locations/.exec(bp.message ?? '')?.[1] ?? 1) };
      }
      return out;
    };
    const checkGlobal = async (g: Sym): Promise<boolean> => {
      for (const s of sessions) {
        const info = (await s.dap!.dc.dataBreakpointInfoRequest({ name: g.name })).body;
        if (!info.dataId) return false;
        const id = JSON.parse(info.dataId) as { address: string; size: number };
        if (BigInt(id.address) !== g.address) return false;
      }
      return true;
    };
    progress(`drawing ${cfg.pairs} function pairs and ${cfg.pairs} global pairs (seed ${cfg.seed}) ...`);
    for (let i = 0; i < cfg.pairs; i++) {
      const start = startPoint();
      const want: FnPair['class'] = i % 2 === 0 ? 'rare' : 'common';
      let got: FnPair | undefined;
      for (const cls of [want, want === 'rare' ? 'common' : 'rare'] as const) {
        for (let k = 0; k < MAX_DRAWS && !got; k++) {
          const f = fnCandidates[Math.floor(random() * fnCandidates.length)]!;
          if (badFn.has(f.name)) continue;
          const runsBefore = ix.countsOf(f.address, 0, start).filter((b) => b.to <= start).reduce((n, b) => n + b.count, 0);
          if (runsBefore === 0 || (cls === 'rare') !== runsBefore <= RARE_RUNS) continue;
          const checked = await checkFunction(f.name);
          if (!checked) {
            badFn.add(f.name);
            continue;
          }
          got = { i, start, name: f.name, entry: f.address, runsBefore, runsTotal: totals.get(f.address) ?? 0, class: cls, ...checked };
        }
        if (got) break;
      }
      if (!got) throw new Error(`no function ran before icount ${start}`);
      fnPairs.push(got);
    }
    for (let i = 0; i < cfg.pairs; i++) {
      const start = startPoint();
      const want: GlobalPair['class'] = i % 2 === 0 ? 'near' : 'far';
      let got: GlobalPair | undefined;
      for (const cls of [want, want === 'near' ? 'far' : 'near'] as const) {
        for (let k = 0; k < MAX_DRAWS && !got; k++) {
          const g = globalCandidates[Math.floor(random() * globalCandidates.length)]!;
          if (badGlobal.has(g.name)) continue;
          const spans = ix.writing(g.address, g.size, 0, start).filter((b) => b.to <= start);
          if (spans.length === 0) continue;
          const lastWrite = spans[spans.length - 1]!.to;
          if ((cls === 'far') !== start - lastWrite >= FAR_FRACTION * end) continue;
          if (!(await checkGlobal(g))) {
            badGlobal.add(g.name);
            continue;
          }
          got = { i, start, name: g.name, address: g.address, size: g.size, lastWrite, bucketsBefore: spans.length, bucketsTotal: ix.writing(g.address, g.size, 0, end).length, class: cls };
        }
        if (got) break;
      }
      if (!got) throw new Error(`no global was written before icount ${start}`);
      globalPairs.push(got);
    }
    progress(`pairs drawn (${badFn.size} functions and ${badGlobal.size} globals that gdb could not break on or watch by name were drawn again)`);

    // ---- timed reverse continues, with and without the index ----
    const fnResults: PairResult[] = fnPairs.map(() => ({}));
    const globalResults: PairResult[] = globalPairs.map(() => ({}));
    const timed = async (s: Session, start: number, arm: (d: BenchDap) => Promise<void>, disarm: (d: BenchDap) => Promise<void>): Promise<Timed> => {
      let d = s.dap!;
      try {
        await d.seek(start);
        await arm(d);
      } catch (e) {
        await restart(s, `setting up: ${(e as Error).message}`).catch(() => undefined);
        return { outcome: 'error', seconds: NaN, detail: `setup: ${(e as Error).message}` };
      }
      await settle(engines);
      let result: Timed;
      const probe = probes.get(s.mode)!;
      probe.begin();
      try {
        let calls: EngineCall[];
        let m: Awaited<ReturnType<BenchDap['move']>>;
        try {
          m = await d.move(() => d.dc.send('reverseContinue', { threadId: 1 }));
        } finally {
          calls = probe.end();
        }
        result = {
          outcome: 'stopped',
          seconds: m.seconds,
          landed: (await d.position()).icount,
          reason: `${m.event.body.reason}${m.event.body.description ? `: ${m.event.body.description}` : ''}`,
          engineSeconds: calls.reduce((n, c) => n + c.seconds, 0),
          engineCalls: describeCalls(calls, (sec) => fmtS(sec)),
          ...(probe.lastInternals ? { internals: probe.lastInternals } : {}),
        };
      } catch (e) {
        const message = (e as Error).message;
        const timeout = /timeout|no event|received after/i.test(message);
        await restart(s, timeout ? `no stop within ${cfg.limit} s` : message);
        d = s.dap!;
        return timeout ? { outcome: 'timeout', seconds: Infinity, detail: message } : { outcome: 'error', seconds: NaN, detail: message };
      }
      await disarm(d).catch(async (e: Error) => restart(s, `clearing breakpoints: ${e.message}`));
      return result;
    };
    const describe = (t: Timed | undefined) =>
      t ? (t.outcome === 'stopped' ? `${fmtS(t.seconds)} at ${t.landed}${t.engineSeconds !== undefined ? ` (engine ${fmtS(t.engineSeconds)})` : ''}` : t.outcome === 'timeout' ? `> ${cfg.limit} s` : `error (${t.detail})`) : 'n/a';
    const orderFor = (i: number) => (i % 2 === 0 ? sessions : [offSession, useSession]);

    for (const [k, p] of fnPairs.entries()) {
      for (const s of orderFor(k)) {
        fnResults[k]![s.mode] = await timed(
          s,
          p.start,
          async (d) => {
            const bp = (await d.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: p.name }] })).body.breakpoints[0];
            if (!bp?.verified) throw new Error(`function breakpoint ${p.name} not verified: ${bp?.message ?? '?'}`);
          },
          async (d) => void (await d.dc.setFunctionBreakpointsRequest({ breakpoints: [] })),
        );
      }
      const r = fnResults[k]!;
      progress(`function ${k + 1}/${fnPairs.length}: ${p.name} (${p.class}, ${p.runsBefore} runs before S) from S=${p.start}: with index ${describe(r.use)}; without ${describe(r.off)}`);
    }
    for (const [k, p] of globalPairs.entries()) {
      for (const s of orderFor(k)) {
        globalResults[k]![s.mode] = await timed(
          s,
          p.start,
          async (d) => {
            let info = (await d.dc.dataBreakpointInfoRequest({ name: p.name })).body;
            const id = info.dataId ? (JSON.parse(info.dataId) as { address: string }) : undefined;
            if (!id || BigInt(id.address) !== p.address) {
              // At S the name means something else (a local that hides the global): by address.
              p.byAddress = true;
              info = (await d.dc.dataBreakpointInfoRequest({ name: hex(p.address), asAddress: true, bytes: p.size })).body;
            }
            if (!info.dataId) throw new Error(`no data breakpoint on ${p.name}: ${info.description}`);
            const bp = (await d.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId, accessType: 'write' }] })).body.breakpoints[0];
            if (!bp?.verified) throw new Error(`data breakpoint on ${p.name} not verified: ${bp?.message ?? '?'}`);
          },
          async (d) => void (await d.dc.setDataBreakpointsRequest({ breakpoints: [] })),
        );
      }
      const r = globalResults[k]!;
      progress(`global ${k + 1}/${globalPairs.length}: ${p.name} (${p.class}, last written ${fmtN(p.start - p.lastWrite)} instructions before S) from S=${p.start}: with index ${describe(r.use)}; without ${describe(r.off)}`);
    }
    for (const s of sessions) {
      await s.dap?.stop();
      s.dap = undefined;
    }

    // ---- whole-recording queries over the bridge ----
    interface History {
      name: string;
      items?: number;
      expected?: number;
      use?: { seconds: number; count?: number; detail?: string };
      off?: { seconds: number; count?: number; same?: boolean; detail?: string };
    }
    const hitRows: History[] = [];
    const historyRows: History[] = [];
    if (cfg.history > 0) {
      const clients = new Map<Mode, { c: BridgeClient; id: string }>();
      for (const s of sessions) {
        const c = await BridgeClient.connect(s.bridge.address, undefined, { client: 'bench/index-queries' });
        bridgeClients.push(c);
        clients.set(s.mode, { c, id: (await c.open(bundlePath)).sessionId });
      }
      const ask = async <T>(mode: Mode, f: (c: BridgeClient, id: string, signal: AbortSignal) => Promise<T>): Promise<{ seconds: number; value?: T; detail?: string }> => {
        const { c, id } = clients.get(mode)!;
        await settle(engines);
        const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(cfg.limit * 1000)]);
        const t0 = now();
        try {
          const value = await f(c, id, signal);
          return { seconds: since(t0), value };
        } catch (e) {
          const s = since(t0);
          return s >= cfg.limit ? { seconds: Infinity, detail: `over ${cfg.limit} s` } : { seconds: NaN, detail: (e as Error).message };
        }
      };
      for (const [k, p] of fnPairs.slice(0, cfg.history).entries()) {
        const use = await ask('use', (c, id, signal) => c.hits(id, p.entry, { signal }));
        const row: History = { name: p.name, expected: p.runsTotal, use: { seconds: use.seconds, ...(use.value ? { count: use.value.hits.length } : {}), ...(use.detail ? { detail: use.detail } : {}) } };
        if (use.value) row.items = use.value.hits.length;
        if (k < cfg.historyPlain) {
          const off = await ask('off', (c, id, signal) => c.hits(id, p.entry, { signal }));
          row.off = { seconds: off.seconds, ...(off.value ? { count: off.value.hits.length, same: JSON.stringify(off.value.hits) === JSON.stringify(use.value?.hits) } : {}), ...(off.detail ? { detail: off.detail } : {}) };
        }
        hitRows.push(row);
        progress(`all hits ${k + 1}/${Math.min(cfg.history, fnPairs.length)}: ${p.name}: ${row.items ?? '?'} hits in ${fmtS(row.use!.seconds)}${row.off ? `; without the index ${fmtS(row.off.seconds, cfg.limit)}${row.off.same === false ? ' (DIFFERENT hits)' : ''}` : ''}`);
      }
      for (const [k, p] of globalPairs.slice(0, cfg.history).entries()) {
        const use = await ask('use', (c, id, signal) => c.writes(id, p.address, p.size, { values: true, signal }));
        const row: History = { name: p.name, use: { seconds: use.seconds, ...(use.value ? { count: use.value.hits.length } : {}), ...(use.detail ? { detail: use.detail } : {}) } };
        if (use.value) row.items = use.value.hits.length;
        if (k < cfg.historyPlain) {
          const off = await ask('off', (c, id, signal) => c.writes(id, p.address, p.size, { values: true, signal }));
          row.off = { seconds: off.seconds, ...(off.value ? { count: off.value.hits.length, same: sameWrites(off.value.hits, use.value?.hits) } : {}), ...(off.detail ? { detail: off.detail } : {}) };
        }
        historyRows.push(row);
        progress(`value history ${k + 1}/${Math.min(cfg.history, globalPairs.length)}: ${p.name}: ${row.items ?? '?'} writes in ${fmtS(row.use!.seconds)}${row.off ? `; without the index ${fmtS(row.off.seconds, cfg.limit)}${row.off.same === false ? ' (DIFFERENT writes)' : ''}` : ''}`);
      }
      for (const { c, id } of clients.values()) {
        await c.close(id).catch(() => undefined);
        c.dispose();
      }
    }
    const restarts = { use: useSession.restarts, off: offSession.restarts };
    for (const s of sessions) await s.bridge.close();
    sessions.length = 0;

    // ---- QEMU + gdb on a sample ----
    if (cfg.baselineSample > 0) {
      ws = await ReplayWorkspace.create(bundle);
      const base = await Baseline.create(bundle, ws, work, [symbolFile]);
      const toStart = (s: number) => [`monitor replay_break ${s}`, 'continue', 'monitor info replay'];
      for (let k = 0; k < cfg.baselineSample; k++) {
        const p = fnPairs[k]!;
        progress(`QEMU + gdb ${k + 1}/${cfg.baselineSample}: break ${p.name}, reverse-continue from ${p.start}`);
        fnResults[k]!.baseline = await base.run([...toStart(p.start), `break ${p.name}`], ['reverse-continue'], cfg.baselineTimeout, cfg.baselineAttempts, `break ${p.name}`);
        const g = globalPairs[k]!;
        const what = g.byAddress ? `{char[${g.size}]} ${hex(g.address)}` : g.name;
        progress(`QEMU + gdb ${k + 1}/${cfg.baselineSample}: watch ${what}, reverse-continue from ${g.start}`);
        globalResults[k]!.baseline = await base.run([...toStart(g.start), `watch ${what}`], ['reverse-continue'], cfg.baselineTimeout, cfg.baselineAttempts, `watch ${g.name}`);
      }
    }
    clearInterval(loadTimer);
    const loadAfter = loadavg();
    loadSamples.push(loadAfter[0]!);

    // ---- the report ----
    const secondsOf = (rs: PairResult[], mode: Mode) => rs.map((r) => (r[mode]?.outcome === 'error' ? NaN : (r[mode]?.seconds ?? NaN)));
    const errorsOf = (rs: PairResult[], mode: Mode) => rs.filter((r) => r[mode]?.outcome === 'error').length;
    const stats = (xs: number[]) => ({ p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), max: quantile(xs, 1) });
    const cell = (xs: number[]) => {
      const s = stats(xs);
      return `${fmtS(s.p50, cfg.limit)} / ${fmtS(s.p95, cfg.limit)} / ${fmtS(s.max, cfg.limit)}`;
    };
    const ops = [
      { key: 'reverseContinue', op: 'reverse continue to a function breakpoint', results: fnResults, target: TARGETS.reverseContinueP95 },
      { key: 'watch', op: 'reverse watch (write) on a global', results: globalResults, target: TARGETS.watchP95 },
    ];
    const summary = ops.map((o) => {
      const use = secondsOf(o.results, 'use');
      const off = secondsOf(o.results, 'off');
      const su = stats(use);
      const so = stats(off);
      const errors = [errorsOf(o.results, 'use'), errorsOf(o.results, 'off')];
      const engineUse = o.results.map((r) => r.use?.engineSeconds ?? NaN);
      const engineOff = o.results.map((r) => r.off?.engineSeconds ?? NaN);
      const engine = `${fmtS(quantile(engineUse, 0.5))} / ${fmtS(quantile(engineUse, 0.95))} | ${fmtS(quantile(engineOff, 0.5))} / ${fmtS(quantile(engineOff, 0.95))}`;
      return {
        ...o,
        use: su,
        off: so,
        errors,
        met: su.p95 <= o.target,
        line: `| ${o.op} | ${o.results.length} | ${cell(use)} | ${cell(off)} | ${ratio(so.p50, su.p50)} / ${ratio(so.p95, su.p95)} | p95 ≤ ${o.target} s | ${su.p95 <= o.target ? 'met' : '**missed**'} | ${engine} |${errors[0] || errors[1] ? ` errors: ${errors[0]} with, ${errors[1]} without |` : ''}`,
      };
    });
    const byClass = (o: (typeof ops)[number], classes: readonly string[], pairs: Array<{ class: string }>) =>
      classes.map((cls) => {
        const rs = o.results.filter((_r, k) => pairs[k]!.class === cls);
        return `| ${o.op}, ${cls} | ${rs.length} | ${cell(secondsOf(rs, 'use'))} | ${cell(secondsOf(rs, 'off'))} |`;
      });
    const mismatches: string[] = [];
    const landedCheck = (r: PairResult) => (r.use?.outcome === 'stopped' && r.off?.outcome === 'stopped' ? (r.use.landed === r.off.landed ? 'yes' : '**NO**') : 'n/a');
    fnPairs.forEach((p, k) => {
      const r = fnResults[k]!;
      if (landedCheck(r) === '**NO**') mismatches.push(`- function pair ${k + 1}: reverse continue to \`${p.name}\` (${hex(p.entry)}, breakpoint at ${p.breakAt ?? '?'}${(p.locations ?? 1) > 1 ? `, ${p.locations} locations` : ''}) from S = ${p.start}: with the index at icount ${r.use!.landed} (${r.use!.reason}), without at ${r.off!.landed} (${r.off!.reason})`);
    });
    globalPairs.forEach((p, k) => {
      const r = globalResults[k]!;
      if (landedCheck(r) === '**NO**') mismatches.push(`- global pair ${k + 1}: reverse watch on \`${p.name}\` (${hex(p.address)}, ${p.size} bytes) from S = ${p.start}: with the index at icount ${r.use!.landed} (${r.use!.reason}), without at ${r.off!.landed} (${r.off!.reason})`);
    });
    for (const rows of [hitRows, historyRows]) for (const r of rows) if (r.off?.same === false) mismatches.push(`- ${rows === hitRows ? 'all hits of' : 'value history of'} \`${r.name}\`: ${r.use?.count} with the index, ${r.off.count} without, and the lists differ`);
    for (const r of hitRows) if (r.items !== undefined && r.expected !== undefined && r.items !== r.expected) mismatches.push(`- all hits of \`${r.name}\`: ${r.items} hits, the index counts ${r.expected} runs of its entry`);

    const snapshotText = (r: PairResult) => (r.use?.landed !== undefined ? fmtN(fromSnapshot(r.use.landed)) : 'n/a');
    const fnTable = [
      '| # | S | function | class | runs before S (whole recording) | breakpoint | with index | landing: instructions from the snapshot before it | without | same icount | QEMU + gdb |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...fnPairs.map((p, k) => {
        const r = fnResults[k]!;
        return `| ${k + 1} | ${fmtN(p.start)} | \`${p.name}\` | ${p.class} | ${p.runsBefore} (${fmtN(p.runsTotal)}) | ${p.breakAt ?? '?'}${(p.locations ?? 1) > 1 ? ` (${p.locations} locations)` : ''} | ${describe(r.use)} | ${snapshotText(r)} | ${describe(r.off)} | ${landedCheck(r)} | ${baselineText(r, 0)} |`;
      }),
    ].join('\n');
    const globalTable = [
      '| # | S | global | bytes | class | last written before S (instructions back) | buckets written before S (whole recording) | with index | landing: instructions from the snapshot before it | without | same icount | QEMU + gdb |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...globalPairs.map((p, k) => {
        const r = globalResults[k]!;
        return `| ${k + 1} | ${fmtN(p.start)} | \`${p.name}\`${p.byAddress ? ' (by address)' : ''} | ${p.size} | ${p.class} | ${fmtN(p.start - p.lastWrite)} | ${p.bucketsBefore} (${p.bucketsTotal}) | ${describe(r.use)} | ${snapshotText(r)} | ${describe(r.off)} | ${landedCheck(r)} | ${baselineText(r, 1)} |`;
      }),
    ].join('\n');
    // What the slow requests have in common: how far their answer lies from a snapshot, and (a
    // watch) how many buckets the index says may hold a write, each replayed under the watchpoint.
    const boundsRows = ops.map((o) => {
      const target = o.key === 'watch' ? TARGETS.watchP95 : TARGETS.reverseContinueP95;
      const rows = o.results.map((r, k) => ({ r, k })).filter(({ r }) => r.use?.outcome === 'stopped' && r.use.landed !== undefined);
      const part = (slow: boolean) => {
        const xs = rows.filter(({ r }) => r.use!.seconds > target === slow);
        const dist = quantile(xs.map(({ r }) => fromSnapshot(r.use!.landed!)), 0.5);
        const buckets = o.key === 'watch' ? quantile(xs.map(({ k }) => globalPairs[k]!.bucketsBefore), 0.5) : NaN;
        return `${xs.length} | ${Number.isNaN(dist) ? 'n/a' : fmtN(Math.round(dist))}${o.key === 'watch' ? ` | ${Number.isNaN(buckets) ? 'n/a' : fmtN(Math.round(buckets))}` : ' | '}`;
      };
      return `| ${o.op} | ${target} s | ${part(true)} | ${part(false)} |`;
    });
    function baselineText(r: PairResult, offset: number): string {
      const b = r.baseline;
      if (!b) return '';
      const deadlocks = b.attempts.filter((a) => a.outcome === 'deadlock').length;
      const note = deadlocks ? ` (${deadlocks} deadlocked attempt${deadlocks === 1 ? '' : 's'})` : '';
      if (b.outcome === 'finished') {
        const same = r.use?.landed !== undefined && b.landed !== undefined ? (b.landed === r.use.landed + offset ? ', same place' : `, **at ${b.landed}**`) : '';
        return `${fmtS(b.seconds)}${same}${note}`;
      }
      if (b.outcome === 'timeout') return `> ${cfg.baselineTimeout} s${note}`;
      return `${b.outcome}${note}`;
    }
    const baselineRows = ops.flatMap((o) =>
      o.results.slice(0, cfg.baselineSample).map((r, k) => {
        const name = o.key === 'watch' ? globalPairs[k]!.name : fnPairs[k]!.name;
        const b = r.baseline;
        const bs = b ? (b.outcome === 'finished' ? b.seconds : b.outcome === 'timeout' ? Infinity : NaN) : NaN;
        return { o, k, name, r, bs };
      }),
    );
    const baselineTable = baselineRows.length
      ? [
          '| operation | pair | QEMU + gdb | Rewind with index | without index | QEMU + gdb / with index |',
          '|---|---|---|---|---|---|',
          ...baselineRows.map(({ o, k, name, r, bs }) => `| ${o.key === 'watch' ? `watch \`${name}\`` : `break \`${name}\``} + reverse-continue | ${k + 1} | ${baselineText(r, o.key === 'watch' ? 1 : 0)} | ${describe(r.use)} | ${describe(r.off)} | ${bs === Infinity ? `> ${ratio(cfg.baselineTimeout, r.use?.seconds ?? NaN)}` : ratio(bs, r.use?.seconds ?? NaN)} |`),
          '',
          ...ops.map((o) => {
            const rows = baselineRows.filter((x) => x.o === o);
            return `- ${o.op}: QEMU + gdb p50 ${fmtS(quantile(rows.map((x) => x.bs), 0.5), cfg.baselineTimeout)} over ${rows.length} pairs, Rewind with the index p50 ${fmtS(quantile(rows.map((x) => x.r.use?.seconds ?? NaN), 0.5), cfg.limit)} on the same pairs`;
          }),
        ].join('\n')
      : 'Not run (--baseline-sample 0).';
    const historyTable = (rows: History[], what: string, t: { base: number; perItem: number }) => {
      const met = rows.filter((r) => r.items !== undefined && r.use!.seconds <= t.base + t.perItem * r.items).length;
      return {
        met,
        text: [
          `| ${what} | count | with index | target | met? | without index | same answer |`,
          '|---|---|---|---|---|---|---|',
          ...rows.map((r) => {
            const target = r.items !== undefined ? t.base + t.perItem * r.items : NaN;
            return `| \`${r.name}\` | ${r.items ?? r.use?.detail ?? '?'}${r.expected !== undefined && r.expected !== r.items ? ` (index: ${r.expected})` : ''} | ${fmtS(r.use?.seconds, cfg.limit)} | ${fmtS(target)} | ${r.use!.seconds <= target ? 'yes' : '**no**'} | ${r.off ? fmtS(r.off.seconds, cfg.limit) : 'not run'} | ${r.off ? (r.off.same === undefined ? (r.off.detail ?? 'n/a') : r.off.same ? 'yes' : '**NO**') : ''} |`;
          }),
        ].join('\n'),
      };
    };
    const hitsT = historyTable(hitRows, 'all hits of', TARGETS.hits);
    const histT = historyTable(historyRows, 'value history of', TARGETS.history);
    const loadMax = Math.max(...loadSamples);
    const targetLines = [
      `| reverse continue p95 | ≤ ${TARGETS.reverseContinueP95} s | ${fmtS(summary[0]!.use.p95, cfg.limit)} | ${summary[0]!.met ? 'met' : '**missed**'} |`,
      `| reverse watch p95 | ≤ ${TARGETS.watchP95} s | ${fmtS(summary[1]!.use.p95, cfg.limit)} | ${summary[1]!.met ? 'met' : '**missed**'} |`,
      `| all hits of a function | ≤ ${TARGETS.hits.base} s + ${TARGETS.hits.perItem * 1000} ms per hit | ${hitsT.met} of ${hitRows.length} within | ${hitRows.length === 0 ? 'not run' : hitsT.met === hitRows.length ? 'met' : '**missed**'} |`,
      `| value history of a global | ≤ ${TARGETS.history.base} s + ${TARGETS.history.perItem * 1000} ms per write | ${histT.met} of ${historyRows.length} within | ${historyRows.length === 0 ? 'not run' : histT.met === historyRows.length ? 'met' : '**missed**'} |`,
    ];
    const header = await benchHeader(
      'index-queries',
      'randomly drawn (start point, kernel function) and (start point, kernel global) pairs; reverseContinue over DAP timed from the request to its `stopped` event, the session at the start point and every engine\'s background work settled, once with the bridge\'s engines opening the recording with its index (`index: \'use\'`) and once without (`index: \'off\'`); QEMU + gdb on a sample',
    );
    const text = [
      header,
      `- source: ${sourceAtStart}`,
      `- recording: ${about}; ${fmtN(end)} instructions (DAP's end ${fmtN(dapEnd)}), ${bundle.manifest.snapshots.list.length} snapshots; index: ${fmtN(ix.bucketCount)} buckets${indexBuild ? `, built by this run in ${fmtS(indexBuild.seconds)}` : ', stored'}${madeIndex && !cfg.keepIndex ? ' (removed again at the end)' : ''}`,
      `- seed ${cfg.seed}; ${cfg.pairs} function pairs (alternately rare: ≤ ${RARE_RUNS} runs of the entry before S, and common), ${cfg.pairs} global pairs (alternately near and far: last written more than ${FAR_FRACTION * 100}% of the recording before S); S uniform in the second half of the recording; symbols ${symbolFile.replace(ROOT + '/', '')}`,
      `- a Rewind request's time limit: ${cfg.limit} s; QEMU + gdb: ${cfg.baselineSample} pairs of each kind, ${cfg.baselineTimeout} s limit on the timed command, up to ${cfg.baselineAttempts} attempts after a QEMU deadlock`,
      `- load average (1, 5, 15 min) at the start ${loadBefore.map((x) => x.toFixed(2)).join(', ')}, at the end ${loadAfter.map((x) => x.toFixed(2)).join(', ')}; 1-minute load sampled every 30 s: min ${Math.min(...loadSamples).toFixed(1)}, median ${median(loadSamples).toFixed(1)}, max ${loadMax.toFixed(1)}. ${loadMax > 2 ? '**The machine (2 cores) was loaded by other work during the run: the numbers are noisy.**' : 'The machine was mostly idle.'}`,
      `- DAP sessions restarted after a request over the time limit or an error: ${restarts.use} with the index, ${restarts.off} without`,
      '',
      '## Reverse queries from random start points (over DAP)',
      '',
      'DAP time: from the reverseContinue request to its `stopped` event. Engine inside the request: the ReplayEngine calls the request caused, as the bridge ran them (the rest is gdb, the gdb relay, the adapter and DAP). A request that did not stop within the time limit counts as slower than any that did.',
      '',
      '| operation | pairs | with index: p50 / p95 / max | without index: p50 / p95 / max | without / with (p50 / p95) | target | with index | engine inside the request, with index: p50 / p95 | the same without |',
      '|---|---|---|---|---|---|---|---|---|',
      ...summary.map((s) => s.line),
      '',
      '| of which | pairs | with index: p50 / p95 / max | without index: p50 / p95 / max |',
      '|---|---|---|---|',
      ...byClass(ops[0]!, ['rare', 'common'], fnPairs),
      ...byClass(ops[1]!, ['near', 'far'], globalPairs),
      '',
      '## What bounds the slow ones',
      '',
      'Requests with the index over their target against those within it: the median distance from the snapshot before the answer to the answer (a landing replays at least that), and for watches the median number of buckets before S where the index saw a write to the global\'s grains (candidates: each may be replayed under the watchpoint).',
      '',
      '| operation | target | over it: requests | median instructions from a snapshot | median candidate buckets | within it: requests | median instructions from a snapshot | median candidate buckets |',
      '|---|---|---|---|---|---|---|---|',
      ...boundsRows,
      '',
      '## Targets (issue 12, with the index)',
      '',
      '| query | target | measured | |',
      '|---|---|---|---|',
      ...targetLines,
      '',
      '## With and without the index: the same answers?',
      '',
      mismatches.length ? ['**Mismatches (bugs):**', '', ...mismatches].join('\n') : 'Every pair landed on the same icount with and without the index, and every whole-recording query that ran both ways gave the same answer.',
      '',
      '## QEMU + gdb on a sample',
      '',
      'One QEMU replay process with only the initial snapshot, driven by gdb (-batch) over its gdbstub (bench/baseline.ts): `monitor replay_break S` + `continue` (untimed), then `break FN` or `watch VAR` and a timed `reverse-continue`. QEMU stops after a writing instruction, Rewind on it: "same place" allows for that.',
      '',
      baselineTable,
      '',
      '## Whole-recording queries (bridge, with the index)',
      '',
      `rewind/hits of the function's entry address and rewind/writes with values of the global, from a bridge client in this process, timed from the request to the answer; the first ${Math.min(cfg.historyPlain, cfg.history)} of each also without the index.`,
      '',
      hitsT.text,
      '',
      histT.text,
      '',
      '## The pairs',
      '',
      fnTable,
      '',
      globalTable,
      '',
    ].join('\n');
    process.stdout.write(text);
    const suffix = { demo: '', linux: '-linux', workload2: '-workload2', bundle: '-bundle' }[cfg.mode];
    const path = resultsPath('index-queries') + suffix;
    await fs.mkdir(dirname(path), { recursive: true });
    await fs.writeFile(path + '.md', text);
    const jsonSafe = (_k: string, v: unknown) => (typeof v === 'bigint' ? hex(v) : v === Infinity ? null : v);
    await fs.writeFile(
      path + '.json',
      JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          source: sourceAtStart,
          mode: cfg.mode,
          settings: cfg,
          recording: { path: cfg.mode === 'demo' ? DEMO_INPUT : bundlePath, about, end, dapEnd, snapshots: bundle.manifest.snapshots.list.length, indexBuckets: ix.bucketCount, indexBuildSeconds: indexBuild?.seconds ?? null },
          loadavg: { before: loadBefore, after: loadAfter, samples1min: loadSamples },
          targets: TARGETS,
          summary: summary.map((s) => ({ key: s.key, pairs: s.results.length, use: s.use, off: s.off, errors: { use: s.errors[0], off: s.errors[1] }, targetP95: s.target, met: s.met })),
          mismatches,
          snapshots: startPoints,
          functionPairs: fnPairs.map((p, k) => ({ ...p, ...fnResults[k], landingFromSnapshot: fnResults[k]?.use?.landed !== undefined ? fromSnapshot(fnResults[k]!.use!.landed!) : null })),
          globalPairs: globalPairs.map((p, k) => ({ ...p, ...globalResults[k], landingFromSnapshot: globalResults[k]?.use?.landed !== undefined ? fromSnapshot(globalResults[k]!.use!.landed!) : null })),
          allHits: hitRows,
          valueHistory: historyRows,
        },
        jsonSafe,
        2,
      ) + '\n',
    );
    progress(`results: ${path}.md, ${path}.json`);
  } finally {
    clearInterval(loadTimer);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

main().then(
  // Everything is closed; should anything still hold the event loop, do not wait for it.
  () => setTimeout(() => process.exit(0), 5000).unref(),
  (e) => {
    process.stderr.write(`bench/index-queries: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);

/**
 * Whether the value history with the index (`indexed`) is the plain scan's: the same writes (time
 * point, code, data address, new value) and the same old values wherever the plain scan has one. A
 * plain scan starts at a slice's snapshot, where a kernel address may not be mapped yet (icount 0:
 * the firmware), so its first write's old value can be unknown; the index's run starts at the
 * write's bucket and reads it (the memory just before the write, which test/index-queries checks).
 */
function sameWrites<W extends { before?: unknown }>(plain: W[], indexed: W[] | undefined): boolean {
  const rest = (w: W) => JSON.stringify({ ...w, before: undefined });
  return indexed !== undefined && plain.length === indexed.length && plain.every((w, i) => rest(w) === rest(indexed[i]!) && (w.before === undefined || JSON.stringify(w.before) === JSON.stringify(indexed[i]!.before)));
}
