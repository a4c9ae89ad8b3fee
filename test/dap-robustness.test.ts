/**
 * Robustness of the debug adapter (the real `node dist/dap.js` with real gdb and QEMU): requests
 * before launch, malformed arguments, bad references, unknown commands, absurd sizes, a seeded
 * storm of thousands of requests sent without waiting while replay processes are stopped (SIGSTOP)
 * or killed at random moments, launch configurations that cannot work,
 * a disconnect in the middle of a long operation, and a SIGKILL of the adapter. Every request
 * gets exactly one response (an error response where it cannot be served), the adapter stays
 * alive and correct, its stderr stays clean, and no gdb or QEMU process outlives it.
 *
 * The storm's seed is printed; `REWIND_ROBUSTNESS_SEED=N` repeats it, `REWIND_ROBUSTNESS_REQUESTS=N`
 * changes its size (default 3000 in `npm test`; `npm run storm` runs 10,000).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindPosition } from '@rewind/protocol';
import { RewindDapClient } from './support/dap-client';
import { DEMO_KERNEL, requireDemoKernel, ROOT, runRewind, tempDir } from './helpers';
import { prng } from './support/prng';
import { adapterProcessesOf, alive, descendantsOf } from './support/procs';

const DEMO_SRC = join(ROOT, 'guests', 'demo');
const CONFIG_C = join(DEMO_SRC, 'config.c');

/**
 * A short session: boots, a few commands, then a computation (its inner loop makes long continues);
 * recorded with `--stop-on "spin done"`. The typing comes before the computation: typed input
 * after it replays slowly (about 0.5 s per character, measured).
 */
const QUICK_INPUT = ['expect ready', 'expect > ', 'send hello\\n', 'expect hello, world', 'expect > ', 'send name rewind\\n', 'expect name set', 'expect > ', 'send spin 1\\n', 'expect spin done', ''].join('\n');

function lineOf(file: string, text: string): number {
  const i = readFileSync(join(DEMO_SRC, file), 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} not found in ${file}`);
  return i + 1;
}

/** Leaves `arguments` out of the request (NO_ARGS) or sends `null` (NULL_ARGS) instead of an object. */
const NO_ARGS = Symbol('no arguments');
const NULL_ARGS = Symbol('null arguments');
type Args = unknown | typeof NO_ARGS | typeof NULL_ARGS;

/**
 * A DAP client on the real adapter that also sends raw requests (any arguments, any command),
 * counts the responses to each request, tracks the gdb processes the adapter starts, and keeps
 * the adapter's stderr.
 */
class Probe {
  readonly c = new RewindDapClient();
  stderr = '';
  private seq = 1_000_000;
  private readonly waiters = new Map<number, (r: DebugProtocol.Response) => void>();
  /** request seq -> responses received for it (raw requests only). */
  readonly responses = new Map<number, number>();
  /** gdb processes this adapter started (they must not outlive it). */
  readonly gdbPids = new Set<number>();
  exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  get proc(): ChildProcess {
    return (this.c.dc as unknown as { _adapterProcess: ChildProcess })._adapterProcess;
  }

  async start(): Promise<void> {
    await this.c.start();
    const proc = this.proc;
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    const client = this.c.dc as unknown as { dispatch(body: string): void };
    const next = client.dispatch.bind(this.c.dc);
    client.dispatch = (body: string) => {
      const m = JSON.parse(body) as DebugProtocol.ProtocolMessage;
      if (m.type === 'response') {
        const r = m as DebugProtocol.Response;
        if (this.responses.has(r.request_seq)) this.responses.set(r.request_seq, this.responses.get(r.request_seq)! + 1);
        const w = this.waiters.get(r.request_seq);
        this.waiters.delete(r.request_seq);
        w?.(r);
      }
      next(body);
    };
  }

  /** Sends any request, exactly as given, and resolves with its response (never rejects on success: false). */
  raw(command: unknown, args: Args = NO_ARGS): Promise<DebugProtocol.Response> {
    const seq = this.seq++;
    const request: Record<string, unknown> = { type: 'request', seq, command };
    if (args === NULL_ARGS) request.arguments = null;
    else if (args !== NO_ARGS) request.arguments = args;
    this.responses.set(seq, 0);
    const response = new Promise<DebugProtocol.Response>((resolve) => this.waiters.set(seq, resolve));
    const json = JSON.stringify(request);
    (this.c.dc as unknown as { outputStream: NodeJS.WritableStream }).outputStream.write(`Content-Length: ${Buffer.byteLength(json, 'utf8')}\r\n\r\n${json}`, 'utf8');
    return response;
  }

  /** Remembers the adapter's gdb processes (call while a recording is open). */
  async noteGdb(): Promise<void> {
    for (const { pid, cmd } of descendantsOf(this.proc.pid!)) if (/(^|\/)gdb --interpreter=mi3/.test(cmd)) this.gdbPids.add(pid);
  }

  /** Disconnects and stops the adapter; a no-op once it is gone (a request to a dead adapter is never answered). */
  async stop(): Promise<void> {
    const proc = this.proc as ChildProcess | null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.c.stop(), this.exited, new Promise((r) => (timer = setTimeout(r, 15_000)))]).finally(() => clearTimeout(timer));
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
}

/**
 * Waits until none of these processes is left: QEMU replay processes of the recordings in `dir`
 * (test/support/procs.ts's adapterProcessesOf) and the gdb processes the probes started. (adapterProcessesOf also
 * lists every `gdb --interpreter=mi3` on the machine; other test runs may own some of those, so
 * gdb is checked by process id.)
 */
async function assertNothingLeft(dir: string, probes: Probe[], timeoutMs = 10_000): Promise<void> {
  const left = async () => [
    ...adapterProcessesOf(dir).filter((p) => p.includes('qemu-system')),
    ...probes.flatMap((p) => [...p.gdbPids].filter(alive).map((pid) => `${pid}: gdb`)),
  ];
  const until = Date.now() + timeoutMs;
  let now = await left();
  while (now.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    now = await left();
  }
  assert.deepEqual(now, [], 'processes left behind');
}

/**
 * Stops (SIGSTOP) or kills (SIGKILL) a random replay process of an adapter now and then, as a
 * crashing or wedged QEMU would, and times how soon each stopped one is noticed: the engine kills
 * a process it takes for hung, so "noticed" is when the stopped process is gone.
 */
class Chaos {
  readonly strikes: Array<{ pid: number; kind: 'stop' | 'kill'; noticedMs?: number }> = [];
  private timer?: NodeJS.Timeout;
  private readonly watching = new Set<Promise<void>>();
  private running = false;

  constructor(
    private readonly adapterPid: number,
    private readonly rand: () => number,
    private readonly needle: string,
  ) {}

  start(meanMs: number): void {
    this.running = true;
    const next = () => {
      if (!this.running) return;
      this.timer = setTimeout(() => void this.strike().finally(next), meanMs / 2 + this.rand() * meanMs);
    };
    next();
  }

  /** Stops striking and waits until every stopped process is noticed (or 30 s passed for each). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await Promise.all([...this.watching]);
  }

  private async strike(): Promise<void> {
    // QEMU itself, not the watchdog shell that runs it.
    const qemus = descendantsOf(this.adapterPid).filter(({ cmd }) => /^\S*qemu-system/.test(cmd) && cmd.includes(this.needle)).map(({ pid }) => pid);
    if (qemus.length === 0 || !this.running) return;
    const pid = qemus[Math.floor(this.rand() * qemus.length)]!;
    const kind = this.rand() < 0.6 ? 'stop' : 'kill';
    const entry: Chaos['strikes'][number] = { pid, kind };
    try {
      process.kill(pid, kind === 'stop' ? 'SIGSTOP' : 'SIGKILL');
    } catch {
      return; // gone meanwhile
    }
    this.strikes.push(entry);
    if (kind === 'kill') return;
    const at = Date.now();
    const watch = (async () => {
      while (alive(pid) && Date.now() - at < 30_000) await new Promise((r) => setTimeout(r, 25));
      if (!alive(pid)) entry.noticedMs = Date.now() - at;
    })();
    this.watching.add(watch);
    void watch.finally(() => this.watching.delete(watch));
  }
}

/** Errors that come from a lost replay process, which a valid request must never get: the engine retries elsewhere. */
const LOST_PROCESS = /replay process|hung|was killed|died|rewind check|QMP|gdbstub|remote (failure|communication)|connection closed|\bE\d\d\b/i;

function assertError(r: DebugProtocol.Response, what: string, message?: RegExp): void {
  assert.equal(r.success, false, `${what}: expected an error response, got ${JSON.stringify(r).slice(0, 300)}`);
  assert.ok(typeof r.message === 'string' && r.message.length > 0, `${what}: an error response has a message`);
  assert.doesNotMatch(r.message!, /internal error/i, `${what}: ${r.message}`);
  if (message) assert.match(r.message!, message, what);
}

describe('debug adapter robustness', { timeout: 900_000 }, () => {
  const dir = tempDir(after, 'rewind-dap-robust-');
  let quick: string;
  const probes: Probe[] = [];

  before(async () => {
    requireDemoKernel();
    await fs.writeFile(join(dir, 'quick.txt'), QUICK_INPUT);
    quick = join(dir, 'quick.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(dir, 'quick.txt'), '--out', quick, '--quiet', '--snapshot-every', '2M', '--stop-on', 'spin done']);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    for (const p of probes) await p.stop().catch(() => undefined);
    await assertNothingLeft(dir, probes);
  });

  async function probe(): Promise<Probe> {
    const p = new Probe();
    probes.push(p);
    await p.start();
    return p;
  }

  /** Runs a test on a fresh adapter, which is stopped (and its processes checked) even when the test fails. */
  async function withProbe(fn: (p: Probe) => Promise<void>): Promise<void> {
    const p = await probe();
    let ok = false;
    try {
      await fn(p);
      ok = true;
    } finally {
      await p.stop().catch(() => undefined);
      const left = assertNothingLeft(dir, [p]);
      if (ok) await left;
      else await left.catch(() => undefined);
    }
  }

  /** A breakpoint on the computation's inner loop whose condition never holds: continues in either direction run for a very long time. */
  async function endlessBreakpoint(p: Probe): Promise<void> {
    const line = lineOf('work.c', 'h = mix(h, base + i);');
    const set = (await p.c.dc.setBreakpointsRequest({ source: { path: join(DEMO_SRC, 'work.c') }, breakpoints: [{ line, condition: 'i == 4000000000' }] })).body.breakpoints;
    assert.equal(set[0]!.verified, true, set[0]!.message);
    await p.c.dc.setExceptionBreakpointsRequest({ filters: [] });
  }

  /** launch + configurationDone; resolves with the first stop's position. */
  async function open(p: Probe, args: Record<string, unknown>): Promise<RewindPosition> {
    const stop = await p.c.launch(args);
    await p.noteGdb();
    return stop.position;
  }

  async function close(p: Probe): Promise<void> {
    await p.stop();
    await assertNothingLeft(dir, [p]);
    assert.equal(p.stderr.trim(), '', 'nothing on the adapter\'s stderr');
  }

  it('answers requests before launch with errors, and launches normally afterwards', () => withProbe(async (p) => {
    const before: Array<[string, Args]> = [
      ['stackTrace', { threadId: 1 }],
      ['scopes', { frameId: 1 }],
      ['variables', { variablesReference: 1 }],
      ['evaluate', { expression: 'ticks', context: 'watch' }],
      ['evaluate', { expression: '-exec info registers', context: 'repl' }],
      ['continue', { threadId: 1 }],
      ['next', { threadId: 1 }],
      ['stepIn', { threadId: 1 }],
      ['stepOut', { threadId: 1 }],
      ['stepBack', { threadId: 1 }],
      ['reverseContinue', { threadId: 1 }],
      ['rewind/seek', { icount: 5 }],
      ['rewind/position', {}],
      ['rewind/events', {}],
      ['rewind/snapshots', {}],
      ['rewind/takeSnapshot', {}],
      ['rewind/lastWrite', { expression: 'ticks' }],
      ['rewind/hits', { function: 'serial_putc' }],
      ['rewind/reverseStepIn', { threadId: 1 }],
      ['rewind/reverseStepOut', { threadId: 1 }],
      ['disassemble', { memoryReference: '0x100000', instructionCount: 4 }],
      ['readMemory', { memoryReference: '0x100000', count: 4 }],
      ['loadedSources', {}],
      ['setBreakpoints', { source: { path: CONFIG_C }, breakpoints: [{ line: 30 }] }],
      ['setFunctionBreakpoints', { breakpoints: [{ name: 'panic' }] }],
      ['setInstructionBreakpoints', { breakpoints: [{ instructionReference: '0x100000' }] }],
      ['setDataBreakpoints', { breakpoints: [] }],
      ['dataBreakpointInfo', { name: 'ticks' }],
      ['configurationDone', {}],
    ];
    for (const [command, args] of before) {
      assertError(await p.raw(command, args), `${command} before launch`, /launch/);
    }
    // Fired all at once, too.
    const all = await Promise.all(before.map(([command, args]) => p.raw(command, args)));
    all.forEach((r, i) => assertError(r, `${before[i]![0]} before launch (concurrent)`, /launch/));
    const first = await open(p, { recording: quick, stopOnEntry: true });
    assert.equal(first.icount, 0);
    const frames = await p.c.frames();
    assert.ok(frames.length >= 1);
    await close(p);
  }));

  it('refuses launch configurations that cannot work, with messages that say what to do', () => withProbe(async (p) => {
    const notBundle = join(dir, 'not-a-bundle');
    await fs.mkdir(notBundle, { recursive: true });
    await fs.writeFile(join(notBundle, 'notes.txt'), 'hello');
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['no recording', {}, /"recording".*\.rewind bundle.*"record"/],
      ['a recording that does not exist', { recording: join(dir, 'nowhere.rewind') }, /there is no recording at .*rewind record/],
      ['a folder that is not a bundle', { recording: notBundle }, /not a Rewind recording.*manifest\.json.*rewind record/],
      ['a file, not a bundle', { recording: join(notBundle, 'notes.txt') }, /not a Rewind recording/],
      ['a number as recording', { recording: 42 }, /"recording" must be a non-empty string/],
      ['symbols of another build', { recording: quick, symbols: ['/bin/true'] }, /build-id .* is not the kernel that was recorded .*Remove "symbols"/],
      ['symbols that do not exist', { recording: quick, symbols: ['/nonexistent/vmlinux'] }, /"symbols".*does not exist/],
      ['startAt as a word', { recording: quick, startAt: 'yesterday' }, /"startAt" must be an instruction count .*"end"/],
      ['a negative startAt', { recording: quick, startAt: -5 }, /"startAt" must be/],
      ['a fractional startAt', { recording: quick, startAt: 1.5 }, /"startAt" must be/],
      ['startAt as an object', { recording: quick, startAt: { icount: 5 } }, /"startAt" must be/],
      ['stopOnEntry as a string', { recording: quick, stopOnEntry: 'yes' }, /"stopOnEntry" must be true or false/],
      ['sourceMap as a list', { recording: quick, sourceMap: ['/a', '/b'] }, /"sourceMap" must map/],
      ['a gdb that does not exist', { recording: quick, gdbPath: '/nonexistent/gdb' }, /gdb.*(install|gdbPath)/],
    ];
    for (const [what, args, message] of cases) {
      const r = await p.raw('launch', args);
      assertError(r, what, message);
      // A refused launch leaves nothing running.
      await assertNothingLeft(dir, [p]);
    }
    assertError(await p.raw('launch', [quick]), 'launch with a list', /must be an object/);
    assertError(await p.raw('launch', NULL_ARGS), 'launch with null', /"recording"/);
    // The same adapter still launches a good configuration.
    const first = await open(p, { recording: quick, startAt: '1M' });
    assert.equal(first.icount, 1_000_000);
    assertError(await p.raw('launch', { recording: quick }), 'a second launch', /already/);
    await close(p);
  }));

  it('answers malformed requests, bad references and unknown commands with errors, and stays correct', () => withProbe(async (p) => {
    const first = await open(p, { recording: quick, stopOnEntry: true });
    await p.c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'config_set_name' }] });
    const at = await p.c.run(() => p.c.dc.continueRequest({ threadId: 1 }));
    assert.match(at.frames[0]!, /^config_set_name /);
    assert.ok(at.position.icount > first.icount);
    const stack = await p.c.stack();
    const rip = (await p.c.scope('Registers')).get('rip')!.value.split(' ')[0]!;
    const mustFail: Array<[unknown, Args, RegExp?]> = [
      // Threads, frames, references.
      ['stackTrace', { threadId: 99 }, /threadId/],
      ['stackTrace', { threadId: 'one' }, /threadId/],
      ['stackTrace', {}, /threadId/],
      ['stackTrace', { threadId: null }, /threadId/],
      ['stackTrace', { threadId: 1, startFrame: 'zero' }],
      ['scopes', { frameId: 123456 }, /frameId/],
      ['scopes', { frameId: 'top' }, /frameId/],
      ['scopes', {}, /frameId/],
      ['variables', { variablesReference: 999999 }, /variablesReference/],
      ['variables', { variablesReference: -1 }, /variablesReference/],
      ['variables', { variablesReference: '1' }, /variablesReference/],
      ['variables', {}, /variablesReference/],
      ['evaluate', {}, /expression/],
      ['evaluate', { expression: 42 }, /expression/],
      ['evaluate', { expression: 'ticks', frameId: 777 }, /frameId/],
      ['evaluate', { expression: '(((' }],
      ['evaluate', { expression: '' }],
      ['evaluate', { expression: 'no_such_symbol_here' }],
      ['dataBreakpointInfo', { name: 42 }, /name/],
      ['dataBreakpointInfo', { name: 'ticks', frameId: 4242 }, /frameId/],
      // Executions with bad threads.
      ['continue', { threadId: 42 }, /threadId/],
      ['continue', { threadId: '1' }, /threadId/],
      ['continue', {}, /threadId/],
      ['next', { threadId: 7 }, /threadId/],
      ['stepIn', { threadId: -1 }, /threadId/],
      ['stepOut', { threadId: 2 }, /threadId/],
      ['stepBack', { threadId: 3 }, /threadId/],
      ['reverseContinue', { threadId: 1.5 }, /threadId/],
      ['rewind/reverseStepIn', {}, /threadId/],
      ['rewind/reverseStepOut', { threadId: [1] }, /threadId/],
      // Seeks.
      ['rewind/seek', {}, /exactly one/],
      ['rewind/seek', { icount: -5 }, /icount/],
      ['rewind/seek', { icount: 'abc' }, /icount/],
      ['rewind/seek', { icount: 1.5 }, /icount/],
      ['rewind/seek', { icount: 1, percent: 2 }, /exactly one/],
      ['rewind/seek', { percent: 500 }, /percent/],
      ['rewind/seek', { percent: '50' }, /percent/],
      ['rewind/seek', { eventIndex: -1 }, /eventIndex/],
      ['rewind/seek', { eventIndex: 1e12 }, /event/],
      // Queries.
      ['rewind/lastWrite', {}, /expression|address/],
      ['rewind/lastWrite', { expression: 5 }, /expression/],
      ['rewind/lastWrite', { address: 'zzz', size: 4 }, /address/],
      ['rewind/lastWrite', { address: '0x100000', size: 0 }, /size/],
      ['rewind/lastWrite', { address: '0x100000', size: 1e9 }, /size/],
      ['rewind/lastWrite', { expression: 'ticks', frameId: 31337 }, /frameId/],
      ['rewind/hits', {}, /source|function|address/],
      ['rewind/hits', { function: 'no_such_function' }],
      ['rewind/hits', { address: 'nope' }, /address/],
      ['rewind/hits', { source: { path: '/nonexistent/file.c' }, line: 3 }],
      ['rewind/events', { limit: 'ten' }],
      ['rewind/events', { kinds: 'interrupt' }],
      ['rewind/events', { from: 'start' }],
      // Memory and disassembly.
      ['readMemory', { memoryReference: 'banana', count: 4 }, /address/],
      ['readMemory', { memoryReference: 5, count: 4 }, /address/],
      ['readMemory', { memoryReference: '0x100000', count: 1e12 }, /at most/],
      ['readMemory', { memoryReference: '0x100000', count: -1 }, /at most|count/],
      ['readMemory', { memoryReference: '0x100000', count: 'ten' }, /count/],
      ['readMemory', { memoryReference: '0x100000' }, /count/],
      ['readMemory', { memoryReference: '0x100000', count: 4, offset: 'x' }, /offset/],
      ['disassemble', { memoryReference: rip, instructionCount: 1e9 }, /at most/],
      ['disassemble', { memoryReference: 'here', instructionCount: 5 }, /address/],
      ['disassemble', { memoryReference: rip }, /instructionCount/],
      ['disassemble', { memoryReference: rip, instructionCount: 5, instructionOffset: -1e9 }, /instructionOffset/],
      ['disassemble', { memoryReference: rip, instructionCount: 5, instructionOffset: 1e9 }, /instructionOffset/],
      ['disassemble', { memoryReference: rip, instructionCount: 5, offset: 'x' }, /offset/],
      // Breakpoints.
      ['setBreakpoints', {}, /source/],
      ['setBreakpoints', { source: {} }, /source/],
      ['setBreakpoints', { source: { path: CONFIG_C }, breakpoints: 'line 30' }, /breakpoints/],
      ['setBreakpoints', { source: { path: CONFIG_C }, breakpoints: [null] }, /breakpoint/],
      ['setFunctionBreakpoints', { breakpoints: 'panic' }, /breakpoints/],
      ['setFunctionBreakpoints', { breakpoints: [null] }, /breakpoint/],
      ['setInstructionBreakpoints', {}, /breakpoints/],
      ['setDataBreakpoints', { breakpoints: null }, /breakpoints/],
      // Unknown commands, including names that exist on every JavaScript object.
      ['fooBar', {}, /does not support/],
      ['rewind/nope', {}, /does not support/],
      ['toString', {}, /does not support/],
      ['valueOf', {}, /does not support/],
      ['constructor', {}, /does not support/],
      ['hasOwnProperty', {}, /does not support/],
      ['__proto__', {}, /does not support/],
      ['isPrototypeOf', {}, /does not support/],
      ['', {}, /does not support/],
      [42, {}, /does not support/],
      [null, {}, /does not support/],
      // Arguments that are not objects.
      ['stackTrace', [1, 2], /must be an object/],
      ['continue', 'thread 1', /must be an object/],
      ['evaluate', 42, /must be an object/],
      ['rewind/seek', [5], /must be an object/],
      ['stackTrace', NULL_ARGS, /threadId/],
      ['continue', NULL_ARGS, /threadId/],
      ['rewind/seek', NULL_ARGS, /exactly one/],
      ['readMemory', NULL_ARGS],
      ['disassemble', NO_ARGS],
      // Writes are history.
      ['setVariable', { variablesReference: 1, name: 'x', value: '1' }, /history/],
      ['writeMemory', { memoryReference: rip, data: 'AAAA' }, /history/],
    ];
    const failures: string[] = [];
    for (const [command, args, message] of mustFail) {
      const r = await p.raw(command, args);
      const what = `${String(command)} ${args === NO_ARGS ? '(no arguments)' : args === NULL_ARGS ? 'null' : JSON.stringify(args)}`;
      try {
        assertError(r, what, message);
      } catch (e) {
        failures.push((e as Error).message.split('\n')[0]!);
      }
    }
    assert.deepEqual(failures, []);
    // Requests that may succeed or fail, as long as they are answered and nothing breaks.
    const answered: Array<[string, Args]> = [
      ['dataBreakpointInfo', { name: 'no_such_variable' }],
      ['setDataBreakpoints', { breakpoints: [{ dataId: 'garbage' }] }],
      ['setDataBreakpoints', { breakpoints: [{ dataId: '{"address":"0x1; shell echo hi","size":4,"expression":"x"}' }] }],
      ['setInstructionBreakpoints', { breakpoints: [{ instructionReference: 'bogus' }] }],
      ['setFunctionBreakpoints', { breakpoints: [{ name: 42 }, { name: 'no_such_function' }] }],
      ['setBreakpoints', { source: { path: CONFIG_C }, breakpoints: [{ line: -3 }, { line: 'x' }, { line: 1e9 }] }],
      ['readMemory', { memoryReference: '0xffffffffffffff00', count: 4096 }],
      ['readMemory', { memoryReference: '0x100000', count: 1 << 20 }],
      ['disassemble', { memoryReference: '0xfffffffffffffff0', instructionCount: 50 }],
      ['disassemble', { memoryReference: rip, instructionCount: 10_000 }],
      ['disassemble', { memoryReference: rip, instructionCount: -5 }],
      ['stackTrace', { threadId: 1, startFrame: 1e6, levels: 5 }],
      ['stackTrace', { threadId: 1, levels: -1 }],
      ['variables', { variablesReference: 1, start: -5, count: 'all' }],
      ['evaluate', { expression: '-exec info registers rip', context: 'repl' }],
      ['evaluate', { expression: '-exec monitor icount', context: 'repl' }],
      ['evaluate', { expression: '-exec', context: 'repl' }],
      ['source', { source: { path: '/nonexistent.c' } }],
      ['source', {}],
      ['threads', [1]],
      ['pause', { threadId: 1 }],
      ['cancel', { requestId: 'x' }],
      ['cancel', {}],
      ['setExceptionBreakpoints', { filters: 'panic' }],
      ['setExceptionBreakpoints', { filters: ['panic', 7, 'nonsense'] }],
      ['initialize', { adapterID: 'rewind', linesStartAt1: true, pathFormat: 'path' }],
    ];
    for (const [command, args] of answered) {
      const r = await p.raw(command, args);
      if (!r.success) assert.doesNotMatch(r.message ?? '', /internal error/i, `${command} ${JSON.stringify(args)}: ${r.message}`);
    }
    // Every request got exactly one response, the adapter is alive and still where it was.
    assert.ok([...p.responses.values()].every((n) => n === 1), 'exactly one response per request');
    assert.equal(p.proc.exitCode, null, 'the adapter is alive');
    assert.equal((await p.c.position()).icount, at.position.icount);
    const again = await p.c.stack();
    assert.equal(again[0]!.instructionPointerReference, stack[0]!.instructionPointerReference);
    assert.equal(again[0]!.name, 'config_set_name');
    // And it still moves and inspects correctly.
    const back = await p.c.run(() => p.c.dc.stepBackRequest({ threadId: 1, granularity: 'instruction' }));
    assert.equal(back.position.icount, at.position.icount - 1);
    await close(p);
  }));

  it('survives a seeded storm of requests sent without waiting: one response each, correct afterwards', async () => {
    const seed = process.env.REWIND_ROBUSTNESS_SEED !== undefined ? Number(process.env.REWIND_ROBUSTNESS_SEED) : Math.floor(Math.random() * 2 ** 31);
    const total = Number(process.env.REWIND_ROBUSTNESS_REQUESTS ?? 3000);
    console.log(`# storm seed ${seed} (set REWIND_ROBUSTNESS_SEED to repeat it), ${total} requests`);
    const rand = prng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const started = Date.now();
    await withProbe(async (p) => {
    const first = await open(p, { recording: quick, stopOnEntry: true });
    const end = first.end;
    // Breakpoints that keep continues short (serial_putc runs often) and a known time point to check with.
    await p.c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }] });
    const named = (await p.c.custom('rewind/hits', { function: 'config_set_name' })).hits;
    assert.equal(named.length, 1, 'config_set_name runs once in this recording');
    const copyLine = lineOf('config.c', 'cfg.machine_name[i] = name[i];');
    let seqs: number[] = [];
    const recentSeq = () => (seqs.length ? pick(seqs.slice(-50)) : 1);

    const valid = (): [string, Args] => {
      const r = rand();
      if (r < 0.1) {
        // Executions: short moves.
        return pick<() => [string, Args]>([
          () => ['stepIn', { threadId: 1, granularity: 'instruction' }],
          () => ['stepBack', { threadId: 1, granularity: 'instruction' }],
          () => ['next', { threadId: 1 }],
          () => ['stepBack', { threadId: 1 }],
          () => ['rewind/seek', { icount: int(end) }],
          () => ['continue', { threadId: 1 }],
          () => ['reverseContinue', { threadId: 1 }],
          () => ['rewind/reverseStepOut', { threadId: 1 }],
          () => ['pause', { threadId: 1 }],
          () => ['evaluate', { expression: '-exec stepi', context: 'repl' }],
        ])();
      }
      return pick<() => [string, Args]>([
        () => ['threads', {}],
        () => ['stackTrace', { threadId: 1, startFrame: int(3), levels: int(30) }],
        () => ['scopes', { frameId: 1 + int(20) }],
        () => ['variables', { variablesReference: 1 + int(40) }],
        () => ['evaluate', { expression: pick(['ticks', 'cfg', 'cfg.heartbeat_interval', '$rip', '$sp', 'i', 'len', 'name[0]', '1+2', 'sizeof(cfg)']), context: pick(['watch', 'hover', 'repl']), ...(rand() < 0.5 ? { frameId: 1 + int(10) } : {}) }],
        () => ['evaluate', { expression: pick(['-exec info registers rip', '-exec x/4gx $sp', '-exec monitor icount', '-exec bt 3', '-exec info breakpoints']), context: 'repl' }],
        () => ['rewind/position', {}],
        () => ['rewind/events', { from: int(end), limit: 1 + int(20) }],
        () => ['rewind/snapshots', {}],
        () => ['readMemory', { memoryReference: `0x${(0x100000 + int(0x10000)).toString(16)}`, count: int(512), ...(rand() < 0.3 ? { offset: int(64) - 32 } : {}) }],
        () => ['disassemble', { memoryReference: `0x${(0x100000 + int(0x1000)).toString(16)}`, instructionCount: 1 + int(30), instructionOffset: int(20) - 10 }],
        () => ['source', { source: { path: CONFIG_C } }],
        () => ['loadedSources', {}],
        () => ['dataBreakpointInfo', { name: pick(['ticks', 'cfg.heartbeats', 'i', '$rax']), ...(rand() < 0.5 ? { frameId: 1 + int(10) } : {}) }],
        () => ['setBreakpoints', { source: { path: CONFIG_C }, breakpoints: rand() < 0.5 ? [] : [{ line: copyLine, ...(rand() < 0.5 ? { condition: 'i == 3' } : {}) }] }],
        () => ['setExceptionBreakpoints', { filters: ['panic'] }],
        () => ['cancel', { requestId: recentSeq() }],
        () => ['rewind/lastWrite', { address: '0x100000', size: 4 }],
      ])();
    };
    const garbage = (): [unknown, Args] =>
      pick<() => [unknown, Args]>([
        () => [pick(['stackTrace', 'scopes', 'variables', 'evaluate', 'continue', 'stepBack', 'rewind/seek', 'readMemory', 'disassemble', 'setBreakpoints']), pick<Args>([[], [1, 2], 'text', 42, true, NULL_ARGS, NO_ARGS, {}])],
        () => [pick(['toString', 'valueOf', 'constructor', '__proto__', 'hasOwnProperty', 'nope', 'rewind/nope', '', 'launch', 'attach']), {}],
        () => ['stackTrace', { threadId: pick([0, 2, -1, 'x', null, 1e9, [1]]) }],
        () => ['variables', { variablesReference: pick([0, -1, 1e12, 'x', null, {}]) }],
        () => ['scopes', { frameId: pick([0, 1e9, 'x', null]) }],
        () => ['rewind/seek', pick<Args>([{ icount: -1 }, { icount: 'x' }, { percent: 101 }, { eventIndex: -2 }, { icount: 1, eventIndex: 1 }, {}])],
        () => ['readMemory', { memoryReference: pick(['x', '', '0x', '-1', '0x100000']), count: pick([1e9, -5, 'x', null, 8]) }],
        () => ['disassemble', { memoryReference: pick(['x', '0x100000']), instructionCount: pick([1e7, 'x', null]), instructionOffset: pick([-1e8, 1e8, 'x', 0]) }],
        () => ['evaluate', { expression: pick([null, 5, '', '(((', '-exec set var ticks = 1', '-exec call panic("x")', 'ticks = 5']), context: 'repl' }],
        () => [pick(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'rewind/reverseStepIn']), { threadId: pick([0, 7, 'one', null]) }],
        () => [pick(['setVariable', 'setExpression', 'writeMemory', 'goto', 'restartFrame', 'gotoTargets']), {}],
      ])();

    // Replay processes stopped or killed at random moments, about every 2 s (its own seeded sequence).
    const chaos = new Chaos(p.proc.pid!, prng(seed ^ 0x5eed), quick);
    chaos.start(2000);
    const lost: string[] = [];
    let sent = 0;
    // The storm lasts at least `total` requests and goes on until the chaos has struck MIN_STRIKES
    // times: how many strikes fit in `total` requests depends on the machine's speed, and a storm with
    // few strikes proves little. Bounded (5 minutes), so that a chaos that cannot strike fails below
    // rather than hangs.
    const MIN_STRIKES = 20;
    const stormStarted = Date.now();
    // A failed batch must stop the chaos too: its timer would keep this file's process alive.
    try {
      while (sent < total || (chaos.strikes.length < MIN_STRIKES && Date.now() - stormStarted < 300_000)) {
        const batch = sent < total ? Math.min(total - sent, 100 + int(300)) : 100 + int(300);
        const pending: Array<Promise<DebugProtocol.Response>> = [];
        // This batch's requests by seq (the probe numbers its raw requests from 1,000,000).
        const asked = new Map<number, string>();
        for (let i = 0; i < batch; i++) {
          const isValid = rand() >= 0.3;
          const [command, args] = isValid ? valid() : garbage();
          const seq = 1_000_000 + sent + i;
          asked.set(seq, `${String(command)} ${typeof args === 'symbol' ? String(args) : JSON.stringify(args)}`);
          const prom = p.raw(command, args);
          if (isValid) void prom.then((r) => !r.success && LOST_PROCESS.test(r.message ?? '') && lost.push(`${String(command)} ${JSON.stringify(args)}: ${r.message}`));
          pending.push(prom);
          seqs.push(seq);
        }
        sent += batch;
        let timer: NodeJS.Timeout | undefined;
        const all = await Promise.race([
          Promise.all(pending),
          // An adapter that died answers nothing more: say so now, with its last words.
          p.exited!.then((e) => Promise.reject(new Error(`seed ${seed}: the adapter exited (${JSON.stringify(e)}) with ${pending.length} requests of the batch sent; its stderr: ${p.stderr.slice(-3000)}`))),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`seed ${seed}: ${pending.length} requests not all answered within 180 s (sent ${sent}); unanswered: ${[...asked].filter(([q]) => p.responses.get(q) === 0).map(([q, what]) => `#${q} ${what}`).join('; ')}; strikes: ${JSON.stringify(chaos.strikes)}; adapter stderr: ${p.stderr.slice(-2000)}`)), 180_000))),
        ]).finally(() => clearTimeout(timer));
        for (const r of all) if (!r.success) assert.doesNotMatch(r.message ?? '', /internal error/i, `seed ${seed}: ${r.command}: ${r.message}`);
        assert.equal(p.proc.exitCode, null, `seed ${seed}: the adapter died (${p.stderr})`);
        seqs = seqs.slice(-200);
      }
    } finally {
      await chaos.stop();
    }
    // Late duplicates would arrive now.
    await new Promise((r) => setTimeout(r, 1000));
    const stops = chaos.strikes.filter((x) => x.kind === 'stop');
    const noticed = stops.map((x) => x.noticedMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    console.log(
      `# chaos: ${chaos.strikes.length} replay processes struck (${stops.length} SIGSTOP, ${chaos.strikes.length - stops.length} SIGKILL); ` +
        `stopped ones noticed and killed after ${noticed.map((x) => (x / 1000).toFixed(2)).join(', ')} s (median ${((noticed[noticed.length >> 1] ?? 0) / 1000).toFixed(2)} s, max ${((noticed[noticed.length - 1] ?? 0) / 1000).toFixed(2)} s)`,
    );
    assert.ok(chaos.strikes.length >= MIN_STRIKES, `seed ${seed}: only ${chaos.strikes.length} strikes in ${sent} requests`);
    assert.equal(noticed.length, stops.length, `seed ${seed}: a stopped replay process was never noticed`);
    assert.deepEqual(lost, [], `seed ${seed}: valid requests failed because a replay process was lost`);
    const counts = [...p.responses.values()];
    assert.equal(counts.length, sent);
    assert.deepEqual(counts.filter((n) => n !== 1), [], `seed ${seed}: every request gets exactly one response`);
    // Alive and correct: the position matches the last positionChanged event, a seek lands, the stack is right.
    const pos = await p.c.position();
    const changed = p.c.events.filter((e) => e.event === 'rewind/positionChanged').pop() as DebugProtocol.Event | undefined;
    if (changed) assert.equal(pos.icount, (changed.body as RewindPosition).icount, `seed ${seed}: position vs the last positionChanged event`);
    assert.ok((await p.c.stack()).length >= 1);
    await p.c.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    await p.c.dc.setBreakpointsRequest({ source: { path: CONFIG_C }, breakpoints: [] });
    const seek = await p.c.run(() => p.c.custom('rewind/seek', { icount: named[0]!.icount }));
    assert.equal(seek.position.icount, named[0]!.icount);
    assert.match(seek.frames[0]!, /^config_set_name config\.c:\d+$/, `seed ${seed}: ${seek.frames.join(' | ')}`);
    const regs = await p.c.scope('Registers');
    assert.equal(BigInt(regs.get('rip')!.value.split(' ')[0]!), BigInt(named[0]!.address));
    console.log(`# storm: ${sent} requests in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await close(p);
    });
  });

  it('disconnect during a long reverse continue: the adapter exits and leaves nothing', () => withProbe(async (p) => {
    const first = await open(p, { recording: quick, startAt: 'end' });
    await endlessBreakpoint(p);
    const stops = p.c.events.filter((e) => e.event === 'stopped').length;
    const rc = await p.raw('reverseContinue', { threadId: 1 });
    assert.equal(rc.success, true, rc.message);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(p.c.events.filter((e) => e.event === 'stopped').length, stops, 'the reverse continue still runs');
    const t0 = Date.now();
    const d = await p.raw('disconnect', { terminateDebuggee: true });
    assert.equal(d.success, true, d.message);
    const exit = await Promise.race([p.exited!, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000))]);
    assert.notEqual(exit, 'running', 'the adapter exits after disconnect');
    await assertNothingLeft(dir, [p]);
    console.log(`# disconnect during a reverse continue: the adapter was gone after ${Date.now() - t0} ms`);
    assert.ok(first.icount > 0);
    assert.equal(p.stderr.trim(), '');
  }));

  it('disconnect while a continue runs: the adapter exits and leaves nothing', () => withProbe(async (p) => {
    await open(p, { recording: quick, stopOnEntry: true });
    await endlessBreakpoint(p);
    const cont = await p.raw('continue', { threadId: 1 });
    assert.equal(cont.success, true, cont.message);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(p.c.events.filter((e) => e.event === 'stopped').length, 1, 'the continue still runs');
    const t0 = Date.now();
    const d = await p.raw('disconnect', {});
    assert.equal(d.success, true, d.message);
    const exit = await Promise.race([p.exited!, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000))]);
    assert.notEqual(exit, 'running', 'the adapter exits after disconnect');
    await assertNothingLeft(dir, [p]);
    console.log(`# disconnect during a continue: the adapter was gone after ${Date.now() - t0} ms`);
    assert.equal(p.stderr.trim(), '');
  }));

  it('SIGKILL of the adapter: gdb and QEMU exit by themselves', () => withProbe(async (p) => {
    await open(p, { recording: quick, stopOnEntry: true });
    await endlessBreakpoint(p);
    const qemu = adapterProcessesOf(quick).filter((x) => x.includes('qemu-system'));
    assert.ok(qemu.length > 0 && p.gdbPids.size === 1, `a replay process and gdb run: ${qemu.join('; ')}`);
    assert.equal((await p.raw('continue', { threadId: 1 })).success, true);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    p.proc.kill('SIGKILL');
    const exit = await p.exited!;
    assert.equal(exit.signal, 'SIGKILL');
    await assertNothingLeft(dir, [p], 10_000);
    console.log(`# SIGKILL: gdb and QEMU were gone after ${Date.now() - t0} ms`);
  }));
});
