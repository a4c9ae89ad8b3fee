/**
 * Fidelity soak test of the debug adapter: a few hundred random operations (forward and reverse
 * steps at line and instruction granularity, reverse step in/out, continue and reverse continue
 * with breakpoints, data breakpoints, seeks) on ONE DAP session over a real demo recording that
 * spans several snapshots. After every stop the position, the registers the adapter shows and the
 * top frame are recorded; at the end they are compared with the ground truth, one straight forward
 * replay (a single replay process from the initial snapshot, run forward through the sorted time
 * points, never back). Each operation's own semantics are checked as it happens (an instruction
 * step moves exactly one instruction, reverse operations never move forward, a seek lands exactly,
 * the ends of the recording are stops that say so).
 *
 * Reproducing a failure: the seed is printed; `REWIND_FIDELITY_SEED=N` replays the same choices,
 * and `REWIND_FIDELITY_BUNDLE=PATH` runs them on the recording kept from the failing run (its path
 * is printed). `REWIND_FIDELITY_OPS=N` changes the number of operations (default 220).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { REWIND_STOP_REASON, type RewindPosition } from '../recorder-bridge/src/protocol';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { replayEnd } from '../recorder-bridge/src/replay/engine';
import { ReplayWorker } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { assertNoLeftovers, RewindTestClient } from './dap-client';
import { snapshotsInside, unreplayableSnapshot } from './snapshot-check';
import { DEMO_KERNEL, prng, requireDemoKernel, ROOT, runRewind } from './helpers';

const DEMO_SRC = join(ROOT, 'guests', 'demo');

/** The registers compared with the ground truth (the Registers scope's General group). */
const REGISTERS = ['rip', 'rsp', 'rbp', 'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'eflags'];

/**
 * Boot, a few commands, the overflow of bug (a) (config_set_name writes past machine_name into
 * heartbeat_interval), then a computation long enough for the recorder to take snapshots inside
 * it (it checks every 25 ms); the recording stops when the computation is done (`--stop-on`).
 * The typing comes first on purpose: replaying typed input after a long computation is slow
 * (about 0.5 s per character, measured), which would make every move across it cost seconds.
 */
const INPUT = [
  'expect ready',
  'expect > ',
  'send hello\\n',
  'expect hello, world',
  'expect > ',
  'send ticks\\n',
  'expect ticks: ',
  'expect > ',
  'send name build-server-rack-42-eu-west-1\\n',
  'expect name set',
  'expect > ',
  'send whoami\\n',
  'expect build-server-rac',
  'expect > ',
  'send spin 3\\n',
  'expect spin done',
  '',
].join('\n');

const OP_TIMEOUT_MS = 120_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: no ${what} within ${OP_TIMEOUT_MS / 1000} s`)), OP_TIMEOUT_MS)))]).finally(() => clearTimeout(timer));
}

function lineOf(file: string, text: string): number {
  const i = readFileSync(join(DEMO_SRC, file), 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} not found in ${file}`);
  return i + 1;
}

type Direction = 'forward' | 'reverse' | 'seek';

interface Op {
  name: string;
  direction: Direction;
  /** Exact landing, when the operation defines one (instruction steps, seeks). */
  exact?: (before: number, end: number) => number;
  send: (c: RewindTestClient) => Promise<unknown>;
}

/** What the adapter showed at one stop. */
interface Observed {
  icount: number;
  reason: string;
  registers: Record<string, bigint>;
  frame: { name: string; ip: bigint; source?: string; line: number };
}

interface HistoryEntry {
  index: number;
  op: string;
  before: number;
  result: string;
  observed?: Observed;
  ms: number;
}

/** "0x1a2b" or "0x246 [ IF ZF PF ]" -> the number. */
function registerValue(text: string): bigint {
  const m = /^(0x[0-9a-f]+|-?\d+)/i.exec(text.trim());
  assert.ok(m, `not a register value: ${text}`);
  return BigInt(m[1]!);
}

/** Every function of the inlining chain at each pc, from addr2line (independent of gdb). */
function functionsAt(elf: string, pcs: bigint[]): Map<bigint, string[]> {
  const out = new Map<bigint, string[]>();
  if (pcs.length === 0) return out;
  const text = execFileSync('addr2line', ['-a', '-f', '-i', '-e', elf, ...pcs.map((p) => `0x${p.toString(16)}`)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let current: string[] | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^0x[0-9a-f]+$/i.test(l)) {
      current = [];
      out.set(BigInt(l), current);
    } else if (current && l !== '' && !l.includes(':')) {
      current.push(l);
    }
  }
  return out;
}

describe('debug adapter fidelity: random operations against a straight replay', { timeout: 900_000 }, () => {
  const seed = process.env.REWIND_FIDELITY_SEED !== undefined ? Number(process.env.REWIND_FIDELITY_SEED) : Math.floor(Math.random() * 2 ** 31);
  const opCount = Number(process.env.REWIND_FIDELITY_OPS ?? 220);
  const verbose = process.env.REWIND_FIDELITY_VERBOSE === '1';
  const dir = mkdtempSync(join(tmpdir(), 'rewind-dap-fidelity-'));
  let bundle: string;
  let client: RewindTestClient | undefined;
  let failed = false;

  before(async () => {
    requireDemoKernel();
    assert.ok(Number.isSafeInteger(seed), 'REWIND_FIDELITY_SEED must be an integer');
    if (process.env.REWIND_FIDELITY_BUNDLE) {
      bundle = process.env.REWIND_FIDELITY_BUNDLE;
      const stuck = await unreplayableSnapshot(bundle);
      assert.equal(stuck, undefined, `RECORDER BUG: in ${bundle}, ${stuck}`);
      return;
    }
    const script = join(dir, 'input.txt');
    await fs.writeFile(script, INPUT);
    for (let attempt = 1; ; attempt++) {
      bundle = join(dir, `fidelity-${attempt}.rewind`);
      const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', bundle, '--quiet', '--snapshot-every', '1M', '--stop-on', 'spin done']);
      assert.equal(r.code, 0, r.stderr);
      // A known recorder problem (not the adapter's): now and then a snapshot is saved from which
      // a replay never moves (QEMU spins at the snapshot's icount). Every move that starts a
      // replay there would hang, so such a recording cannot test the adapter: record another.
      const stuck = await unreplayableSnapshot(bundle);
      // The recorder's snapshots come from a 25 ms poll and may be refused for a while: the
      // computation does not always get one. Moves must cross slices, so record again then.
      const inside = await snapshotsInside(bundle);
      if (stuck === undefined && inside >= 2) break;
      console.log(stuck ? `# RECORDER BUG: in ${bundle}, ${stuck}; recording again` : `# only ${inside} snapshot(s) after the start in ${bundle}; recording again`);
      // Seen in CI: three recordings of four with a single snapshot inside. A recording takes seconds.
      assert.ok(attempt < 8, `eight recordings in a row were unusable: ${stuck ?? `${inside} snapshots after the start`}`);
    }
  });

  after(async () => {
    await client?.stop().catch(() => undefined);
    try {
      await assertNoLeftovers(bundle ?? dir);
    } finally {
      if (failed && !process.env.REWIND_FIDELITY_BUNDLE && bundle) {
        const kept = join(tmpdir(), `rewind-fidelity-seed-${seed}.rewind`);
        await fs.rm(kept, { recursive: true, force: true });
        await fs.cp(bundle, kept, { recursive: true }).catch(() => undefined);
        console.log(`# kept the recording: REWIND_FIDELITY_SEED=${seed} REWIND_FIDELITY_BUNDLE=${kept}`);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`${opCount} random operations on one session; every stop matches the straight replay`, async () => {
    try {
      await soak();
    } catch (e) {
      failed = true;
      throw e;
    }
  });

  async function soak(): Promise<void> {
    const started = Date.now();
    console.log(`# fidelity seed ${seed} (set REWIND_FIDELITY_SEED to repeat it), ${opCount} operations`);
    const rand = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const history: HistoryEntry[] = [];
    const failure = (what: string, upTo = history.length): string =>
      `${what}\nseed ${seed}; the operations that led to it:\n${history
        .slice(0, upTo)
        .map((h) => `  #${h.index} ${h.op} from ${h.before} -> ${h.result}${h.observed ? ` at ${h.observed.icount} ${h.observed.frame.name} ${h.observed.frame.source ?? '?'}:${h.observed.frame.line}` : ''} (${h.ms} ms)`)
        .join('\n')}`;
    const check = (ok: boolean, what: string) => {
      if (!ok) {
        failed = true;
        assert.fail(failure(what));
      }
    };

    const c = new RewindTestClient();
    client = c;
    await c.start();
    const snapshots = (await (async () => {
      await c.launch({ recording: bundle, stopOnEntry: true });
      return c.custom<{ snapshots: Array<{ icount: number }> }>('rewind/snapshots');
    })()).snapshots.map((s) => s.icount);
    const end = (await c.position()).end;
    assert.ok(snapshots.filter((s) => s > 0 && s < end).length >= 2, `the recording should span several snapshots: ${snapshots.join(', ')} (end ${end})`);
    console.log(`# recording: ${end.toLocaleString('en-US')} instructions, snapshots at ${snapshots.join(', ')}`);

    // Breakpoint configurations the run switches between.
    const configC = join(DEMO_SRC, 'config.c');
    const interruptsC = join(DEMO_SRC, 'interrupts.c');
    const copyLine = lineOf('config.c', 'cfg.machine_name[i] = name[i];');
    const tickLine = lineOf('interrupts.c', 'ticks++;');
    const frameId = async () => (await c.stack())[0]!.id;
    const dataId = async (expression: string): Promise<string> => {
      const info = (await c.dc.dataBreakpointInfoRequest({ name: expression, frameId: await frameId() })).body;
      assert.ok(info.dataId, `no data breakpoint for ${expression}: ${info.description}`);
      return info.dataId!;
    };
    const configs: Array<{ name: string; apply: () => Promise<void> }> = [
      {
        name: 'functions serial_putc, config_set_name',
        apply: async () => {
          await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }, { name: 'config_set_name' }] });
          await c.dc.setBreakpointsRequest({ source: { path: configC }, breakpoints: [] });
          await c.dc.setBreakpointsRequest({ source: { path: interruptsC }, breakpoints: [] });
          await c.dc.setDataBreakpointsRequest({ breakpoints: [] });
        },
      },
      {
        name: `lines interrupts.c:${tickLine} (timer_irq), config.c:${copyLine}`,
        apply: async () => {
          await c.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
          await c.dc.setBreakpointsRequest({ source: { path: configC }, breakpoints: [{ line: copyLine }] });
          await c.dc.setBreakpointsRequest({ source: { path: interruptsC }, breakpoints: [{ line: tickLine }] });
          await c.dc.setDataBreakpointsRequest({ breakpoints: [] });
        },
      },
      {
        name: 'function config_set_name, data breakpoint on cfg.heartbeat_interval',
        apply: async () => {
          await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'config_set_name' }] });
          await c.dc.setBreakpointsRequest({ source: { path: configC }, breakpoints: [] });
          await c.dc.setBreakpointsRequest({ source: { path: interruptsC }, breakpoints: [] });
          const set = (await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: await dataId('cfg.heartbeat_interval'), accessType: 'write' }] })).body.breakpoints;
          assert.equal(set[0]!.verified, true, set[0]!.message);
        },
      },
      {
        name: 'data breakpoint on ticks, function serial_putc',
        apply: async () => {
          await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }] });
          await c.dc.setBreakpointsRequest({ source: { path: configC }, breakpoints: [] });
          await c.dc.setBreakpointsRequest({ source: { path: interruptsC }, breakpoints: [] });
          const set = (await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: await dataId('ticks'), accessType: 'write' }] })).body.breakpoints;
          assert.equal(set[0]!.verified, true, set[0]!.message);
        },
      },
      {
        name: 'none (only the panic filter)',
        apply: async () => {
          await c.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
          await c.dc.setBreakpointsRequest({ source: { path: configC }, breakpoints: [] });
          await c.dc.setBreakpointsRequest({ source: { path: interruptsC }, breakpoints: [] });
          await c.dc.setDataBreakpointsRequest({ breakpoints: [] });
        },
      },
    ];

    const thread = { threadId: 1 };
    const randomTarget = (): number => {
      const r = rand();
      if (r < 0.05) return 0;
      if (r < 0.1) return end + Math.floor(rand() * 1000); // at or past the end: clamped to it
      if (r < 0.3) return Math.max(0, pick(snapshots) + Math.floor(rand() * 4000) - 2000); // around a slice boundary
      if (r < 0.6) return Math.floor(rand() * (snapshots.find((s) => s > 0) ?? end)); // the commands before the computation
      return Math.floor(rand() * end);
    };
    const ops: Array<{ weight: number; make: () => Op }> = [
      { weight: 8, make: () => ({ name: 'stepIn', direction: 'forward', send: () => c.dc.stepInRequest(thread) }) },
      { weight: 9, make: () => ({ name: 'stepIn instruction', direction: 'forward', exact: (b, e) => Math.min(b + 1, e), send: () => c.dc.stepInRequest({ ...thread, granularity: 'instruction' }) }) },
      { weight: 8, make: () => ({ name: 'next', direction: 'forward', send: () => c.dc.nextRequest(thread) }) },
      { weight: 5, make: () => ({ name: 'next instruction', direction: 'forward', send: () => c.dc.nextRequest({ ...thread, granularity: 'instruction' }) }) },
      { weight: 5, make: () => ({ name: 'stepOut', direction: 'forward', send: () => c.dc.stepOutRequest(thread) }) },
      { weight: 10, make: () => ({ name: 'stepBack', direction: 'reverse', send: () => c.dc.stepBackRequest(thread) }) },
      { weight: 10, make: () => ({ name: 'stepBack instruction', direction: 'reverse', exact: (b) => Math.max(b - 1, 0), send: () => c.dc.stepBackRequest({ ...thread, granularity: 'instruction' }) }) },
      { weight: 6, make: () => ({ name: 'rewind/reverseStepIn', direction: 'reverse', send: () => c.custom('rewind/reverseStepIn', thread) }) },
      { weight: 3, make: () => ({ name: 'rewind/reverseStepIn instruction', direction: 'reverse', exact: (b) => Math.max(b - 1, 0), send: () => c.custom('rewind/reverseStepIn', { ...thread, granularity: 'instruction' }) }) },
      { weight: 6, make: () => ({ name: 'rewind/reverseStepOut', direction: 'reverse', send: () => c.custom('rewind/reverseStepOut', thread) }) },
      { weight: 8, make: () => ({ name: 'reverseContinue', direction: 'reverse', send: () => c.dc.send('reverseContinue', thread) }) },
      { weight: 6, make: () => ({ name: 'continue', direction: 'forward', send: () => c.dc.continueRequest(thread) }) },
      {
        weight: 10,
        make: () => {
          const t = randomTarget();
          return { name: `rewind/seek ${t}`, direction: 'seek', exact: (_b, e) => Math.min(t, e), send: () => c.custom('rewind/seek', { icount: t }) };
        },
      },
    ];
    const totalWeight = ops.reduce((n, o) => n + o.weight, 0);
    const drawOp = (): Op => {
      let r = rand() * totalWeight;
      for (const o of ops) {
        r -= o.weight;
        if (r < 0) return o.make();
      }
      return ops[ops.length - 1]!.make();
    };

    /** What the adapter shows now. */
    const observe = async (reason: string): Promise<Observed> => {
      const position = await c.position();
      const stack = await c.stack();
      const top = stack[0]!;
      const scopes = (await c.dc.scopesRequest({ frameId: top.id })).body.scopes;
      const regScope = scopes.find((s) => s.name === 'Registers');
      assert.ok(regScope, 'a Registers scope');
      const vars = (await c.dc.variablesRequest({ variablesReference: regScope.variablesReference })).body.variables;
      const registers: Record<string, bigint> = {};
      for (const name of REGISTERS) {
        const v = vars.find((x) => x.name === name);
        assert.ok(v, `register ${name} in the Registers scope (${vars.map((x) => x.name).join(' ')})`);
        registers[name] = registerValue(v.value);
      }
      return {
        icount: position.icount,
        reason,
        registers,
        frame: { name: top.name, ip: BigInt(top.instructionPointerReference ?? '0'), ...(top.source?.name ? { source: top.source.name } : {}), line: top.line },
      };
    };

    const stops: HistoryEntry[] = [];
    const first = await observe('entry');
    history.push({ index: 0, op: 'launch stopOnEntry', before: 0, result: 'entry', observed: first, ms: 0 });
    stops.push(history[0]!);
    let here = first.icount;
    check(here === 0, `stopOnEntry stops at icount 0, not ${here}`);
    let configName = 'none (only the panic filter)';
    const counts = new Map<string, number>();
    const errors: string[] = [];
    let moves = 0;
    let index = 1;
    while (moves < opCount) {
      // Now and then another set of breakpoints.
      if (rand() < 0.06) {
        const cfg = pick(configs);
        await cfg.apply();
        configName = cfg.name;
        history.push({ index: index++, op: `breakpoints: ${cfg.name}`, before: here, result: 'set', ms: 0 });
        if (verbose) console.error(`breakpoints: ${cfg.name}`);
        continue;
      }
      const op = drawOp();
      const entry: HistoryEntry = { index: index++, op: op.name, before: here, result: '?', ms: 0 };
      history.push(entry);
      if (verbose) console.error(`#${entry.index} ${op.name} from ${here}...`);
      const t0 = Date.now();
      const fromReceived = c.received.length;
      let stop: DebugProtocol.StoppedEvent | undefined;
      try {
        const stopped = c.dc.waitForEvent('stopped', OP_TIMEOUT_MS) as Promise<DebugProtocol.StoppedEvent>;
        stopped.catch(() => undefined);
        await withTimeout(op.send(c), `the response to ${op.name}`);
        stop = await stopped;
      } catch (e) {
        entry.result = `error: ${(e as Error).message}`;
        check(!/^timeout/.test((e as Error).message), `#${entry.index} ${op.name} from ${here}: ${entry.result}`);
      }
      entry.ms = Date.now() - t0;
      if (verbose) console.error(`   -> ${entry.result === '?' ? stop?.body.reason : entry.result} in ${entry.ms} ms`);
      moves++;
      counts.set(op.name.replace(/ \d+$/, ''), (counts.get(op.name.replace(/ \d+$/, '')) ?? 0) + 1);
      if (!stop) {
        errors.push(`#${entry.index} ${op.name} at ${here}: ${entry.result}`);
        check(!/internal error/i.test(entry.result), `#${entry.index} ${op.name}: an internal error`);
        // A refused move leaves the time where it was.
        const now = (await c.position()).icount;
        check(now === here, `#${entry.index} ${op.name} failed but moved from ${here} to ${now}`);
        continue;
      }
      const after = c.received.slice(fromReceived);
      const respAt = after.findIndex((m) => m.type === 'response');
      const stopAt = after.findIndex((m) => m.type === 'event' && (m as DebugProtocol.Event).event === 'stopped');
      check(respAt >= 0 && respAt < stopAt, `#${entry.index} ${op.name}: the response must precede the stopped event`);
      const reason = stop.body.reason;
      const seen = await observe(reason);
      entry.observed = seen;
      entry.result = reason;
      stops.push(entry);
      const now = seen.icount;
      const where = `#${entry.index} ${op.name} from ${here} (breakpoints: ${configName}) -> ${now} (${reason}${stop.body.description ? `: ${stop.body.description}` : ''})`;
      // Nobody pauses here: a "pause" stop is a move that failed after it was answered.
      check(reason !== 'pause', `${where}: the move failed`);
      // Semantics of each kind of operation.
      if (op.exact) check(now === op.exact(here, end), `${where}: expected exactly ${op.exact(here, end)}`);
      if (op.direction === 'reverse') {
        check(now <= here, `${where}: a reverse operation moved forward`);
        check(here === 0 || now < here, `${where}: a reverse operation did not move back`);
        if (now === 0) check(reason === REWIND_STOP_REASON.start, `${where}: at the start the reason must be "${REWIND_STOP_REASON.start}"`);
      }
      if (op.direction === 'forward') {
        check(now >= here, `${where}: a forward operation moved back`);
        // gdb's step at the call site of an inlined function enters its frame without executing an
        // instruction: the only forward move that may stay at the same time point. (The adapter then
        // still presents the caller's line there: a known presentation weakness, not a wrong state.)
        const enteredInline = op.name === 'stepIn' && now === here && (functionsAt(DEMO_KERNEL, [seen.registers.rip!]).get(seen.registers.rip!)?.length ?? 0) > 1;
        check(here === end || now > here || enteredInline, `${where}: a forward operation did not move`);
        if (now === end) check(reason === REWIND_STOP_REASON.end, `${where}: at the end the reason must be "${REWIND_STOP_REASON.end}"`);
      }
      if (op.direction === 'seek') check(reason === (now === end ? REWIND_STOP_REASON.end : 'goto'), `${where}: a seek stops with reason goto (or the end's)`);
      if (reason === REWIND_STOP_REASON.start) check(now === 0, `${where}: "start of recording" away from the start`);
      if (reason === REWIND_STOP_REASON.end) check(now === end, `${where}: "end of recording" away from the end`);
      check(seen.frame.ip === seen.registers.rip, `${where}: the top frame's pc ${seen.frame.ip.toString(16)} differs from rip ${seen.registers.rip!.toString(16)}`);
      const changed = c.events.filter((e) => e.event === 'rewind/positionChanged').pop() as DebugProtocol.Event | undefined;
      check((changed?.body as RewindPosition | undefined)?.icount === now, `${where}: rewind/positionChanged said ${(changed?.body as RewindPosition | undefined)?.icount}`);
      here = now;
    }
    const sessionMs = Date.now() - started;
    await c.stop();
    client = undefined;
    await assertNoLeftovers(bundle);

    // Ground truth: one replay process from the initial snapshot, forward through the sorted time points.
    const truthStarted = Date.now();
    const b = await Bundle.open(bundle);
    const end2 = replayEnd(await b.readIndex());
    assert.equal(end2, end);
    const ws = await ReplayWorkspace.create(b);
    const truth = new Map<number, Record<string, bigint>>();
    const points = [...new Set(stops.map((s) => s.observed!.icount))].sort((x, y) => x - y);
    const initial = b.manifest.snapshots.list.find((s) => s.icount === 0)!;
    const straight = await ReplayWorker.start(b, ws, { ...initial, image: ws.snapshots, source: 'record' }, end);
    try {
      for (const t of points) {
        const r = await straight.runTo(t);
        assert.equal(r.icount, t, `the straight replay reached ${r.icount}, not ${t}`);
        truth.set(t, await straight.registers());
      }
    } finally {
      await straight.kill();
      await ws.dispose();
    }
    const truthMs = Date.now() - truthStarted;

    const functions = functionsAt(join(bundle, b.manifest.guest.kernel.file), [...new Set(stops.map((s) => s.observed!.registers.rip!))]);
    const mismatches: string[] = [];
    for (const s of stops) {
      const o = s.observed!;
      const t = truth.get(o.icount)!;
      const diff = REGISTERS.filter((r) => t[r] !== o.registers[r]).map((r) => `${r}: adapter 0x${o.registers[r]!.toString(16)}, replay 0x${(t[r] ?? -1n).toString(16)}`);
      const fns = functions.get(o.registers.rip!) ?? [];
      if (o.frame.source && fns.length > 0 && !fns.includes(o.frame.name)) diff.push(`top frame ${o.frame.name}, but the pc is in ${fns.join(' < ')}`);
      if (diff.length > 0) {
        mismatches.push(failure(`mismatch after #${s.index} ${s.op} at icount ${o.icount}: ${diff.join('; ')}`, history.indexOf(s) + 1));
      }
    }
    console.log(
      `# ${moves} operations (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}), ${errors.length} refused, ${stops.length} stops at ${points.length} distinct time points; ` +
        `${mismatches.length} mismatches; session ${(sessionMs / 1000).toFixed(1)} s, straight replay ${(truthMs / 1000).toFixed(1)} s`,
    );
    for (const e of errors) console.log(`#   refused: ${e}`);
    const slow = [...history].sort((x, y) => y.ms - x.ms).slice(0, 5);
    console.log(`# slowest: ${slow.map((h) => `${h.op} ${h.ms} ms`).join(', ')}`);
    if (mismatches.length > 0) failed = true;
    assert.equal(mismatches.length, 0, mismatches.slice(0, 3).join('\n\n'));
  }
});
