/**
 * bench/dap: what a DAP client waits for, next to what the replay engine spends on the same
 * operation and to QEMU + gdb alone, on the same recording, in one run.
 *
 *   node out/bench/dap.js                        # the demo guest (records it first)
 *   node out/bench/dap.js --linux                # the Linux fixture (npm run bench:linux)
 *   node out/bench/dap.js --bundle B --symbols ELF... --break FUNCTION [--watch EXPR] [--hit-if EXPR]
 *   options: --runs N  --baseline-runs N  --baseline-timeout [OP=]SECONDS  --baseline-attempts N
 *            --next K  --next-over-call  --ops OP,OP (only these)
 *
 * Operations (issue 6's table, plus what a UI asks after every stop), all from a start point S
 * inside a function unless said otherwise:
 *   - reverse-stepi: DAP stepBack with granularity "instruction"; gdb `reverse-stepi`;
 *   - reverse step over a line: DAP stepBack; gdb `reverse-next`;
 *   - reverse step out: rewind/reverseStepOut; gdb `reverse-finish`;
 *   - reverse-continue to the previous hit: from a hit of a function breakpoint (the user stopped
 *     on it) back to its previous hit; gdb `break FUNCTION` + `reverse-continue`;
 *   - reverse watchpoint: dataBreakpointInfo + setDataBreakpoints (write) on --watch EXPR, then
 *     reverseContinue; gdb `watch EXPR` + `reverse-continue`;
 *   - stackTrace + scopes + variables (Locals, Arguments, Registers); gdb `bt`, `info args`,
 *     `info locals`, `info registers`.
 *
 * - DAP: the tests' DAP client (test/support/dap-client.ts, over @vscode/debugadapter-testsupport's
 *   DebugClient) runs the real adapter (`node dist/dap.js`) and times each request to its `stopped`
 *   event (moves) or to the last response (inspection).
 *   The adapter attaches to a bridge this process hosts: the same JSON-RPC over a Unix socket that
 *   a launch uses for its private bridge, but here every ReplayEngine call that a DAP request
 *   causes is timed and recorded ("engine inside the request").
 * - Engine alone: the same ReplayEngine calls, replayed in order on a second engine of the same
 *   recording positioned at the same start, without DAP, gdb or the bridge.
 * - Where the time goes: after the timed runs, one more run of every operation in a second DAP
 *   session with the adapter's `trace` on, which logs every GDB/MI command and its answer; their
 *   arrival times split the time between the engine, gdb (with the gdb relay and the bridge's
 *   JSON-RPC) and the adapter (with DAP).
 * - QEMU + gdb (bench/baseline.ts): one QEMU replay process with only the initial snapshot
 *   (loading any other one deadlocks QEMU), driven by gdb (-batch) over its gdbstub, as a user
 *   without Rewind runs them.
 *   Only the commands after reaching the start point are timed (gdb's own clock), each operation
 *   with its own time limit. QEMU's reverse execution sometimes deadlocks (its main thread in
 *   do_run_on_cpu, the vCPU thread in replay_mutex_lock): a QEMU that uses no CPU for 15 s is
 *   checked with `gdb -p`, and a deadlocked attempt is reported and retried (--baseline-attempts).
 *
 * Without --bundle it records the demo guest running guests/demo/inputs/long.txt (`spin 67`, about
 * 6.1e8 instructions, a snapshot every 50M instructions), breaks on kprintf and watches `ticks`.
 * With --linux it uses the Linux fixture (test/linux-fixture.ts: Debian's kernel booting a busybox
 * initramfs that runs `dd`; about 1.5e9 instructions), breaks on ksys_write, picks a hit of the
 * workload's `dd` writes (--hit-if `count == 4321`), and watches jiffies_64; the baseline runs once
 * (each of its operations replays the whole boot) with longer time limits.
 *
 * The hit is, among the hits in the second half of the recording that pass --hit-if, the one after
 * the longest gap since the previous hit; S is K (default 3) `next`s after it, inside the function,
 * or with --next-over-call (the default with --linux) the stop after the first `next` that steps
 * over a call (for ksys_write: the line after vfs_write, so that a reverse step over a line goes
 * back over the whole call). Before each timed request the engines finish their background work.
 * A traced run and the engine's building blocks (process start, replay rates near S) follow the
 * timed runs, then QEMU + gdb.
 * REWIND_BENCH_DEBUG=1 logs every stop, the adapter's output and the engine calls of each request.
 * Results: bench/results/dap-DATE.md (demo, --bundle) or linux-DATE.md (--linux), and .json, with
 * the machine and versions.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startBridge, type RunningBridge } from '../recorder-bridge/src/bridge/server';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { record } from '../recorder-bridge/src/record/recorder';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { ReplayWorker, type Breakpoint, type LadderPoint, type Watchpoint } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { killAllChildren } from '../recorder-bridge/src/util/processes';
import { ensureLinuxFixture, WRITE_BYTES } from '../test/linux-fixture';
import { RewindDapClient, type Stopped } from '../test/support/dap-client';
import { descendantsOf } from '../test/support/procs';
import { Baseline, type BaselineResult } from './baseline';
import { benchArgs, benchHeader, median, now, resultsPath, ROOT, settle, since } from './common';
import { describeCalls, EngineProbe, noInternals, type EngineCall, type Internals } from './engine-probe';

/** A DAP request that gets no answer (or no stop) in this long fails the benchmark. */
const DAP_TIMEOUT_MS = 300_000;
const DEMO_INPUT = 'guests/demo/inputs/long.txt';
const DEMO_BREAK = 'kprintf';
const DEMO_WATCH = 'ticks';
const DEMO_SNAPSHOT_EVERY = 50_000_000;
const LINUX_BREAK = 'ksys_write';
const LINUX_WATCH = 'jiffies_64';
/** With --next-over-call: a `next` that runs more instructions than this stepped over a call. */
const CALL_INSTRUCTIONS = 100;
/** The building blocks replay this many instructions before S. */
const BLOCK_SPAN = 300_000;

/** Issue 6's targets (seconds, what the DAP client waits for) and its QEMU + gdb times on a 1.5e9-instruction Debian boot. */
const TARGETS: Record<string, { seconds: number; issueBaseline: string }> = {
  'stepBack-instruction': { seconds: 0.1, issueBaseline: '14 s' },
  'stepBack-line': { seconds: 0.3, issueBaseline: '64 s' },
  reverseStepOut: { seconds: 0.5, issueBaseline: '39 s' },
  reverseContinue: { seconds: 1, issueBaseline: '26 s' },
  watch: { seconds: 2, issueBaseline: '> 300 s' },
};

const debug = (line: string) => {
  if (process.env.REWIND_BENCH_DEBUG) process.stderr.write(line.endsWith('\n') ? line : line + '\n');
};

// ---- the engine, observed ----------------------------------------------------------------------

function describeInternals(x: Internals | undefined): string {
  if (!x) return '';
  const parts: string[] = [];
  if (x.starts) parts.push(`${x.starts} replay process${x.starts === 1 ? '' : 'es'} started (${fmtMs(x.startSeconds)} ms)`);
  if (x.runs) parts.push(`${plural(x.runs, 'plain run')}: ${fmtIcount(x.instructions)} instructions in ${fmtMs(x.runSeconds)} ms`);
  if (x.trapRuns) parts.push(`${plural(x.trapRuns, 'run')} with breakpoints or watchpoints: ${fmtIcount(x.trapInstructions)} instructions in ${fmtMs(x.trapSeconds)} ms`);
  if (x.snapshots) parts.push(`${plural(x.snapshots, 'ladder snapshot')} saved (${fmtMs(x.snapshotSeconds)} ms)`);
  return parts.join('; ') || 'no replay work';
}

function fmtIcount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : String(n);
}

/**
 * The engine's building blocks on this recording, measured directly on replay processes, the way
 * the engine uses them near S: a process started at the last recorded snapshot before S runs to
 * `span` instructions before S and saves a ladder snapshot there (as the engine does near where
 * the user is); then the last `span` instructions before S are replayed by that same process (its
 * translation cache warm) and by processes freshly started at the ladder snapshot (cold), without
 * traps, with a breakpoint, and with a write watchpoint (running on after every stop, as a scan does).
 */
async function buildingBlocks(bundle: Bundle, ws: ReplayWorkspace, end: number, before: number, reps: number, bp?: { name: string; address: bigint }, wp?: { name: string; address: bigint; size: number }): Promise<{ lines: string[]; json: Record<string, number[]> }> {
  const snap = [...bundle.manifest.snapshots.list].filter((x) => x.icount < before - BLOCK_SPAN).pop()!;
  const point: LadderPoint = { ...snap, image: ws.snapshots, source: 'record' };
  const near = before - BLOCK_SPAN;
  const m: Record<string, number[]> = { startRecorded: [], toNear: [], save: [], startLadder: [], warm: [], cold: [], coldBreak: [], coldWatch: [], breakStops: [], watchStops: [] };
  const timed = async <T>(key: string, f: () => Promise<T>): Promise<T> => {
    const t0 = now();
    const v = await f();
    m[key]!.push(since(t0));
    return v;
  };
  const runAll = async (w: ReplayWorker, traps: { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[] }) => {
    let stops = 0;
    for (;;) {
      const r = await w.run({ until: before, ...traps });
      if (r.kind === 'time' || r.kind === 'end' || w.icount >= before) return stops;
      stops++;
    }
  };
  const fresh = async (p: LadderPoint, key: string, body: (w: ReplayWorker) => Promise<void>) => {
    const w = await timed(key, () => ReplayWorker.start(bundle, ws, p, end));
    try {
      await body(w);
    } finally {
      await w.kill();
    }
  };
  for (let i = 0; i < reps; i++) {
    let ladder: LadderPoint | undefined;
    await fresh(point, 'startRecorded', async (w) => {
      await timed('toNear', () => w.runTo(near));
      ladder = await timed('save', () => w.saveSnapshot(`bench${i}`));
      await timed('warm', () => w.runTo(before));
    });
    if (!ladder) throw new Error('could not save a snapshot near S');
    await fresh(ladder, 'startLadder', async (w) => void (await timed('cold', () => w.runTo(before))));
    if (bp) await fresh(ladder, 'startLadder', async (w) => void m.breakStops!.push(await timed('coldBreak', () => runAll(w, { breakpoints: [{ address: bp.address }] }))));
    if (wp) await fresh(ladder, 'startLadder', async (w) => void m.watchStops!.push(await timed('coldWatch', () => runAll(w, { watchpoints: [{ address: wp.address, size: wp.size, access: 'write' }] }))));
  }
  const med = (k: string) => median(m[k]!);
  const rate = (n: number, k: string) => `${(n / med(k) / 1e6).toFixed(n / med(k) < 1e7 ? 1 : 0)}M/s`;
  const lines = [
    `Measured on replay processes directly, near S (medians of ${reps}): a process starts at the recorded snapshot ${snap.name} (icount ${snap.icount.toLocaleString('en-US')}, ${(snap.vmStateBytes / 2 ** 20).toFixed(0)} MiB of CPU and device state), runs to ${fmtIcount(BLOCK_SPAN)} instructions before S and saves a ladder snapshot there, as the engine does near the user's position; then the last ${fmtIcount(BLOCK_SPAN)} instructions before S are replayed by that process and by fresh ones started at that ladder snapshot.`,
    '',
    '| building block | seconds | rate |',
    '|---|---|---|',
    `| start a replay process at recorded snapshot ${snap.name} (QEMU start, snapshot load, QMP and gdbstub connected) | ${fmtS(med('startRecorded'))} | |`,
    `| start a replay process at an engine-added ladder snapshot | ${fmtS(med('startLadder'))} | |`,
    `| replay ${fmtIcount(near - snap.icount)} instructions from ${snap.name} to ${fmtIcount(BLOCK_SPAN)} before S (fresh process) | ${fmtS(med('toNear'))} | ${rate(near - snap.icount, 'toNear')} |`,
    `| save a ladder snapshot (savevm) | ${fmtS(med('save'))} | |`,
    `| replay the last ${fmtIcount(BLOCK_SPAN)} instructions before S, same process (translation cache warm from the run before) | ${fmtS(med('warm'))} | ${rate(BLOCK_SPAN, 'warm')} |`,
    `| the same ${fmtIcount(BLOCK_SPAN)} instructions in a fresh process (cold translation cache) | ${fmtS(med('cold'))} | ${rate(BLOCK_SPAN, 'cold')} |`,
    ...(bp ? [`| the same, fresh process, with a breakpoint on ${bp.name} (${median(m.breakStops!)} stops) | ${fmtS(med('coldBreak'))} | ${rate(BLOCK_SPAN, 'coldBreak')} |`] : []),
    ...(wp ? [`| the same, fresh process, with a write watchpoint on ${wp.name} (${median(m.watchStops!)} stops, each run on) | ${fmtS(med('coldWatch'))} | ${rate(BLOCK_SPAN, 'coldWatch')} |`] : []),
  ];
  return { lines, json: m };
}

/** The same calls, in order, on another engine (already at the start point): the engine's own time. */
async function replayCalls(engine: ReplayEngine, calls: EngineCall[]): Promise<number> {
  const e = engine as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const t0 = now();
  for (const c of calls) await e[c.method]!.apply(engine, c.args);
  return since(t0);
}

// ---- the DAP client ------------------------------------------------------------------------------

/** The shared DAP client, attached to the benchmark's bridge, with what the benchmark asks of it. */
class BenchDapClient extends RewindDapClient {
  /** Every output event, with when it arrived, while recordOutput is on (for the traced run). */
  readonly timedOutput: Array<{ t: bigint; text: string }> = [];
  recordOutput = false;

  constructor() {
    super({ timeoutMs: DAP_TIMEOUT_MS });
  }

  async open(attach: Record<string, unknown>): Promise<void> {
    await this.start();
    this.dc.on('output', (e: DebugProtocol.OutputEvent) => {
      if (this.recordOutput) this.timedOutput.push({ t: now(), text: e.body.output });
      else debug(`adapter: ${e.body.output}`);
    });
    // Only the breakpoints each operation sets: no panic filter.
    await this.launchOrAttach('attach', attach, async () => void (await this.dc.setExceptionBreakpointsRequest({ filters: [] })));
  }

  override async move(send: () => Promise<unknown>): Promise<Stopped> {
    const m = await super.move(send);
    debug(`stopped: ${m.event.body.reason} ${m.event.body.description ?? ''}`);
    return m;
  }

  async seek(icount: number): Promise<void> {
    await this.move(() => this.custom('rewind/seek', { icount }));
  }

  /** "function file:line" of the top frame. */
  async top(): Promise<string> {
    return (await this.frames())[0] ?? '?';
  }

  /** What a UI asks after every stop: the stack, the scopes of frame 0, and the variables of three of them. */
  async inspect(): Promise<{ seconds: number; variables: number }> {
    const t0 = now();
    const frames = await this.stack();
    const scopes = (await this.dc.scopesRequest({ frameId: frames[0]!.id })).body.scopes;
    let variables = 0;
    for (const name of ['Locals', 'Arguments', 'Registers']) {
      const s = scopes.find((x) => x.name === name);
      if (!s) throw new Error(`no scope ${name} (scopes: ${scopes.map((x) => x.name).join(', ')})`);
      variables += (await this.dc.variablesRequest({ variablesReference: s.variablesReference })).body.variables.length;
    }
    return { seconds: since(t0), variables };
  }
}

// ---- the benchmark -------------------------------------------------------------------------------

interface OpRow {
  key: string;
  op: string;
  dap: number[];
  engineInRequest: number[];
  engineReadsInRequest: number[];
  engineAlone: number[];
  baseline: BaselineResult[];
  /** Where each DAP run landed. */
  landedDap: number[];
  calls: string;
  callsRun1?: EngineCall[];
  landing?: string;
  stopReason?: string;
  /** Untimed setup requests of the operation (e.g. dataBreakpointInfo + setDataBreakpoints), seconds. */
  setupSeconds: number[];
  trace?: TraceSplit;
  /** The replay processes' work inside each timed request. */
  internals: Internals[];
}

interface Op {
  key: string;
  op: string;
  /** Where it starts: S, or the hit of the breakpoint S was reached from (a user stopped on it). */
  from: 'start' | 'hit';
  /** Set up the session (untimed), run the timed DAP request(s), undo the setup. */
  dap: (c: BenchDapClient) => Promise<Stopped | { seconds: number }>;
  baseline: { setup: string[]; timed: string[] };
  before?: (c: BenchDapClient) => Promise<void>;
  after?: (c: BenchDapClient) => Promise<void>;
  moves: boolean;
  /**
   * Where QEMU + gdb lands relative to Rewind for the same event: 0 for the same instruction; 1
   * for a watchpoint, where QEMU's reverse-continue stops after the writing instruction and Rewind
   * (like gdb's reverse execution everywhere else) before it.
   */
  baselineOffset?: number;
}

/** The commit measured, and whether the adapter or the engine had uncommitted changes (read-only git). */
function sourceState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'debug-adapter', 'recorder-bridge'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return `git ${head}${dirty ? `, with uncommitted changes in ${plural(dirty, 'file')} of debug-adapter/ and recorder-bridge/ (the working tree as built for this run)` : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

function plural(n: number, what: string): string {
  return `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'}`;
}

function fmtMs(s: number): string {
  if (!Number.isFinite(s)) return 'did not finish';
  const ms = s * 1000;
  return ms < 10 ? ms.toFixed(1) : ms.toFixed(0);
}

function fmtS(s: number): string {
  if (!Number.isFinite(s)) return '?';
  return s < 1 ? s.toFixed(3) : s < 10 ? s.toFixed(2) : s.toFixed(1);
}

/**
 * Among the candidate hits, the first one after the longest quiet stretch (since the previous hit
 * of any kind) in the second half of the recording, the later one of equal gaps: a reverse
 * continue from there has the longest way to go back.
 */
function hitPick(hits: number[], end: number, candidate: (i: number) => boolean = () => true): { index: number; gap: number } | undefined {
  let best = -1;
  let gap = -1;
  for (let i = 1; i < hits.length; i++) {
    if (hits[i]! < end / 2 || !candidate(i)) continue;
    const g = hits[i]! - hits[i - 1]!;
    if (g >= gap * 0.999) {
      best = i;
      gap = g;
    }
  }
  if (best < 0) return undefined;
  return { index: best, gap };
}

// ---- where the time goes (the traced run) -------------------------------------------------------

interface TraceSplit {
  total: number;
  engine: number;
  /** gdb busy (an MI command pending, or a target running) minus the engine calls meanwhile: gdb, the relay, the bridge's JSON-RPC. */
  gdb: number;
  /** Neither: the adapter's own work and DAP. */
  adapter: number;
  miCommands: number;
  engineCalls: number;
  /** The MI commands, by kind, with their time. */
  mi: string;
}

/**
 * Splits a traced request's time: the adapter logs `-> TOKENcommand` when it sends a GDB/MI
 * command and `<- ...` for every line of gdb's answer; gdb is busy from a command to its result
 * record, and for an execution command until `*stopped`.
 */
function splitTrace(t0: bigint, t1: bigint, output: Array<{ t: bigint; text: string }>, calls: EngineCall[]): TraceSplit {
  const busy: Array<[bigint, bigint]> = [];
  const pending = new Map<string, { t: bigint; command: string }>();
  let running: bigint | undefined;
  let openSince: bigint | undefined;
  const byCommand = new Map<string, { n: number; s: number }>();
  const sent = new Map<string, { t: bigint; command: string }>();
  const mark = (t: bigint) => {
    const isBusy = pending.size > 0 || running !== undefined;
    if (isBusy && openSince === undefined) openSince = t;
    if (!isBusy && openSince !== undefined) {
      busy.push([openSince, t]);
      openSince = undefined;
    }
  };
  let miCommands = 0;
  for (const o of output) {
    if (o.t < t0 || o.t > t1) continue;
    for (const line of o.text.split('\n')) {
      let m: RegExpExecArray | null;
      if ((m = /^-> (\d+)(-?\S+)/.exec(line))) {
        miCommands++;
        const e = { t: o.t, command: m[2]! };
        pending.set(m[1]!, e);
        sent.set(m[1]!, e);
      } else if ((m = /^<- (\d+)\^(\w+)/.exec(line))) {
        const p = pending.get(m[1]!);
        pending.delete(m[1]!);
        if (m[2] === 'running') running = running ?? o.t;
        else if (p) {
          const k = byCommand.get(p.command) ?? { n: 0, s: 0 };
          k.n++;
          k.s += Number(o.t - p.t) / 1e9;
          byCommand.set(p.command, k);
        }
        if (m[2] === 'running' && p) sent.set(`run`, p);
      } else if (/^<- \*stopped/.test(line)) {
        const p = sent.get('run');
        if (p) {
          const k = byCommand.get(p.command) ?? { n: 0, s: 0 };
          k.n++;
          k.s += Number(o.t - p.t) / 1e9;
          byCommand.set(p.command, k);
          sent.delete('run');
        }
        running = undefined;
      } else continue;
      mark(o.t);
    }
  }
  if (openSince !== undefined) busy.push([openSince, t1]);
  const overlap = (a0: bigint, a1: bigint) => busy.reduce((s, [b0, b1]) => s + Math.max(0, Number((a1 < b1 ? a1 : b1) - (a0 > b0 ? a0 : b0))), 0) / 1e9;
  const gdbBusy = busy.reduce((s, [a, b]) => s + Number(b - a), 0) / 1e9;
  const engine = calls.reduce((s, c) => s + c.seconds, 0);
  const engineInGdb = calls.reduce((s, c) => s + overlap(c.t0, c.t1), 0);
  const total = Number(t1 - t0) / 1e9;
  return {
    total,
    engine,
    gdb: gdbBusy - engineInGdb,
    adapter: total - gdbBusy - (engine - engineInGdb),
    miCommands,
    engineCalls: calls.length,
    mi: [...byCommand].map(([c, { n, s }]) => `${c}${n > 1 ? ` ×${n}` : ''} ${fmtMs(s)}`).join(', '),
  };
}

// ---- main ----------------------------------------------------------------------------------------

interface Settings {
  mode: 'demo' | 'linux' | 'bundle';
  runs: number;
  baselineRuns: number;
  baselineAttempts: number;
  timeouts: Record<string, number>;
  nexts: number;
  nextOverCall: boolean;
  /** Only these operations (--ops, for trying things out). */
  only?: string[];
  fn: string;
  watch?: string;
  hitIf?: string;
  symbols: string[];
  bundle?: string;
}

const OP_KEYS = ['stepBack-instruction', 'stepBack-line', 'reverseStepOut', 'reverseContinue', 'watch', 'inspect'];

async function settings(): Promise<Settings & { about: string }> {
  const { values } = benchArgs('dap', {
    options: {
      linux: { type: 'boolean' },
      bundle: { type: 'string' },
      symbols: { type: 'string', multiple: true },
      break: { type: 'string' },
      watch: { type: 'string' },
      'hit-if': { type: 'string' },
      runs: { type: 'string' },
      'baseline-runs': { type: 'string' },
      'baseline-timeout': { type: 'string', multiple: true },
      'baseline-attempts': { type: 'string' },
      next: { type: 'string' },
      'next-over-call': { type: 'boolean' },
      ops: { type: 'string' },
    },
  });
  const linux = values.linux === true;
  if (linux && values.bundle) throw new Error('--linux uses the Linux fixture: leave out --bundle');
  if (values.bundle && !values.break) throw new Error('--bundle needs --break FUNCTION (a function the recording runs repeatedly, e.g. ksys_write)');
  const mode = linux ? 'linux' : values.bundle ? 'bundle' : 'demo';
  const runs = Number(values.runs ?? 5);
  const baselineRuns = Number(values['baseline-runs'] ?? (linux ? 1 : runs));
  // QEMU deadlocks in about half of its reverse continues: Linux runs the baseline once, so it tries harder.
  const baselineAttempts = Number(values['baseline-attempts'] ?? (linux ? 10 : 3));
  // Linux: `next` until one steps over a call (ksys_write: the line after vfs_write), at most --next times.
  const nextOverCall = values['next-over-call'] ?? linux;
  const nexts = Number(values.next ?? (nextOverCall ? 12 : 3));
  if (!(runs >= 1) || !(baselineRuns >= 0) || !(baselineAttempts >= 1) || !(nexts >= 0)) throw new Error('--runs and --baseline-attempts need a positive number, --baseline-runs and --next a number >= 0');
  // Per-operation time limits of the baseline's timed commands.
  const timeouts: Record<string, number> = {};
  for (const k of OP_KEYS) timeouts[k] = linux ? 300 : 60;
  timeouts.watch = linux ? 400 : 60;
  for (const t of values['baseline-timeout'] ?? []) {
    const m = /^(?:([\w-]+)=)?(\d+(?:\.\d+)?)$/.exec(t);
    if (!m) throw new Error(`--baseline-timeout ${t}: expected SECONDS or OP=SECONDS (OP: ${OP_KEYS.join(', ')})`);
    if (m[1] && !OP_KEYS.includes(m[1])) throw new Error(`--baseline-timeout ${t}: no operation ${m[1]} (${OP_KEYS.join(', ')})`);
    for (const k of m[1] ? [m[1]] : OP_KEYS) timeouts[k] = Number(m[2]);
  }
  let symbols = (values.symbols ?? []).map((s) => (isAbsolute(s) ? s : resolve(s)));
  let bundle = values.bundle ? resolve(values.bundle) : undefined;
  let about = '';
  if (linux) {
    const f = await ensureLinuxFixture();
    bundle = f.bundle;
    if (symbols.length === 0) symbols = [f.vmlinux];
    about = `the Linux fixture (test/linux-fixture.ts): Debian's ${f.release} (package ${f.packageVersion}) booting a busybox initramfs whose init runs \`dd bs=${WRITE_BYTES} count=3\`, writes to /dev/kmsg and crashes through sysrq; symbols ${symbols.map((s) => s.replace(ROOT + '/', '')).join(', ')}`;
  }
  const fn = values.break ?? (linux ? LINUX_BREAK : DEMO_BREAK);
  const watch = values.watch ?? (linux ? LINUX_WATCH : mode === 'demo' ? DEMO_WATCH : undefined);
  const hitIf = values['hit-if'] ?? (linux && fn === LINUX_BREAK ? `count == ${WRITE_BYTES}` : undefined);
  const only = values.ops ? values.ops.split(',').map((x) => x.trim()) : undefined;
  for (const k of only ?? []) if (!OP_KEYS.includes(k)) throw new Error(`--ops ${k}: no such operation (${OP_KEYS.join(', ')})`);
  return { mode, runs, baselineRuns, baselineAttempts, timeouts, nexts, nextOverCall, fn, ...(only ? { only } : {}), symbols, about, ...(watch ? { watch } : {}), ...(hitIf ? { hitIf } : {}), ...(bundle ? { bundle } : {}) };
}

async function main(): Promise<void> {
  const cfg = await settings();
  const { runs, nexts, fn, watch } = cfg;
  const loadBefore = loadavg();
  const loadSamples: number[] = [loadBefore[0]!];
  const loadTimer = setInterval(() => loadSamples.push(loadavg()[0]!), 30_000);
  loadTimer.unref();
  const startedAt = new Date();
  // What was built and measured: the source as the run starts (others may commit meanwhile).
  const sourceAtStart = sourceState();

  const work = mkdtempSync(join(tmpdir(), 'rewind-bench-dap-'));
  let bridge: RunningBridge | undefined;
  let dap: BenchDapClient | undefined;
  let alone: ReplayEngine | undefined;
  let ws: ReplayWorkspace | undefined;
  const cleanup = async () => {
    await dap?.stop();
    dap = undefined;
    await bridge?.close();
    bridge = undefined;
    await alone?.close();
    alone = undefined;
    await ws?.dispose();
    ws = undefined;
    killAllChildren();
    // Anything still below this process (a QEMU or gdb a failure left behind): by pid.
    for (const p of descendantsOf()) {
      process.stderr.write(`bench/dap: killing leftover process ${p.pid} (${p.comm})\n`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  try {
    let bundlePath = cfg.bundle;
    let recordedHere = '';
    if (!bundlePath) {
      bundlePath = join(work, 'bench.rewind');
      process.stderr.write(`recording ${DEMO_INPUT} ...\n`);
      await record({ kernel: join(ROOT, 'guests/demo/build/kernel.elf'), input: join(ROOT, DEMO_INPUT), out: bundlePath, snapshotEvery: DEMO_SNAPSHOT_EVERY });
      recordedHere = `the demo guest running \`${DEMO_INPUT}\` (\`spin 67\`), recorded by this run with a snapshot every ${DEMO_SNAPSHOT_EVERY / 1e6}M instructions`;
    }
    const bundle = await Bundle.open(bundlePath);
    const symbols = cfg.symbols;
    const symbolFiles = symbols.length > 0 ? symbols : [bundle.path(bundle.manifest.guest.kernel.file)];
    if (bundle.manifest.guest.kernel.format === 'linux-bzimage' && symbols.length === 0) throw new Error('a Linux recording needs --symbols VMLINUX');

    const probe = new EngineProbe();
    bridge = await startBridge({ root: dirname(bundlePath), socket: join(work, 'bridge.sock'), log: join(work, 'bridge.log'), engine: { onOpen: (e) => probe.attach(e) } });
    ws = await ReplayWorkspace.create(bundle);
    const base = await Baseline.create(bundle, ws, work, symbolFiles);
    alone = await ReplayEngine.open(bundlePath);
    const attach = { bridge: `unix:${join(work, 'bridge.sock')}`, recording: bundlePath, stopOnEntry: true, ...(symbols.length ? { symbols } : {}) };

    process.stderr.write('opening the DAP session\n');
    dap = new BenchDapClient();
    await dap.open(attach);
    const c = dap;
    const end = (await c.position()).end;

    // The start point: a hit of the function after a long quiet stretch, then `next` into it.
    const hitsResponse = await c.custom('rewind/hits', { function: fn });
    const hits = hitsResponse.hits.map((h) => h.icount);
    if (hits.length < 2) throw new Error(`${fn} runs ${hits.length} time(s) in this recording; --break needs a function that runs at least twice`);
    let accepted: Set<number> | undefined;
    const hitValues = new Map<number, string>();
    if (cfg.hitIf) {
      accepted = new Set();
      for (let i = 1; i < hits.length; i++) {
        if (hits[i]! < end / 2) continue;
        await c.seek(hits[i]!);
        const v = await c.evaluate(`(${cfg.hitIf})`).catch((e: Error) => `error: ${e.message}`);
        hitValues.set(i, v);
        if (/^(1|true)$/.test(v.trim())) accepted.add(i);
      }
      debug(`--hit-if ${cfg.hitIf}: ${[...hitValues].map(([i, v]) => `#${i}@${hits[i]}=${v}`).join(' ')}`);
    }
    const pick = hitPick(hits, end, accepted ? (i) => accepted!.has(i) : undefined);
    if (!pick) throw new Error(`no hit of ${fn} in the second half of the recording${cfg.hitIf ? ` where ${cfg.hitIf}` : ''} (${hits.length} hits)`);
    const hit = hits[pick.index]!;
    // Every operation starts with a seek, which shows the stack gdb builds from scratch (with any
    // inlined frames; a `next` hides the one whose first instruction it stopped on): judge
    // candidates the same way.
    await c.seek(hit);
    const hitWhere = await c.top();
    const fnTop = (await c.stack())[0]?.name;
    let start = hit;
    let nextsDone = 0;
    let overCall: { line: string; instructions: number } | undefined;
    for (let i = 0; i < nexts; i++) {
      const lineBefore = await c.top();
      await c.move(() => c.dc.nextRequest({ threadId: 1 }));
      const at = (await c.position()).icount;
      await c.seek(at);
      if ((await c.stack())[0]?.name !== fnTop) break;
      const prev = start;
      start = at;
      nextsDone++;
      // A `next` over more than a few instructions stepped over a call.
      if (cfg.nextOverCall && at - prev > CALL_INSTRUCTIONS) {
        overCall = { line: lineBefore, instructions: at - prev };
        break;
      }
    }
    if (cfg.nextOverCall && !overCall) throw new Error(`no \`next\` over a call in ${fn} within ${nexts} \`next\`s of the hit at ${hit} (--next K for more, or leave out --next-over-call)`);
    await c.seek(start);
    const startWhere = await c.top();
    process.stderr.write(`start point: icount ${start} (${((start / end) * 100).toFixed(1)}%), ${startWhere}; hit ${pick.index + 1} of ${hits.length} of ${fn} at ${hit}\n`);

    // The watched expression, checked once: where it is, and (engine query) its last write before S.
    let watchInfo: { address: bigint; size: number; description: string; lastWrite?: number } | undefined;
    if (watch) {
      const info = (await c.dc.dataBreakpointInfoRequest({ name: watch })).body;
      if (!info.dataId) throw new Error(`no data breakpoint on ${watch}: ${info.description}`);
      const id = JSON.parse(info.dataId) as { address: string; size: number };
      watchInfo = { address: BigInt(id.address), size: id.size, description: info.description };
      await alone.seek(start);
      const lw = await alone.lastWrite(watchInfo.address, watchInfo.size);
      if (lw) watchInfo.lastWrite = lw.icount;
    }

    const toStart = [`monitor replay_break ${start}`, 'continue', 'monitor info replay'];
    const toHit = [`monitor replay_break ${hit}`, 'continue', 'monitor info replay'];
    const allOps: Op[] = [
      {
        key: 'stepBack-instruction',
        op: 'reverse-stepi (stepBack, instruction)',
        from: 'start',
        moves: true,
        dap: (d) => d.move(() => d.dc.stepBackRequest({ threadId: 1, granularity: 'instruction' })),
        baseline: { setup: toStart, timed: ['reverse-stepi'] },
      },
      {
        key: 'stepBack-line',
        op: 'reverse step over a line (stepBack)',
        from: 'start',
        moves: true,
        dap: (d) => d.move(() => d.dc.stepBackRequest({ threadId: 1 })),
        baseline: { setup: toStart, timed: ['reverse-next'] },
      },
      {
        key: 'reverseStepOut',
        op: 'reverse step out (rewind/reverseStepOut)',
        from: 'start',
        moves: true,
        dap: (d) => d.move(() => d.custom('rewind/reverseStepOut', { threadId: 1 })),
        baseline: { setup: toStart, timed: ['reverse-finish'] },
      },
      {
        key: 'reverseContinue',
        op: `reverse-continue to the previous hit of ${fn} (reverseContinue)`,
        from: 'hit',
        moves: true,
        before: async (d) => {
          const bp = (await d.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: fn }] })).body.breakpoints[0];
          if (!bp?.verified) throw new Error(`function breakpoint ${fn} not verified: ${bp?.message ?? '?'}`);
        },
        dap: (d) => d.move(() => d.dc.send('reverseContinue', { threadId: 1 })),
        after: async (d) => {
          await d.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
        },
        baseline: { setup: [...toHit, `break ${fn}`], timed: ['reverse-continue'] },
      },
      ...(watch
        ? [
            {
              key: 'watch',
              op: `reverse watchpoint: last write of ${watch} (setDataBreakpoints, reverseContinue)`,
              from: 'start',
              moves: true,
              before: async (d: BenchDapClient) => {
                const info = (await d.dc.dataBreakpointInfoRequest({ name: watch })).body;
                if (!info.dataId) throw new Error(`no data breakpoint on ${watch}: ${info.description}`);
                const bp = (await d.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId, accessType: 'write' }] })).body.breakpoints[0];
                if (!bp?.verified) throw new Error(`data breakpoint on ${watch} not verified: ${bp?.message ?? '?'}`);
              },
              dap: (d: BenchDapClient) => d.move(() => d.dc.send('reverseContinue', { threadId: 1 })),
              after: async (d: BenchDapClient) => {
                await d.dc.setDataBreakpointsRequest({ breakpoints: [] });
              },
              baseline: { setup: [...toStart, `watch ${watch}`], timed: ['reverse-continue'] },
              baselineOffset: 1,
            } satisfies Op,
          ]
        : []),
      {
        key: 'inspect',
        op: 'stackTrace + scopes + variables (Locals, Arguments, Registers)',
        from: 'start',
        moves: false,
        dap: (d) => d.inspect(),
        baseline: { setup: [...toStart, 'maintenance flush register-cache', 'maintenance flush dcache'], timed: ['bt 20', 'info args', 'info locals', 'info registers'] },
      },
    ];
    const ops = allOps.filter((o) => !cfg.only || cfg.only.includes(o.key));
    const rows: OpRow[] = ops.map((o) => ({ key: o.key, op: o.op, dap: [], engineInRequest: [], engineReadsInRequest: [], engineAlone: [], baseline: [], landedDap: [], calls: '', setupSeconds: [], internals: [] }));

    /** One DAP run of an operation from its start: [the move or inspection, the engine calls]. */
    const runOp = async (d: BenchDapClient, o: Op, from: number) => {
      await d.seek(from);
      const ts = now();
      await o.before?.(d);
      const setupSeconds = since(ts);
      for (const e of [...probe.seen, alone!]) await settle(e);
      probe.begin();
      const t0 = now();
      let r: Stopped | { seconds: number };
      let calls: EngineCall[];
      try {
        r = await o.dap(d);
      } finally {
        calls = probe.end();
      }
      const t1 = t0 + BigInt(Math.round(r.seconds * 1e9));
      await o.after?.(d);
      return { r, calls, setupSeconds, t0, t1 };
    };

    // One pass untimed, on both engines: gdb's symbol tables, the first replay processes and ladder points.
    process.stderr.write('warm-up pass\n');
    for (const o of ops) {
      const from = o.from === 'hit' ? hit : start;
      const { calls } = await runOp(c, o, from);
      await alone.seek(from);
      await settle(alone);
      await replayCalls(alone, calls);
    }

    for (let run = 0; run < runs; run++) {
      for (let k = 0; k < ops.length; k++) {
        const o = ops[k]!;
        const r = rows[k]!;
        process.stderr.write(`run ${run + 1}/${runs}: ${o.op}\n`);
        const from = o.from === 'hit' ? hit : start;
        const { r: res, calls, setupSeconds } = await runOp(c, o, from);
        r.dap.push(res.seconds);
        r.setupSeconds.push(setupSeconds);
        r.engineInRequest.push(calls.reduce((s, x) => s + x.seconds, 0));
        r.engineReadsInRequest.push(calls.filter((x) => x.kind === 'read').reduce((s, x) => s + x.seconds, 0));
        r.calls = describeCalls(calls, (sec) => `${fmtMs(sec)} ms`);
        r.internals.push(probe.lastInternals ?? noInternals());
        debug(`calls: ${calls.map((x) => `${x.method}(${JSON.stringify(x.args, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v))}) ${fmtMs(x.seconds)}ms`).join(' ')}`);
        const landed = (await c.position()).icount;
        r.landedDap.push(landed);
        if (run === 0) {
          r.callsRun1 = calls;
          r.stopReason = 'event' in res ? `${res.event.body.reason}${res.event.body.description ? `: ${res.event.body.description}` : ''}` : undefined;
          r.landing = o.moves ? `${await c.top()}, icount ${landed.toLocaleString('en-US')}, ${plural(from - landed, 'instruction')} back${o.from === 'hit' ? ' from the hit' : ''}` : `at S, ${startWhere}`;
        }
        await alone.seek(from);
        await settle(alone);
        r.engineAlone.push(await replayCalls(alone, calls));
      }
    }

    // Where the time goes: one more run of each operation with the adapter's trace on.
    await dap.stop();
    dap = undefined;
    process.stderr.write('traced run (where the time goes)\n');
    const traced = new BenchDapClient();
    dap = traced;
    await traced.open({ ...attach, trace: true });
    // A new session has a new engine: warm it up like the first one, untraced.
    for (const o of ops) await runOp(traced, o, o.from === 'hit' ? hit : start);
    for (let k = 0; k < ops.length; k++) {
      const o = ops[k]!;
      const from = o.from === 'hit' ? hit : start;
      traced.timedOutput.length = 0;
      traced.recordOutput = true;
      const { calls, t0, t1 } = await runOp(traced, o, from);
      traced.recordOutput = false;
      rows[k]!.trace = splitTrace(t0, t1, traced.timedOutput, calls);
    }
    await dap.stop();
    dap = undefined;

    // The engine's building blocks on this recording, for the analysis of the times above.
    process.stderr.write('building blocks: replay process start, replay rates\n');
    const fnAddress = hitsResponse.addresses[0] !== undefined ? BigInt(hitsResponse.addresses[0]) : undefined;
    const blocks = await buildingBlocks(
      bundle,
      ws,
      end,
      start,
      3,
      fnAddress !== undefined ? { name: fn, address: fnAddress } : undefined,
      watch && watchInfo ? { name: watch, address: watchInfo.address, size: watchInfo.size } : undefined,
    );

    // QEMU + gdb: last, so that its long replays do not load the machine under Rewind's runs.
    for (let run = 0; run < cfg.baselineRuns; run++) {
      for (let k = 0; k < ops.length; k++) {
        const o = ops[k]!;
        process.stderr.write(`baseline run ${run + 1}/${cfg.baselineRuns}: ${o.op}\n`);
        rows[k]!.baseline.push(await base.run(o.baseline.setup, o.baseline.timed, cfg.timeouts[o.key]!, cfg.baselineAttempts, o.key));
      }
    }
    clearInterval(loadTimer);
    const loadAfter = loadavg();
    loadSamples.push(loadAfter[0]!);

    // ---- the report ----
    const baselineCell = (r: OpRow, timeoutS: number) => {
      const b = r.baseline;
      if (b.length === 0) return { text: 'not run', seconds: NaN, lower: NaN };
      const finished = b.filter((x) => x.outcome === 'finished').map((x) => x.seconds);
      const timeouts = b.filter((x) => x.outcome === 'timeout').length;
      const deadlocked = b.filter((x) => x.outcome === 'deadlock').length;
      const failed = b.filter((x) => x.outcome === 'failed').length;
      const retried = b.reduce((s, x) => s + x.attempts.filter((a) => a.outcome === 'deadlock').length, 0) - deadlocked * cfg.baselineAttempts;
      const notes: string[] = [];
      if (timeouts) notes.push(`${timeouts} of ${b.length} did not finish in ${timeoutS} s`);
      if (deadlocked) notes.push(`${deadlocked} of ${b.length} deadlocked in all ${cfg.baselineAttempts} attempts`);
      if (failed) notes.push(`${failed} of ${b.length} failed`);
      if (retried > 0) notes.push(`${plural(retried, 'deadlocked attempt')} retried`);
      const note = notes.length ? ` (${notes.join('; ')})` : '';
      // Not finishing counts as slower than any that did (as in bench/timetravel).
      const all = b.map((x) => x.seconds);
      const med = median(all);
      if (Number.isFinite(med)) return { text: `${fmtS(med)} s${note}`, seconds: med, lower: med };
      if (timeouts) return { text: `> ${timeoutS} s${note}`, seconds: Infinity, lower: timeoutS };
      if (finished.length) return { text: `> ${fmtS(Math.max(...finished))} s${note}`, seconds: Infinity, lower: Math.max(...finished) };
      return { text: `never${note}`, seconds: Infinity, lower: NaN };
    };
    const cells = rows.map((r) => ({ r, b: baselineCell(r, cfg.timeouts[r.key]!), d: median(r.dap), e: median(r.engineAlone) }));
    const ratio = (b: { seconds: number; lower: number }, d: number) =>
      !(d > 0) ? '?' : Number.isFinite(b.seconds) ? `${(b.seconds / d).toFixed(b.seconds / d < 10 ? 1 : 0)}x` : Number.isFinite(b.lower) ? `> ${(b.lower / d).toFixed(0)}x` : 'n/a';
    const table = [
      `| operation | QEMU + gdb${cfg.baselineRuns > 1 ? ` (median of ${cfg.baselineRuns})` : cfg.baselineRuns === 1 ? ' (1 run)' : ''} | Rewind over DAP (median of ${runs}) | engine alone (median) | ratio (QEMU + gdb / DAP) | target | met? |`,
      '|---|---|---|---|---|---|---|',
      ...cells.map(({ r, b, d, e }) => {
        const t = TARGETS[r.key];
        return `| ${r.op} | ${b.text} | ${fmtS(d)} s | ${fmtS(e)} s | **${ratio(b, d)}** | ${t ? `≤ ${t.seconds} s` : 'n/a'} | ${t ? (d <= t.seconds ? 'yes' : '**no**') : 'n/a'} |`;
      }),
    ].join('\n');
    const offsetOf = (key: string) => ops.find((o) => o.key === key)?.baselineOffset ?? 0;
    const landedCell = (r: OpRow) => {
      if (r.key === 'inspect') return 'n/a';
      const pairs = r.baseline.map((x, i) => [x.landed, r.landedDap[i] ?? r.landedDap[0]] as const).filter(([x]) => x !== undefined) as Array<readonly [number, number]>;
      if (pairs.length === 0) return r.baseline.length === 0 ? 'not run' : r.baseline.every((b) => b.outcome === 'deadlock') ? 'QEMU + gdb never finished: QEMU deadlocked in every attempt' : 'QEMU + gdb never finished';
      const off = offsetOf(r.key);
      const bad = pairs.filter(([x, d]) => x !== d + off);
      const how = off ? ` (QEMU at ${pairs.map(([x]) => x.toLocaleString('en-US')).join(', ')}: after the writing instruction; Rewind one instruction before, on it)` : '';
      return bad.length === 0 ? `yes, ${pairs.length} of ${r.baseline.length} runs finished${how}` : `**no**: QEMU + gdb at ${bad.map(([x, d]) => `${x} against Rewind's ${d}`).join('; ')}`;
    };
    const detail = [
      '| operation | where Rewind lands (run 1) | DAP (ms): median (min–max) | engine inside the request (ms) | of which reads for gdb (ms) | the rest: gdb, adapter, DAP (ms) | engine calls per request (last run) | replay processes inside the request (the median run) | QEMU + gdb landed at the same icount |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => {
        const d = median(r.dap);
        const e = median(r.engineInRequest);
        return `| ${r.op} | ${r.landing ?? ''}${r.stopReason ? ` (stop: ${r.stopReason})` : ''} | ${fmtMs(d)} (${fmtMs(Math.min(...r.dap))}–${fmtMs(Math.max(...r.dap))}) | ${fmtMs(e)} | ${fmtMs(median(r.engineReadsInRequest))} | ${fmtMs(d - e)} | ${r.calls} | ${describeInternals(medianRun(r))} | ${landedCell(r)} |`;
      }),
    ].join('\n');
    const split = [
      '| operation | traced run (ms) | engine (ms) | gdb, relay, bridge RPC (ms) | adapter, DAP (ms) | GDB/MI commands | engine calls | GDB/MI commands by kind (ms from sending to the answer) |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => {
        const t = r.trace;
        return t ? `| ${r.op} | ${fmtMs(t.total)} | ${fmtMs(t.engine)} | ${fmtMs(t.gdb)} | ${fmtMs(t.adapter)} | ${t.miCommands} | ${t.engineCalls} | ${t.mi || 'none'} |` : `| ${r.op} | n/a |  |  |  |  |  |  |`;
      }),
    ].join('\n');
    const baselineDetail = rows
      .flatMap((r) =>
        r.baseline.flatMap((b, i) =>
          b.attempts.map(
            (a, j) =>
              `| ${r.op} | ${i + 1}.${j + 1} | ${a.outcome} | ${Number.isFinite(a.seconds) ? fmtS(a.seconds) : ''} | ${a.startedAt?.toLocaleString('en-US') ?? ''} | ${a.landed?.toLocaleString('en-US') ?? ''}${a.pc ? ` (pc ${a.pc})` : ''} | ${a.qemuCpu?.toFixed(1) ?? ''} | ${a.detail ?? ''} |`,
          ),
        ),
      )
      .join('\n');

    /** The internals of the run whose DAP time is the median (the lower middle one). */
    function medianRun(r: OpRow): Internals | undefined {
      const order = r.dap.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
      const mid = order[(order.length - 1) >> 1];
      return mid ? r.internals[mid[1]] : undefined;
    }
    // Missed targets: what the measurements say about each.
    const missed = cells
      .filter(({ r, d }) => TARGETS[r.key] && d > TARGETS[r.key]!.seconds)
      .map(({ r, d }) => {
        const t = r.trace;
        const longest = (r.callsRun1 ?? []).reduce<EngineCall | undefined>((a, x) => (!a || x.seconds > a.seconds ? x : a), undefined);
        return (
          `- **${r.op}**: ${fmtS(d)} s over DAP against a target of ${TARGETS[r.key]!.seconds} s; engine inside the request ${fmtS(median(r.engineInRequest))} s (alone ${fmtS(median(r.engineAlone))} s)` +
          (longest ? `, its longest call ${longest.method} ${fmtS(longest.seconds)} s (run 1)` : '') +
          `; replay processes in the median run: ${describeInternals(medianRun(r))}` +
          (t ? `; traced run: engine ${fmtS(t.engine)} s, gdb + relay ${fmtS(t.gdb)} s over ${t.miCommands} GDB/MI commands, adapter ${fmtS(t.adapter)} s.` : '.')
        );
      });

    const m = bundle.manifest;
    const loadMax = Math.max(...loadSamples);
    const loaded = loadMax > 2;
    const watchLine = watch && watchInfo
      ? `- watched: \`${watch}\`, ${watchInfo.description}; the engine's lastWrite query from S: the last write before S retires at icount ${watchInfo.lastWrite?.toLocaleString('en-US') ?? 'none'} (a reverse watchpoint stops just before it, at ${watchInfo.lastWrite !== undefined ? (watchInfo.lastWrite - 1).toLocaleString('en-US') : '?'}, on the writing instruction). The DAP time is reverseContinue's, to its stopped event; dataBreakpointInfo + setDataBreakpoints before it took ${fmtMs(median(rows.find((r) => r.key === 'watch')?.setupSeconds ?? []))} ms (median, untimed, like gdb's \`watch\`). QEMU's own reverse-continue stops one instruction later, after the write, and gdb reports it as a SIGTRAP, not as the watchpoint.`
      : '';
    const hitNote = cfg.hitIf ? ` that passes \`${cfg.hitIf}\` (${accepted?.size ?? 0} of the ${hitValues.size} hits in the second half do)` : '';
    const about = [
      `- source: ${sourceAtStart}${sourceState() !== sourceAtStart ? ` at the start of the run (at its end: ${sourceState()})` : ''}`,
      `- recording: ${recordedHere || cfg.about || bundlePath}; ${(end / 1e6).toFixed(1)}M instructions, ${m.snapshots.list.length} snapshots, guest ${m.guest.kernel.format}`,
      `- breakpoint: \`${fn}\`, ${hits.length} hits; start point S = icount ${start.toLocaleString('en-US')} (${((start / end) * 100).toFixed(1)}% of the recording), at ${startWhere}: ${plural(nextsDone, '`next`')}${overCall ? ` (the first one that steps over a call: from ${overCall.line}, ${plural(overCall.instructions, 'instruction')})` : ''} after the hit of \`${fn}\` at icount ${hit.toLocaleString('en-US')} (${hitWhere}), the first hit${hitNote} after the longest gap since the previous hit (${plural(pick.gap, 'instruction')}) in the second half of the recording. The reverse continue starts at that hit; every other operation at S.`,
      watchLine,
      `- runs: Rewind ${runs} timed runs of every operation after one untimed warm-up pass (gdb's symbol tables, the engine's first replay processes), then one traced run in a second session (after its own warm-up pass); QEMU + gdb ${cfg.baselineRuns === 0 ? 'not run' : `${plural(cfg.baselineRuns, 'run')}${cfg.baselineRuns < runs ? ` only (every baseline operation replays the recording from its start: ${cfg.baselineRuns === 1 ? 'one run' : 'these runs'} of all operations take a long time)` : ''}`}, after Rewind's, with time limits of ${[...new Set(Object.values(cfg.timeouts))].length === 1 ? `${Object.values(cfg.timeouts)[0]} s` : OP_KEYS.map((k) => `${k} ${cfg.timeouts[k]} s`).join(', ')} on the timed commands; a deadlocked QEMU is retried, up to ${plural(cfg.baselineAttempts, 'attempt')}`,
      `- load average (1, 5, 15 min) at the start ${loadBefore.map((x) => x.toFixed(2)).join(', ')}, at the end ${loadAfter.map((x) => x.toFixed(2)).join(', ')}; 1-minute load sampled every 30 s: min ${Math.min(...loadSamples).toFixed(1)}, median ${median(loadSamples).toFixed(1)}, max ${loadMax.toFixed(1)}. ${loaded ? '**The machine (2 cores) was loaded by other engineers\' QEMU tests during the run: the numbers are noisy** (both sides; QEMU + gdb\'s long replays suffer as much as Rewind\'s short ones).' : 'The machine was mostly idle.'}`,
      '- DAP is what the client waits for: from sending the request to its `stopped` event (moves), or to the last response (stackTrace + scopes + variables). Before each timed request (and each replay of its engine calls) the engine finishes the background work of the seek to the start (spare replay processes behind it, a ladder snapshot near it), as it does while a user reads a stop. "Engine alone" replays the ReplayEngine calls the adapter made for that request, in order, on a second engine at the same start; "engine inside the request" is the time those calls took inside the adapter\'s bridge.',
      `- the adapter attaches to a bridge hosted by the benchmark (so that the engine can be observed); a \`launch\` runs the same bridge inside the adapter, over the same kind of Unix socket`,
      `- QEMU + gdb: one QEMU replay process with only the initial snapshot, gdb (-batch) over its gdbstub; the setup (\`monitor replay_break S\`, \`continue\`) is not timed, gdb's own clock times the operation's commands. "Landed at the same icount": QEMU's \`info replay\` after the command against Rewind's position.`,
    ]
      .filter(Boolean)
      .join('\n');
    const title = cfg.mode === 'linux' ? 'linux' : 'dap';
    const header = await benchHeader(title, `medians of ${runs} runs (Rewind) and of ${cfg.baselineRuns} (QEMU + gdb); the baseline is one QEMU replay process with only the initial snapshot, driven by gdb (-batch) over its gdbstub`);
    const sections = [
      header,
      about,
      '',
      table,
      '',
      `QEMU + gdb in issue 6, for comparison (a 1.5e9-instruction Debian boot on this machine class): ${Object.entries(TARGETS).map(([k, t]) => `${ops.find((o) => o.key === k)?.op.split(' (')[0] ?? k} ${t.issueBaseline}`).join(', ')}.`,
      '',
      '## Where the time goes',
      '',
      'Medians of the timed runs:',
      '',
      detail,
      '',
      'The rest split between gdb and the adapter, from the traced run (the adapter\'s `trace` logs every GDB/MI command it sends and every line gdb answers; gdb counts as busy from a command to its result, and for an execution command until `*stopped`; the engine calls inside that time are the engine\'s; the time outside both is the adapter\'s and DAP\'s). Tracing itself adds output events, so this run is a little slower than the timed ones:',
      '',
      split,
      '',
      ...(missed.length ? ['Missed targets:', '', ...missed, ''] : []),
      '### The engine\'s building blocks on this recording',
      '',
      ...blocks.lines,
      '',
      '## QEMU + gdb, every attempt',
      '',
      '| operation | run.attempt | outcome | seconds | started at icount | landed at icount | QEMU CPU-seconds | detail |',
      '|---|---|---|---|---|---|---|---|',
      baselineDetail,
      '',
    ];
    if (cfg.mode === 'demo') sections.push('The Linux recording: `npm run bench:linux` (bench/results/linux-DATE.md).', '');
    const text = sections.join('\n');
    process.stdout.write(text);
    const path = resultsPath(title);
    await fs.mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    await fs.writeFile(path + '.md', text);
    const jsonSafe = (_k: string, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v === Infinity ? null : v);
    await fs.writeFile(
      path + '.json',
      JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          mode: cfg.mode,
          recording: { path: cfg.mode === 'demo' ? DEMO_INPUT : bundlePath, totalIcount: end, snapshots: m.snapshots.list.length },
          breakpoint: fn,
          watch: watch ? { expression: watch, ...(watchInfo ? { address: `0x${watchInfo.address.toString(16)}`, size: watchInfo.size, lastWriteRetiresAt: watchInfo.lastWrite ?? null } : {}) } : null,
          hitIf: cfg.hitIf ?? null,
          start: { icount: start, hit, where: startWhere, hitWhere, gap: pick.gap, nexts: nextsDone, overCall: overCall ?? null },
          loadavg: { before: loadBefore, after: loadAfter, samples1min: loadSamples },
          runs,
          baseline: { runs: cfg.baselineRuns, attempts: cfg.baselineAttempts, timeouts: cfg.timeouts },
          buildingBlocks: blocks.json,
          targets: Object.fromEntries(Object.entries(TARGETS).map(([k, t]) => [k, t.seconds])),
          seconds: rows.map((r) => ({ ...r, callsRun1: (r.callsRun1 ?? []).map((x) => ({ method: x.method, kind: x.kind, seconds: x.seconds, args: x.args })) })),
        },
        jsonSafe,
        2,
      ) + '\n',
    );
    process.stderr.write(`results: ${path}.md, ${path}.json\n`);
  } finally {
    clearInterval(loadTimer);
    process.removeListener('SIGINT', onSignal);
    await cleanup();
  }
}

main().then(
  // Everything is closed; should anything still hold the event loop, do not wait for it.
  () => setTimeout(() => process.exit(0), 5000).unref(),
  (e) => {
    process.stderr.write(`bench/dap: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
