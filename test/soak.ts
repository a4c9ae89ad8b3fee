/**
 * A soak of the debug adapter on one recording: many random operations (forward and reverse steps at
 * line and instruction granularity, reverse step in/out, continue and reverse continue with
 * breakpoints and data breakpoints, seeks) on ONE DAP session. After every stop the position, the
 * registers the adapter shows and the top frame are recorded; at the end they are compared with the
 * ground truth, one straight forward replay (a single replay process from the initial snapshot,
 * run forward through the sorted time points, never back). Each operation's own semantics are
 * checked as it happens (an instruction step moves exactly one instruction, reverse operations
 * never move forward, a seek lands exactly, the ends of the recording are stops that say so).
 *
 * Used by dap-fidelity.test.ts (the demo guest) and linux-soak.test.ts (the Linux fixture).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { REWIND_STOP_REASON, type RewindPosition } from '@rewind/protocol';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { straightReplay } from './support/straight-replay';
import type { RewindDapClient } from './support/dap-client';
import { prng } from './support/prng';

/** A set of breakpoints the soak switches to now and then. */
export interface BreakpointConfig {
  name: string;
  apply: (c: RewindDapClient) => Promise<void>;
}

export interface SoakTarget {
  bundle: string;
  /** Extra launch attributes (e.g. `symbols` for a Linux bzImage). */
  launch?: Record<string, unknown>;
  /** The ELF whose functions addr2line names (independent of gdb). */
  elf: string;
  /** The registers compared with the ground truth (the Registers scope's General group). */
  registers: readonly string[];
  /** Breakpoint sets; the last one is applied first. */
  configs: BreakpointConfig[];
  /** The register holding the pc. */
  pc: string;
}

export interface SoakOptions {
  seed: number;
  operations: number;
  verbose?: boolean;
  /** A move that takes longer than this fails the soak (not a speed check: a hang). */
  operationTimeoutMs?: number;
}

export interface SoakReport {
  operations: number;
  counts: Map<string, number>;
  refused: string[];
  stops: number;
  distinctTimePoints: number;
  mismatches: string[];
  sessionMs: number;
  truthMs: number;
  slowest: Array<{ op: string; ms: number }>;
}

type Direction = 'forward' | 'reverse' | 'seek';

interface Op {
  name: string;
  direction: Direction;
  /** Exact landing, when the operation defines one (instruction steps, seeks). */
  exact?: (before: number, end: number) => number;
  send: (c: RewindDapClient) => Promise<unknown>;
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
export function functionsAt(elf: string, pcs: bigint[]): Map<bigint, string[]> {
  const out = new Map<bigint, string[]>();
  if (pcs.length === 0) return out;
  const text = execFileSync('addr2line', ['-a', '-f', '-i', '-e', elf, ...pcs.map((p) => `0x${p.toString(16)}`)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let current: string[] | undefined;
  for (const l of text.split('\n')) {
    if (/^0x[0-9a-f]+$/i.test(l)) {
      current = [];
      out.set(BigInt(l), current);
    } else if (current && l !== '' && !l.includes(':')) {
      current.push(l);
    }
  }
  return out;
}

const labels = new Map<string, Set<string>>();

/** Whether `name` is a symbol without a type in the ELF's symbol table: an assembly label, not a function. */
function isLabel(elf: string, name: string): boolean {
  let set = labels.get(elf);
  if (!set) {
    set = new Set<string>();
    const text = execFileSync('readelf', ['-sW', elf], { encoding: 'utf8', maxBuffer: 256 << 20 });
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[3] === 'NOTYPE' && f[7]) set.add(f[7]);
    }
    labels.set(elf, set);
  }
  return set.has(name);
}

function withTimeout<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: no ${what} within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Runs the soak on a started client (not yet launched). Fails (assert) on the first broken
 * semantics and, at the end, on any mismatch with the straight replay; returns the report.
 */
export async function runSoak(c: RewindDapClient, target: SoakTarget, opts: SoakOptions): Promise<SoakReport> {
  const { seed } = opts;
  const opTimeout = opts.operationTimeoutMs ?? 120_000;
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const history: HistoryEntry[] = [];
  const failure = (what: string, upTo = history.length): string =>
    `${what}\nseed ${seed}; the operations that led to it:\n${history
      .slice(Math.max(0, upTo - 60), upTo)
      .map((h) => `  #${h.index} ${h.op} from ${h.before} -> ${h.result}${h.observed ? ` at ${h.observed.icount} ${h.observed.frame.name} ${h.observed.frame.source ?? '?'}:${h.observed.frame.line}` : ''} (${h.ms} ms)`)
      .join('\n')}`;
  const check = (ok: boolean, what: string) => {
    if (!ok) assert.fail(failure(what));
  };
  const started = Date.now();
  await c.launch({ recording: target.bundle, stopOnEntry: true, ...target.launch });
  const snapshots = (await c.custom('rewind/snapshots', {})).snapshots.map((s) => s.icount);
  const end = (await c.position()).end;
  console.log(`# recording: ${end.toLocaleString('en-US')} instructions, ${snapshots.length} snapshots`);
  const pc = target.pc;

  const thread = { threadId: 1 };
  const randomTarget = (): number => {
    const r = rand();
    if (r < 0.05) return 0;
    if (r < 0.1) return end + Math.floor(rand() * 1000); // at or past the end: clamped to it
    if (r < 0.3) return Math.max(0, pick(snapshots) + Math.floor(rand() * 4000) - 2000); // around a slice boundary
    if (r < 0.6) return Math.floor(rand() * (snapshots.find((s) => s > 0) ?? end)); // before the first snapshot
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
    for (const name of target.registers) {
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

  let configName = target.configs[target.configs.length - 1]!.name;
  await target.configs[target.configs.length - 1]!.apply(c);
  const stops: HistoryEntry[] = [];
  const first = await observe('entry');
  history.push({ index: 0, op: 'launch stopOnEntry', before: 0, result: 'entry', observed: first, ms: 0 });
  stops.push(history[0]!);
  let here = first.icount;
  check(here === 0, `stopOnEntry stops at icount 0, not ${here}`);
  const counts = new Map<string, number>();
  const refused: string[] = [];
  let moves = 0;
  let index = 1;
  while (moves < opts.operations) {
    // Now and then another set of breakpoints.
    if (rand() < 0.06) {
      const cfg = pick(target.configs);
      await cfg.apply(c);
      configName = cfg.name;
      history.push({ index: index++, op: `breakpoints: ${cfg.name}`, before: here, result: 'set', ms: 0 });
      if (opts.verbose) console.error(`breakpoints: ${cfg.name}`);
      continue;
    }
    const op = drawOp();
    const entry: HistoryEntry = { index: index++, op: op.name, before: here, result: '?', ms: 0 };
    history.push(entry);
    if (opts.verbose) console.error(`#${entry.index} ${op.name} from ${here}...`);
    const t0 = Date.now();
    const fromReceived = c.received.length;
    let stop: DebugProtocol.StoppedEvent | undefined;
    try {
      const stopped = c.dc.waitForEvent('stopped', opTimeout) as Promise<DebugProtocol.StoppedEvent>;
      stopped.catch(() => undefined);
      await withTimeout(op.send(c), `the response to ${op.name}`, opTimeout);
      stop = await stopped;
    } catch (e) {
      entry.result = `error: ${(e as Error).message}`;
      check(!/^timeout/.test((e as Error).message), `#${entry.index} ${op.name} from ${here}: ${entry.result}`);
    }
    entry.ms = Date.now() - t0;
    if (opts.verbose) console.error(`   -> ${entry.result === '?' ? stop?.body.reason : entry.result} in ${entry.ms} ms`);
    moves++;
    // Progress on stderr: node's test runner passes a test's stderr through at once, its stdout only at the end.
    if (moves % 50 === 0) console.error(`soak: ${moves}/${opts.operations} operations in ${((Date.now() - started) / 1000).toFixed(0)} s, ${refused.length} refused so far`);
    const kind = op.name.replace(/ \d+$/, '');
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    if (!stop) {
      refused.push(`#${entry.index} ${op.name} at ${here}: ${entry.result}`);
      check(!/internal error|replay process|rewind check/i.test(entry.result), `#${entry.index} ${op.name}: ${entry.result}`);
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
    if (op.exact) check(now === op.exact(here, end), `${where}: expected exactly ${op.exact(here, end)}`);
    if (op.direction === 'reverse') {
      check(now <= here, `${where}: a reverse operation moved forward`);
      check(here === 0 || now < here, `${where}: a reverse operation did not move back`);
      if (now === 0) check(reason === REWIND_STOP_REASON.start, `${where}: at the start the reason must be "${REWIND_STOP_REASON.start}"`);
    }
    if (op.direction === 'forward') {
      check(now >= here, `${where}: a forward operation moved back`);
      // gdb's step at the call site of an inlined function enters its frame without executing an
      // instruction: the only forward move that may stay at the same time point.
      const enteredInline = op.name === 'stepIn' && now === here && (functionsAt(target.elf, [seen.registers[pc]!]).get(seen.registers[pc]!)?.length ?? 0) > 1;
      check(here === end || now > here || enteredInline, `${where}: a forward operation did not move`);
      if (now === end) check(reason === REWIND_STOP_REASON.end, `${where}: at the end the reason must be "${REWIND_STOP_REASON.end}"`);
    }
    if (op.direction === 'seek') check(reason === (now === end ? REWIND_STOP_REASON.end : 'goto'), `${where}: a seek stops with reason goto (or the end's)`);
    if (reason === REWIND_STOP_REASON.start) check(now === 0, `${where}: "start of recording" away from the start`);
    if (reason === REWIND_STOP_REASON.end) check(now === end, `${where}: "end of recording" away from the end`);
    check(seen.frame.ip === seen.registers[pc], `${where}: the top frame's pc ${seen.frame.ip.toString(16)} differs from ${pc} ${seen.registers[pc]!.toString(16)}`);
    const changed = c.events.filter((e) => e.event === 'rewind/positionChanged').pop() as DebugProtocol.Event | undefined;
    check((changed?.body as RewindPosition | undefined)?.icount === now, `${where}: rewind/positionChanged said ${(changed?.body as RewindPosition | undefined)?.icount}`);
    here = now;
  }
  const sessionMs = Date.now() - started;

  // Ground truth: one replay process from the initial snapshot, forward through the sorted time points.
  const truthStarted = Date.now();
  const b = await Bundle.open(target.bundle);
  check(replayEnd(await b.readIndex()) === end, 'the adapter and the bundle agree on the end');
  const truth = new Map<number, Record<string, bigint>>();
  const points = [...new Set(stops.map((s) => s.observed!.icount))].sort((x, y) => x - y);
  const straight = await straightReplay(b, end, points);
  points.forEach((t, i) => {
    assert.equal(straight[i]!.icount, t, `the straight replay reached ${straight[i]!.icount}, not ${t}`);
    truth.set(t, straight[i]!.registers);
  });
  const truthMs = Date.now() - truthStarted;

  const functions = functionsAt(target.elf, [...new Set(stops.map((s) => s.observed!.registers[pc]!))]);
  const mismatches: string[] = [];
  for (const s of stops) {
    const o = s.observed!;
    const t = truth.get(o.icount)!;
    const diff = target.registers.filter((r) => t[r] !== o.registers[r]).map((r) => `${r}: adapter 0x${o.registers[r]!.toString(16)}, replay 0x${(t[r] ?? -1n).toString(16)}`);
    const fns = functions.get(o.registers[pc]!) ?? [];
    // addr2line names assembly code by its nearest label (entry_SYSCALL_64_after_hwframe), gdb by
    // the function symbol that contains it (entry_SYSCALL_64): only function names are compared.
    if (o.frame.source && fns.length > 0 && !fns.includes(o.frame.name) && !isLabel(target.elf, fns[0]!)) diff.push(`top frame ${o.frame.name}, but the pc is in ${fns.join(' < ')}`);
    if (diff.length > 0) mismatches.push(failure(`mismatch after #${s.index} ${s.op} at icount ${o.icount}: ${diff.join('; ')}`, history.indexOf(s) + 1));
  }
  const report: SoakReport = {
    operations: moves,
    counts,
    refused,
    stops: stops.length,
    distinctTimePoints: points.length,
    mismatches,
    sessionMs,
    truthMs,
    slowest: [...history].sort((x, y) => y.ms - x.ms).slice(0, 8).map((h) => ({ op: h.op, ms: h.ms })),
  };
  console.log(
    `# ${moves} operations (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}), ${refused.length} refused, ${stops.length} stops at ${points.length} distinct time points; ` +
      `${mismatches.length} mismatches; session ${(sessionMs / 1000).toFixed(1)} s, straight replay ${(truthMs / 1000).toFixed(1)} s`,
  );
  for (const e of refused) console.log(`#   refused: ${e}`);
  console.log(`# slowest: ${report.slowest.map((h) => `${h.op} ${h.ms} ms`).join(', ')}`);
  assert.equal(mismatches.length, 0, mismatches.slice(0, 3).join('\n\n'));
  return report;
}
