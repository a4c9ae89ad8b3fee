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
 * - DAP: @vscode/debugadapter-testsupport's DebugClient runs the real adapter (`node dist/dap.js`)
 *   and times each request to its `stopped` event (moves) or to the last response (inspection).
 *   The adapter attaches to a bridge this process hosts: the same JSON-RPC over a Unix socket that
 *   a launch uses for its private bridge, but here every ReplayEngine call that a DAP request
 *   causes is timed and recorded ("engine inside the request").
 * - Engine alone: the same ReplayEngine calls, replayed in order on a second engine of the same
 *   recording positioned at the same start, without DAP, gdb or the bridge.
 * - Where the time goes: after the timed runs, one more run of every operation in a second DAP
 *   session with the adapter's `trace` on, which logs every GDB/MI command and its answer; their
 *   arrival times split the time between the engine, gdb (with the gdb relay and the bridge's
 *   JSON-RPC) and the adapter (with DAP).
 * - QEMU + gdb: one QEMU replay process with only the initial snapshot (loading any other one
 *   deadlocks QEMU), driven by gdb (-batch) over its gdbstub, as a user without Rewind runs them.
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
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants as fsc, promises as fs, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startBridge, type RunningBridge } from '../recorder-bridge/src/bridge/server';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import type { RewindHitsResponse, RewindPosition } from '@rewind/protocol';
import { QmpClient } from '../recorder-bridge/src/qemu/qmp';
import { record } from '../recorder-bridge/src/record/recorder';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { ReplayWorker, type Breakpoint, type LadderPoint, type Watchpoint } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { groupCpuTicks, killAllChildren, killGroup, spawnGuarded, trackChild, waitForExit } from '../recorder-bridge/src/util/processes';
import { ensureLinuxFixture, WRITE_BYTES } from '../test/linux-fixture';
import { benchHeader, median, resultsPath, ROOT } from './common';

const execFileAsync = promisify(execFile);
/** A DAP request that gets no answer (or no stop) in this long fails the benchmark. */
const DAP_TIMEOUT_MS = 300_000;
/** Reaching the start point in the baseline (untimed): a whole replay up to it, symbols loaded. */
const BASELINE_SETUP_TIMEOUT_S = 900;
/** A baseline QEMU that uses less than this much CPU over DEADLOCK_WINDOW_S is checked for the deadlock. */
const DEADLOCK_WINDOW_S = 15;
const DEADLOCK_CPU_TICKS = 15;
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

const now = () => process.hrtime.bigint();
const since = (t0: bigint) => Number(now() - t0) / 1e9;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** A sleep that does not keep the process alive (for timeouts raced against the real work). */
const deadline = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)).unref());
const debug = (line: string) => {
  if (process.env.REWIND_BENCH_DEBUG) process.stderr.write(line.endsWith('\n') ? line : line + '\n');
};

// ---- the engine, observed ----------------------------------------------------------------------

type CallKind = 'move' | 'query' | 'read';
/** The public ReplayEngine methods a bridge request ends in, and what they do. */
const ENGINE_METHODS: Record<string, CallKind> = {
  seek: 'move',
  seekEvent: 'move',
  reverseStepi: 'move',
  stepi: 'move',
  continueForward: 'move',
  reverseContinue: 'move',
  hits: 'query',
  writes: 'query',
  lastWrite: 'query',
  registers: 'read',
  gdbPacket: 'read',
  readMemory: 'read',
};

interface EngineCall {
  method: string;
  kind: CallKind;
  args: unknown[];
  seconds: number;
  /** When it started and ended (process.hrtime.bigint()). */
  t0: bigint;
  t1: bigint;
}

/** What the replay processes did while a capture was open (foreground and background work alike). */
interface Internals {
  /** Replay processes started (QEMU start + snapshot load), and the seconds that took (summed). */
  starts: number;
  startSeconds: number;
  /** Runs without breakpoints or watchpoints: count, seconds, instructions replayed. */
  runs: number;
  runSeconds: number;
  instructions: number;
  /** Runs with breakpoints or watchpoints (scans). */
  trapRuns: number;
  trapSeconds: number;
  trapInstructions: number;
  /** Ladder snapshots saved. */
  snapshots: number;
  snapshotSeconds: number;
}

const noInternals = (): Internals => ({ starts: 0, startSeconds: 0, runs: 0, runSeconds: 0, instructions: 0, trapRuns: 0, trapSeconds: 0, trapInstructions: 0, snapshots: 0, snapshotSeconds: 0 });

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
 * Wraps ReplayEngine's public methods (this process hosts the bridge, so the adapter's engine is
 * one of ours) and records the outermost calls made while a capture is open: which, with what
 * arguments (cancellation signals and progress callbacks left out), when, and how long each took.
 * The bridge runs one operation of a session at a time, so calls never overlap.
 */
class EngineProbe {
  private calls?: EngineCall[];
  private depth = 0;
  readonly ignored = new Set<ReplayEngine>();
  /** The engines seen (the bridge sessions' ones). */
  readonly seen = new Set<ReplayEngine>();

  install(): void {
    const proto = ReplayEngine.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const [name, kind] of Object.entries(ENGINE_METHODS)) {
      const orig = proto[name];
      if (typeof orig !== 'function') throw new Error(`ReplayEngine has no method ${name}`);
      const probe = this;
      proto[name] = async function (this: ReplayEngine, ...args: unknown[]): Promise<unknown> {
        if (!probe.ignored.has(this)) probe.seen.add(this);
        const list = probe.calls;
        if (!list || probe.ignored.has(this) || probe.depth > 0) return orig.apply(this, args);
        probe.depth++;
        const t0 = now();
        try {
          return await orig.apply(this, args);
        } finally {
          probe.depth--;
          const t1 = now();
          list.push({ method: name, kind, args: args.map(withoutCallbacks), seconds: Number(t1 - t0) / 1e9, t0, t1 });
        }
      };
    }
  }

  begin(): void {
    this.calls = [];
    this.internals = noInternals();
  }

  end(): EngineCall[] {
    const c = this.calls ?? [];
    this.calls = undefined;
    this.lastInternals = this.internals;
    this.internals = undefined;
    return c;
  }

  internals?: Internals;
  lastInternals?: Internals;

  /** Also tallies what the replay processes do (starts, runs, snapshots) while a capture is open. */
  installWorkers(): void {
    const probe = this;
    const W = ReplayWorker as unknown as { start: (...a: unknown[]) => Promise<ReplayWorker> };
    const origStart = W.start;
    W.start = async function (this: unknown, ...args: unknown[]): Promise<ReplayWorker> {
      const t0 = now();
      try {
        return await origStart.apply(this, args);
      } finally {
        if (probe.internals) {
          probe.internals.starts++;
          probe.internals.startSeconds += since(t0);
        }
      }
    };
    const proto = ReplayWorker.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const origRun = proto.run!;
    proto.run = async function (this: ReplayWorker, ...args: unknown[]): Promise<unknown> {
      const opts = (args[0] ?? {}) as { breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[] };
      const from = this.icount;
      const t0 = now();
      try {
        return await origRun.apply(this, args);
      } finally {
        const x = probe.internals;
        if (x) {
          const n = Math.max(0, this.icount - from);
          if ((opts.breakpoints?.length ?? 0) + (opts.watchpoints?.length ?? 0) > 0) {
            x.trapRuns++;
            x.trapSeconds += since(t0);
            x.trapInstructions += n;
          } else {
            x.runs++;
            x.runSeconds += since(t0);
            x.instructions += n;
          }
        }
      }
    };
    const origSave = proto.saveSnapshot!;
    proto.saveSnapshot = async function (this: ReplayWorker, ...args: unknown[]): Promise<unknown> {
      const t0 = now();
      try {
        return await origSave.apply(this, args);
      } finally {
        if (probe.internals) {
          probe.internals.snapshots++;
          probe.internals.snapshotSeconds += since(t0);
        }
      }
    };
  }
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

/**
 * Lets an engine finish its background work after a move (parking spare replay processes behind
 * the new position, adding a ladder point near it), as it does while a user looks at a stop.
 */
async function settle(engine: ReplayEngine, maxMs = 30_000): Promise<void> {
  const until = Date.now() + maxMs;
  const e = engine as unknown as { spare?: Promise<void> };
  while (e.spare && Date.now() < until) await Promise.race([e.spare, deadline(until - Date.now())]);
}

function withoutCallbacks(a: unknown): unknown {
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return a;
  const o = { ...(a as Record<string, unknown>) };
  delete o.signal;
  delete o.onProgress;
  return o;
}

/** The same calls, in order, on another engine (already at the start point): the engine's own time. */
async function replayCalls(engine: ReplayEngine, calls: EngineCall[]): Promise<number> {
  const e = engine as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const t0 = now();
  for (const c of calls) await e[c.method]!.apply(engine, c.args);
  return since(t0);
}

function describeCalls(calls: EngineCall[]): string {
  const counts = new Map<string, { n: number; s: number }>();
  for (const c of calls) {
    const x = counts.get(c.method) ?? { n: 0, s: 0 };
    x.n++;
    x.s += c.seconds;
    counts.set(c.method, x);
  }
  return [...counts].map(([m, { n, s }]) => `${m}${n > 1 ? ` ×${n}` : ''} ${fmtMs(s)} ms`).join(', ') || 'none';
}

// ---- the DAP client ------------------------------------------------------------------------------

interface Move {
  seconds: number;
  stop: DebugProtocol.StoppedEvent;
}

/** The real adapter (`node dist/dap.js`) driven by DebugClient. */
class DapClient {
  readonly dc = new DebugClient('node', join(ROOT, 'dist', 'dap.js'), 'rewind', { cwd: ROOT }, false);
  /** Every output event, with when it arrived (for the traced run). */
  readonly output: Array<{ t: bigint; text: string }> = [];
  recordOutput = false;

  constructor() {
    this.dc.defaultTimeout = DAP_TIMEOUT_MS;
  }

  get pid(): number | undefined {
    return (this.dc as unknown as { _adapterProcess?: { pid?: number } })._adapterProcess?.pid;
  }

  async open(attach: Record<string, unknown>): Promise<void> {
    await this.dc.start();
    this.dc.on('output', (e: DebugProtocol.OutputEvent) => {
      if (this.recordOutput) this.output.push({ t: now(), text: e.body.output });
      if (process.env.REWIND_BENCH_DEBUG && !this.recordOutput) process.stderr.write(`adapter: ${e.body.output}`);
    });
    await this.dc.initializeRequest({
      adapterID: 'rewind',
      pathFormat: 'path',
      linesStartAt1: true,
      columnsStartAt1: true,
      supportsProgressReporting: true,
      supportsInvalidatedEvent: true,
    });
    const initialized = this.dc.waitForEvent('initialized');
    await this.dc.attachRequest(attach as DebugProtocol.AttachRequestArguments);
    await initialized;
    // Only the breakpoints each operation sets: no panic filter.
    await this.dc.setExceptionBreakpointsRequest({ filters: [] });
    await this.move(() => this.dc.configurationDoneRequest());
  }

  /**
   * An execution request: the time from sending it to its `stopped` event. Resolves once the
   * adapter has finished with the move (its `invalidated` event, sent after the stop and the position).
   */
  async move(send: () => Promise<unknown>): Promise<Move> {
    const stopped = this.dc.waitForEvent('stopped');
    const settled = this.dc.waitForEvent('invalidated');
    stopped.catch(() => undefined);
    settled.catch(() => undefined);
    const t0 = now();
    await send();
    const stop = (await stopped) as DebugProtocol.StoppedEvent;
    const seconds = since(t0);
    debug(`stopped: ${stop.body.reason} ${stop.body.description ?? ''}`);
    await settled;
    return { seconds, stop };
  }

  custom<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
    return this.dc.customRequest(command, args).then((r) => r.body as T);
  }

  position(): Promise<RewindPosition> {
    return this.custom<RewindPosition>('rewind/position');
  }

  async seek(icount: number): Promise<void> {
    await this.move(() => this.dc.customRequest('rewind/seek', { icount }));
  }

  async stack(): Promise<DebugProtocol.StackFrame[]> {
    return (await this.dc.stackTraceRequest({ threadId: 1, startFrame: 0, levels: 20 })).body.stackFrames;
  }

  async top(): Promise<string> {
    const f = (await this.stack())[0];
    return f ? `${f.name} ${f.source?.name ?? '?'}:${f.line}` : '?';
  }

  /** A C expression in frame 0. */
  async evaluate(expression: string): Promise<string> {
    const frame = (await this.stack())[0];
    return (await this.dc.evaluateRequest({ expression, context: 'watch', ...(frame ? { frameId: frame.id } : {}) })).body.result;
  }

  /** What a UI asks after every stop: the stack, the scopes of frame 0, and the variables of three of them. */
  async inspect(): Promise<{ seconds: number; variables: number }> {
    const t0 = now();
    const frames = (await this.dc.stackTraceRequest({ threadId: 1, startFrame: 0, levels: 20 })).body.stackFrames;
    const scopes = (await this.dc.scopesRequest({ frameId: frames[0]!.id })).body.scopes;
    let variables = 0;
    for (const name of ['Locals', 'Arguments', 'Registers']) {
      const s = scopes.find((x) => x.name === name);
      if (!s) throw new Error(`no scope ${name} (scopes: ${scopes.map((x) => x.name).join(', ')})`);
      variables += (await this.dc.variablesRequest({ variablesReference: s.variablesReference })).body.variables.length;
    }
    return { seconds: since(t0), variables };
  }

  async close(): Promise<void> {
    const pid = this.pid;
    await this.dc.stop().catch(() => undefined);
    if (pid !== undefined) await waitForPid(pid, 10_000);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until a process is gone; SIGKILLs it after `ms`. */
async function waitForPid(pid: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await sleep(100);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Every process below this one (by parent pid), for the leak check at the end. */
function descendants(root = process.pid): Array<{ pid: number; comm: string }> {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(f[1]));
      comm.set(Number(name), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // gone
    }
  }
  const out: Array<{ pid: number; comm: string }> = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        out.push({ pid, comm: comm.get(pid) ?? '?' });
        break;
      }
    }
  }
  return out;
}

function groupPids(pgid: number): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Zombies are gone for our purposes (their files and locks are closed).
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push({ pid: Number(name), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // gone
    }
  }
  return out;
}

// ---- QEMU + gdb ----------------------------------------------------------------------------------

type AttemptOutcome = 'finished' | 'timeout' | 'deadlock' | 'failed';

interface Attempt {
  outcome: AttemptOutcome;
  /** gdb's own clock around the timed commands (finished), or how long they ran before they were stopped. */
  seconds: number;
  /** Where QEMU says it is after the timed commands (HMP `info replay`). */
  landed?: number;
  /** Where the setup left QEMU (should be the operation's start). */
  startedAt?: number;
  pc?: string;
  /** CPU seconds QEMU used during the timed commands. */
  qemuCpu?: number;
  detail?: string;
}

interface BaselineResult {
  /** Seconds of the run: Infinity when it did not finish (time limit, deadlock on every attempt, failure). */
  seconds: number;
  outcome: AttemptOutcome;
  landed?: number;
  pc?: string;
  attempts: Attempt[];
}

/** QEMU replay + gdb, as a user without Rewind runs them; gdb is driven with -batch scripts. */
class Baseline {
  private seq = 0;
  private constructor(
    private readonly dir: string,
    private readonly binary: string,
    private readonly argv: string[],
    private readonly symbols: string[],
  ) {}

  static async create(bundle: Bundle, ws: ReplayWorkspace, dir: string, symbols: string[]): Promise<Baseline> {
    // Only the initial snapshot: QEMU deadlocks loading any other one after it has run.
    const image = join(dir, 'baseline.qcow2');
    await fs.copyFile(ws.snapshots, image, fsc.COPYFILE_FICLONE);
    for (const s of bundle.manifest.snapshots.list) if (s.name !== 'init') execFileSync('qemu-img', ['snapshot', '-d', s.name, image]);
    const argv = [...ws.replayArgs(bundle, 'init', image), '-serial', 'null', '-monitor', 'none'];
    return new Baseline(dir, bundle.manifest.qemu.binary, argv, symbols);
  }

  /** One run: attempts again after a QEMU deadlock, up to `attempts` in all. */
  async run(setup: string[], timedCommands: string[], timeoutS: number, attempts: number, label: string): Promise<BaselineResult> {
    const list: Attempt[] = [];
    for (let i = 0; i < attempts; i++) {
      let a = await this.attempt(setup, timedCommands, timeoutS);
      // QEMU or gdb did not even start (e.g. the image still locked): the harness's failure, not QEMU's; once more.
      if (a.outcome === 'failed' && a.startedAt === undefined && /QMP|lock/.test(a.detail ?? '')) a = await this.attempt(setup, timedCommands, timeoutS);
      list.push(a);
      process.stderr.write(`  baseline ${label}: ${a.outcome}${Number.isFinite(a.seconds) ? ` after ${a.seconds.toFixed(1)} s` : ''}${a.landed !== undefined ? `, at icount ${a.landed}` : ''}${a.detail ? ` (${a.detail})` : ''}\n`);
      if (a.outcome !== 'deadlock') break;
    }
    const last = list[list.length - 1]!;
    return {
      seconds: last.outcome === 'finished' ? last.seconds : Infinity,
      outcome: last.outcome,
      ...(last.outcome === 'finished' && last.landed !== undefined ? { landed: last.landed } : {}),
      ...(last.outcome === 'finished' && last.pc !== undefined ? { pc: last.pc } : {}),
      attempts: list,
    };
  }

  /** Runs QEMU with a gdbstub, then a gdb script; gdb's own clock times the timed commands. */
  private async attempt(setup: string[], timedCommands: string[], timeoutS: number): Promise<Attempt> {
    const n = ++this.seq;
    const gdbSock = join(this.dir, `b${n}-gdb.sock`);
    const qmpSock = join(this.dir, `b${n}-qmp.sock`);
    // Under the watchdog shell, in its own process group: killed with it, and never outlives us.
    const q = spawnGuarded(this.binary, [...this.argv, '-gdb', `unix:${gdbSock},server=on,wait=off`, '-qmp', `unix:${qmpSock},server=on,wait=off`, '-S']);
    let qemuErr = '';
    q.stderr?.on('data', (d: Buffer) => (qemuErr = (qemuErr + d.toString()).slice(-4000)));
    let g: ChildProcess | undefined;
    try {
      const qmp = await QmpClient.connect(qmpSock, 60_000);
      qmp.close();
      const args = ['-batch', '-nx', this.symbols[0]!, '-ex', 'set pagination off', '-ex', 'set confirm off'];
      for (const extra of this.symbols.slice(1)) args.push('-ex', `add-symbol-file ${extra}`);
      args.push('-ex', `target remote ${gdbSock}`);
      for (const c of setup) args.push('-ex', c);
      args.push('-ex', 'python import time, sys; __t0 = time.time(); print("TIMED-START"); sys.stdout.flush()');
      for (const c of timedCommands) args.push('-ex', c);
      args.push('-ex', 'python print("ELAPSED %f" % (time.time() - __t0)); sys.stdout.flush()', '-ex', 'monitor info replay', '-ex', 'python print("PC %#x" % int(gdb.parse_and_eval("$pc"))); sys.stdout.flush()');
      const gp = spawn('gdb', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      g = gp;
      trackChild(gp);
      let stdout = '';
      let stderr = '';
      let onStdout = () => {};
      gp.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        onStdout();
      });
      gp.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = waitForExit(gp);
      const counts = () => [...stderr.matchAll(/instruction count = (\d+)/g)].map((m) => Number(m[1]));
      const tail = () => stderr.trim().split('\n').filter((l) => !/^warning:/.test(l)).slice(-3).join(' / ');

      // Setup (untimed): symbols, connect, replay up to the start point.
      const started = new Promise<void>((r) => {
        onStdout = () => stdout.includes('TIMED-START') && r();
      });
      const setupEnd = await Promise.race([started.then(() => 'started' as const), exited.then(() => 'exited' as const), deadline(BASELINE_SETUP_TIMEOUT_S * 1000).then(() => 'timeout' as const)]);
      if (setupEnd !== 'started') return { outcome: 'failed', seconds: Infinity, detail: `setup ${setupEnd === 'exited' ? `ended: ${tail()}` : `took over ${BASELINE_SETUP_TIMEOUT_S} s`}` };
      // QEMU's answer to the setup's `info replay` (gdb prints it on stderr, which may come later).
      const startedAtNow = counts()[0];

      // The timed commands: until gdb exits, the time limit, or a deadlock.
      const t0 = now();
      const cpu0 = groupCpuTicks(q.pid!);
      const samples: Array<{ t: number; cpu: number }> = [{ t: 0, cpu: cpu0 }];
      let checkedAt = -Infinity;
      let done = false;
      void exited.then(() => (done = true));
      const startedAtOf = () => startedAtNow ?? counts()[0];
      while (!done) {
        await Promise.race([exited, sleep(2000)]);
        if (done) break;
        const t = since(t0);
        const cpu = groupCpuTicks(q.pid!);
        samples.push({ t, cpu });
        if (t >= timeoutS) {
          return { outcome: 'timeout', seconds: t, ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}), qemuCpu: (cpu - cpu0) / 100, detail: `did not finish in ${timeoutS} s; QEMU used ${((cpu - cpu0) / 100).toFixed(0)} CPU-seconds meanwhile` };
        }
        // Idle for a whole window: deadlocked (or pacing an idle stretch): ask its threads.
        const old = samples.find((s) => s.t >= t - DEADLOCK_WINDOW_S - 1);
        if (old && t - old.t >= DEADLOCK_WINDOW_S - 2 && cpu - old.cpu < DEADLOCK_CPU_TICKS && t - checkedAt >= DEADLOCK_WINDOW_S) {
          checkedAt = t;
          const sig = await deadlockSignature(q.pid!);
          if (sig) return { outcome: 'deadlock', seconds: t, ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}), qemuCpu: (cpu - cpu0) / 100, detail: `QEMU idle since ${old.t.toFixed(0)} s of the timed part: ${sig}` };
        }
      }
      const qemuCpu = (groupCpuTicks(q.pid!) - cpu0) / 100;
      const m = /ELAPSED ([0-9.]+)/.exec(stdout);
      if (!m) return { outcome: 'failed', seconds: Infinity, ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}), qemuCpu, detail: `gdb gave up: ${tail()}` };
      const c = counts();
      const pc = /PC (0x[0-9a-f]+)/.exec(stdout)?.[1];
      return {
        outcome: 'finished',
        seconds: Number(m[1]),
        ...(c.length >= 2 ? { landed: c[c.length - 1]! } : {}),
        ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}),
        ...(pc ? { pc } : {}),
        qemuCpu,
      };
    } catch (e) {
      return { outcome: 'failed', seconds: Infinity, detail: `${(e as Error).message}${qemuErr ? `; QEMU: ${qemuErr.trim().split('\n').slice(-2).join(' / ')}` : ''}` };
    } finally {
      // By pid: gdb's process group, then QEMU's (the watchdog shell and QEMU under it).
      if (g) {
        killGroup(g);
        await waitForExit(g);
      }
      killGroup(q);
      await waitForExit(q);
      // QEMU itself (under the watchdog shell) holds the image's lock until it is gone: the next
      // attempt must not find it still there.
      const until = Date.now() + 10_000;
      while (q.pid !== undefined && groupPids(q.pid).length > 0 && Date.now() < until) await sleep(50);
    }
  }
}

/**
 * QEMU's known reverse-execution deadlock: the main thread waits in do_run_on_cpu (loading the
 * snapshot) while holding the replay mutex that the vCPU thread waits for. Returns a description
 * when the process's threads show it.
 */
async function deadlockSignature(pgid: number): Promise<string | undefined> {
  const qemu = groupPids(pgid).find((p) => p.comm.startsWith('qemu-system'));
  if (!qemu) return undefined;
  try {
    const { stdout } = await execFileAsync('gdb', ['-p', String(qemu.pid), '-batch', '-nx', '-ex', 'thread apply all bt 12'], { timeout: 60_000, maxBuffer: 1 << 24 });
    if (/do_run_on_cpu/.test(stdout) && /replay_mutex_lock/.test(stdout)) return `deadlocked (main thread in do_run_on_cpu, vCPU thread in replay_mutex_lock; pid ${qemu.pid})`;
  } catch {
    // could not look: not called a deadlock
  }
  return undefined;
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
  dap: (c: DapClient) => Promise<Move | { seconds: number }>;
  baseline: { setup: string[]; timed: string[] };
  before?: (c: DapClient) => Promise<void>;
  after?: (c: DapClient) => Promise<void>;
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
  const { values } = parseArgs({
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
  let dap: DapClient | undefined;
  let alone: ReplayEngine | undefined;
  let ws: ReplayWorkspace | undefined;
  const cleanup = async () => {
    await dap?.close();
    dap = undefined;
    await bridge?.close();
    bridge = undefined;
    await alone?.close();
    alone = undefined;
    await ws?.dispose();
    ws = undefined;
    killAllChildren();
    // Anything still below this process (a QEMU or gdb a failure left behind): by pid.
    for (const p of descendants()) {
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
    probe.install();
    probe.installWorkers();
    bridge = await startBridge({ root: dirname(bundlePath), socket: join(work, 'bridge.sock'), log: join(work, 'bridge.log') });
    ws = await ReplayWorkspace.create(bundle);
    const base = await Baseline.create(bundle, ws, work, symbolFiles);
    alone = await ReplayEngine.open(bundlePath);
    probe.ignored.add(alone);
    const attach = { bridge: `unix:${join(work, 'bridge.sock')}`, recording: bundlePath, stopOnEntry: true, ...(symbols.length ? { symbols } : {}) };

    process.stderr.write('opening the DAP session\n');
    dap = new DapClient();
    await dap.open(attach);
    const c = dap;
    const end = (await c.position()).end;

    // The start point: a hit of the function after a long quiet stretch, then `next` into it.
    const hitsResponse = await c.custom<RewindHitsResponse>('rewind/hits', { function: fn });
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
        dap: (d) => d.move(() => d.dc.customRequest('rewind/reverseStepOut', { threadId: 1 })),
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
              before: async (d: DapClient) => {
                const info = (await d.dc.dataBreakpointInfoRequest({ name: watch })).body;
                if (!info.dataId) throw new Error(`no data breakpoint on ${watch}: ${info.description}`);
                const bp = (await d.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId, accessType: 'write' }] })).body.breakpoints[0];
                if (!bp?.verified) throw new Error(`data breakpoint on ${watch} not verified: ${bp?.message ?? '?'}`);
              },
              dap: (d: DapClient) => d.move(() => d.dc.send('reverseContinue', { threadId: 1 })),
              after: async (d: DapClient) => {
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
    const runOp = async (d: DapClient, o: Op, from: number) => {
      await d.seek(from);
      const ts = now();
      await o.before?.(d);
      const setupSeconds = since(ts);
      for (const e of [...probe.seen, alone!]) await settle(e);
      probe.begin();
      const t0 = now();
      let r: Move | { seconds: number };
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
        r.calls = describeCalls(calls);
        r.internals.push(probe.lastInternals ?? noInternals());
        debug(`calls: ${calls.map((x) => `${x.method}(${JSON.stringify(x.args, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v))}) ${fmtMs(x.seconds)}ms`).join(' ')}`);
        const landed = (await c.position()).icount;
        r.landedDap.push(landed);
        if (run === 0) {
          r.callsRun1 = calls;
          r.stopReason = 'stop' in res ? `${res.stop.body.reason}${res.stop.body.description ? `: ${res.stop.body.description}` : ''}` : undefined;
          r.landing = o.moves ? `${await c.top()}, icount ${landed.toLocaleString('en-US')}, ${plural(from - landed, 'instruction')} back${o.from === 'hit' ? ' from the hit' : ''}` : `at S, ${startWhere}`;
        }
        await alone.seek(from);
        await settle(alone);
        r.engineAlone.push(await replayCalls(alone, calls));
      }
    }

    // Where the time goes: one more run of each operation with the adapter's trace on.
    await dap.close();
    dap = undefined;
    process.stderr.write('traced run (where the time goes)\n');
    const traced = new DapClient();
    dap = traced;
    await traced.open({ ...attach, trace: true });
    // A new session has a new engine: warm it up like the first one, untraced.
    for (const o of ops) await runOp(traced, o, o.from === 'hit' ? hit : start);
    for (let k = 0; k < ops.length; k++) {
      const o = ops[k]!;
      const from = o.from === 'hit' ? hit : start;
      traced.output.length = 0;
      traced.recordOutput = true;
      const { calls, t0, t1 } = await runOp(traced, o, from);
      traced.recordOutput = false;
      rows[k]!.trace = splitTrace(t0, t1, traced.output, calls);
    }
    await dap.close();
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
