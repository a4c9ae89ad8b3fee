/**
 * The debug adapter over DAP, against the real engine (QEMU replay processes), real gdb, and real
 * recordings of the demo guest: the two bugs found the way a user finds them, stepping both ways,
 * breakpoints in reverse, seek, last write, hits, the ends of the recording, and refusals.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startBridge, type RunningBridge } from '../recorder-bridge/src/bridge';
import { RewindDapClient, type Stop } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';
import { DEMO_INPUTS, DEMO_KERNEL, fingerprint, recordLongComputation, requireDemoKernel, ROOT, runRewind, tempDir } from './helpers';

const DEMO_SRC = join(ROOT, 'guests', 'demo');

/** The line of a source file that contains `text` (1-based), so tests do not hard-code line numbers. */
function lineOf(file: string, text: string): number {
  const lines = readFileSync(join(DEMO_SRC, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} not found in ${file}`);
  return i + 1;
}

async function recordDemo(dir: string, input: string, name: string, extra: string[] = []): Promise<string> {
  const bundle = join(dir, name);
  // At --snapshot-every 2M a recording verifies up to 128 snapshots: minutes on a loaded 2-core machine.
  const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, input), '--out', bundle, '--quiet', '--snapshot-every', '2M', ...extra], { timeoutMs: 600_000 });
  assert.equal(r.code, 0, r.stderr);
  return bundle;
}

/**
 * The DAP traffic of the last move: a custom request that moves time answers with `continued`
 * just before its response (DAP clients learn of the move only so); a standard move implies it.
 * Either way the stop ends it, and no `invalidated` follows (clients refresh on `stopped`).
 */
function assertMoveTraffic(c: RewindDapClient, what: string, custom: boolean): void {
  const t = c.lastTraffic;
  const names = t.slice(0, t.indexOf('stopped') + 1).filter((n) => n === 'continued' || n === 'response' || n === 'stopped');
  assert.deepEqual(names, custom ? ['continued', 'response', 'stopped'] : ['response', 'stopped'], `${what}: ${t.join(', ')}`);
  assert.ok(!t.includes('invalidated'), `${what}: no invalidated: ${t.join(', ')}`);
}

describe('debug adapter (DAP) on the real engine', { timeout: 900_000 }, () => {
  const dir = tempDir(after, 'rewind-dap-test-');
  let overflow: string;
  let race: string;
  const clients: RewindDapClient[] = [];

  before(async () => {
    requireDemoKernel();
    overflow = await recordDemo(dir, 'overflow.txt', 'overflow.rewind');
    race = await recordDemo(dir, 'race.txt', 'race.rewind');
  });

  after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    await assertNoLeftovers(dir);
  });

  async function open(recording: string, extra: Record<string, unknown> = {}, setup?: (c: RewindDapClient) => Promise<void>, init: Partial<DebugProtocol.InitializeRequestArguments> = {}): Promise<{ c: RewindDapClient; first: Stop }> {
    const c = new RewindDapClient();
    clients.push(c);
    await c.start(init);
    const first = await c.launch({ recording, ...extra }, setup ? () => setup(c) : undefined);
    return { c, first };
  }

  async function close(c: RewindDapClient): Promise<void> {
    await c.stop();
    clients.splice(clients.indexOf(c), 1);
  }

  it('finds bug (a): panic, data breakpoint on the corrupted field, reverse continue, the guilty code', async () => {
    const { c, first } = await open(overflow);
    // The "Kernel panic" exception filter is on by default: the run stops in panic().
    assert.equal(first.reason, 'exception');
    assert.match(first.frames[0]!, /^panic panic\.c:\d+$/);
    assert.match(first.frames[1]!, /^heartbeat_poll config\.c:\d+$/);
    // Its message: what the guest printed next, from the recording's console.
    const printed = /^PANIC: (.+)$/m.exec(readFileSync(join(overflow, 'console.txt'), 'latin1'))![1]!.trim();
    const panicInfo = (await c.dc.send('exceptionInfo', { threadId: 1 })).body as DebugProtocol.ExceptionInfoResponse['body'];
    assert.deepEqual(panicInfo, { exceptionId: 'panic', description: printed, breakMode: 'always', details: { typeName: 'Kernel panic', message: printed } });
    assert.equal(Number(await c.evaluate('cfg.heartbeat_interval')), 0x32342d6b);
    // Hex on request (DAP value format), and a char array as its text, as gdb's print shows them.
    const top = (await c.stack())[0]!;
    const hex = await c.dc.evaluateRequest({ expression: 'cfg.heartbeat_interval', frameId: top.id, context: 'watch', format: { hex: true } });
    assert.equal(hex.body.result, '0x32342d6b');
    const name = await c.evaluate('cfg.machine_name');
    assert.match(name, /^"[ -~]{16}"/, 'the text of the 16-byte name, not "[16]"');
    const cfg = await c.dc.evaluateRequest({ expression: 'cfg', frameId: top.id, context: 'watch' });
    const fields = async (hexToo: boolean) => new Map((await c.dc.variablesRequest({ variablesReference: cfg.body.variablesReference, ...(hexToo ? { format: { hex: true } } : {}) })).body.variables.map((v) => [v.name, v.value]));
    const plain = await fields(false);
    assert.equal(plain.get('heartbeat_interval'), String(0x32342d6b));
    assert.equal(plain.get('machine_name'), name);
    const inHex = await fields(true);
    assert.equal(inHex.get('heartbeat_interval'), '0x32342d6b');
    assert.equal(inHex.get('machine_name'), name, 'text stays text in hex');

    const frame = (await c.stack())[0]!;
    const info = (await c.dc.dataBreakpointInfoRequest({ name: 'cfg.heartbeat_interval', frameId: frame.id })).body;
    assert.ok(info.dataId, info.description);
    assert.deepEqual(info.accessTypes, ['write', 'read', 'readWrite']);
    const set = (await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId!, accessType: 'write' }] })).body.breakpoints;
    assert.equal(set[0]!.verified, true, set[0]!.message);

    const stop = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assert.equal(stop.reason, 'data breakpoint');
    // The store of the 20th character (i = 19): the last byte of the interval, at config.c's copy loop.
    assert.equal(stop.frames[0], `config_set_name config.c:${lineOf('config.c', 'cfg.machine_name[i] = name[i];')}`);
    assert.match(stop.frames[1]!, /^cmd_name shell\.c:\d+$/);
    assert.equal(await c.evaluate('i'), '19');
    assert.equal(await c.evaluate('len'), '30');
    // Still the value before the write: 'k-4' in the low three bytes.
    assert.equal(Number(await c.evaluate('cfg.heartbeat_interval')), 0x00342d6b);
    assert.ok(stop.position.icount < first.position.icount);
    await close(c);
  });

  it('a data breakpoint by address and size (a Memory view selection) finds the same write', async () => {
    const { c, first } = await open(overflow);
    const address = /0x[0-9a-f]+/.exec(await c.evaluate('&cfg.heartbeat_interval'))![0];
    const info = (await c.dc.dataBreakpointInfoRequest({ name: address, asAddress: true, bytes: 4 })).body;
    assert.ok(info.dataId, info.description);
    assert.equal(info.description, `4 bytes at ${address}`);
    const bad = (await c.dc.dataBreakpointInfoRequest({ name: 'cfg', asAddress: true })).body;
    assert.equal(bad.dataId, null);
    assert.match(bad.description, /is not an address/);
    const set = (await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId!, accessType: 'write' }] })).body.breakpoints;
    assert.equal(set[0]!.verified, true, set[0]!.message);
    const stop = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assert.equal(stop.reason, 'data breakpoint');
    assert.equal(stop.frames[0], `config_set_name config.c:${lineOf('config.c', 'cfg.machine_name[i] = name[i];')}`);
    assert.equal(await c.evaluate('i'), '19');
    assert.ok(stop.position.icount < first.position.icount);
    await close(c);
  });

  it('finds bug (b): the lost tick is the ISR increment that work_unit overwrote', async () => {
    const { c, first } = await open(race);
    assert.equal(first.reason, 'exception');
    assert.match(first.frames[1]!, /^check_tick_invariant work\.c:\d+$/);
    const frame = (await c.stack())[0]!;
    const info = (await c.dc.dataBreakpointInfoRequest({ name: 'pending_ticks', frameId: frame.id })).body;
    await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId!, accessType: 'write' }] });

    const store = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assert.equal(store.reason, 'data breakpoint');
    assert.equal(store.frames[0], `work_unit work.c:${lineOf('work.c', 'pending_ticks = p - handled;                        /* write')}`);

    const tick = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assert.equal(tick.reason, 'data breakpoint');
    assert.equal(tick.frames[0], `work_timer_tick work.c:${lineOf('work.c', 'pending_ticks++;')}`);
    // The interrupt came inside the race window: crunch() called from work.c's window line.
    const window = lineOf('work.c', 'work_hash = crunch(work_hash, p, WORK_WINDOW_ITERS);');
    assert.ok(tick.frames.some((f) => /^crunch work\.c:\d+$/.test(f)), tick.frames.join('\n'));
    assert.ok(tick.frames.includes(`work_unit work.c:${window}`), tick.frames.join('\n'));
    await close(c);
  });

  it('steps forward and back at line and instruction level, to the same time points', async () => {
    const { c } = await open(overflow, {}, async (cl) => {
      await cl.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'config_set_name' }] });
    });
    const at: Array<{ icount: number; frame: string }> = [];
    const here = async () => ({ icount: (await c.position()).icount, frame: (await c.frames())[0]! });
    at.push(await here());
    for (let i = 0; i < 4; i++) {
      const s = await c.run(() => c.dc.nextRequest({ threadId: 1 }));
      assert.equal(s.reason, 'step');
      at.push(await here());
    }
    assert.ok(new Set(at.map((a) => a.frame)).size >= 3, `forward steps visited several lines: ${at.map((a) => a.frame).join(', ')}`);
    for (let i = at.length - 2; i >= 0; i--) {
      const s = await c.run(() => c.dc.stepBackRequest({ threadId: 1 }));
      assert.equal(s.reason, 'step');
      assert.deepEqual(await here(), at[i], `step back #${at.length - 1 - i}`);
    }
    // Instruction granularity: exactly one instruction each way.
    const start = (await c.position()).icount;
    for (let i = 1; i <= 3; i++) {
      await c.run(() => c.dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
      assert.equal((await c.position()).icount, start + i);
    }
    for (let i = 2; i >= 0; i--) {
      await c.run(() => c.dc.stepBackRequest({ threadId: 1, granularity: 'instruction' }));
      assert.equal((await c.position()).icount, start + i);
    }
    await close(c);
  });

  it('steps into and out of calls, forward and backward', async () => {
    const { c } = await open(overflow, {}, async (cl) => {
      await cl.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'cmd_name' }] });
    });
    const callLine = lineOf('shell.c', 'config_set_name(arg)');
    // Forward to the call line, into config_set_name, and out again.
    let s = await c.run(() => c.dc.nextRequest({ threadId: 1 }));
    while (!s.frames[0]!.endsWith(`shell.c:${callLine}`)) s = await c.run(() => c.dc.nextRequest({ threadId: 1 }));
    const beforeCall = (await c.position()).icount;
    s = await c.run(() => c.dc.stepInRequest({ threadId: 1 }));
    assert.match(s.frames[0]!, /^config_set_name config\.c:\d+$/);
    const inside = (await c.position()).icount;
    s = await c.run(() => c.dc.stepOutRequest({ threadId: 1 }));
    assert.match(s.frames[0]!, /^cmd_name shell\.c:\d+$/);
    // Back into the callee: reverse step-in enters config_set_name at its last line.
    s = await c.run(() => c.custom('rewind/reverseStepIn', { threadId: 1 }));
    assertMoveTraffic(c, 'rewind/reverseStepIn', true);
    assert.match(s.frames[0]!, /^config_set_name config\.c:\d+$/);
    // Reverse step-out: to the call instruction in cmd_name, before config_set_name ran.
    s = await c.run(() => c.custom('rewind/reverseStepOut', { threadId: 1 }));
    assertMoveTraffic(c, 'rewind/reverseStepOut', true);
    assert.equal(s.frames[0], `cmd_name shell.c:${callLine}`);
    const callInsn = (await c.position()).icount;
    assert.ok(callInsn >= beforeCall && callInsn < inside, `${beforeCall} <= ${callInsn} < ${inside}`);
    // Step back over the whole call from just after it: lands on the call line's start.
    await c.run(() => c.dc.send('rewind/seek', { icount: inside }));
    await c.run(() => c.dc.stepOutRequest({ threadId: 1 }));
    s = await c.run(() => c.dc.stepBackRequest({ threadId: 1 }));
    assertMoveTraffic(c, 'stepBack', false);
    assert.equal(s.frames[0], `cmd_name shell.c:${callLine}`);
    assert.equal((await c.position()).icount, beforeCall);
    await close(c);
  });

  it('speaks to a client that counts lines from 0 in its numbering, both ways', async () => {
    const line = lineOf('config.c', 'cfg.machine_name[i] = name[i];');
    const path = join(DEMO_SRC, 'config.c');
    const { c } = await open(overflow, {}, async (cl) => {
      const bps = (await cl.dc.setBreakpointsRequest({ source: { path }, breakpoints: [{ line: line - 1 }] })).body.breakpoints;
      assert.equal(bps[0]!.verified, true, bps[0]!.message);
      assert.equal(bps[0]!.line, line - 1, 'the breakpoint answers in the client\'s numbering');
    }, { linesStartAt1: false });
    const stop = await c.stack();
    assert.equal(stop[0]!.name, 'config_set_name');
    assert.equal(stop[0]!.line, line - 1, 'the frame is on the copy line, counted from 0');
    assert.equal(await c.evaluate('i'), '0');
    const hits = await c.custom('rewind/hits', { source: { path }, line: line - 1 });
    assert.equal(hits.hits.length, 30);
    await close(c);
  });

  it('hits breakpoints in reverse, in the order of the recorded hits', async () => {
    const line = lineOf('config.c', 'cfg.machine_name[i] = name[i];');
    const { c, first } = await open(overflow);
    const path = join(DEMO_SRC, 'config.c');
    const hits = await c.custom('rewind/hits', { source: { path }, line });
    assert.equal(hits.hits.length, 30, 'one hit per character of the 30-character name');
    assert.ok(hits.hits.every((h, i) => i === 0 || h.icount > hits.hits[i - 1]!.icount));
    const bps = (await c.dc.setBreakpointsRequest({ source: { path }, breakpoints: [{ line }] })).body.breakpoints;
    assert.equal(bps[0]!.verified, true);
    assert.equal(bps[0]!.line, line);
    assert.ok(first.position.icount > hits.hits[29]!.icount);
    // Backward from the panic: the 30th hit, then the 29th, 28th.
    for (const k of [29, 28, 27]) {
      const s = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
      assert.equal(s.reason, 'breakpoint');
      assert.equal(s.position.icount, hits.hits[k]!.icount);
      assert.equal(await c.evaluate('i'), String(k));
    }
    // And forward again: the 29th hit.
    const s = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    assert.equal(s.position.icount, hits.hits[28]!.icount);
    // A condition and a hit condition, in reverse: the last hit with i % 10 == 0 is i = 20.
    await c.dc.setBreakpointsRequest({ source: { path }, breakpoints: [{ line, condition: 'i % 10 == 0' }] });
    const cond = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assert.equal(await c.evaluate('i'), '20', cond.frames.join(','));
    // A logpoint logs each hit it passes and does not stop.
    await c.dc.setBreakpointsRequest({ source: { path }, breakpoints: [{ line, logMessage: 'copy i={i}' }] });
    const logged = c.output.length;
    await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    const lines = c.output.slice(logged).join('').match(/copy i=\d+/g) ?? [];
    assert.deepEqual(lines, Array.from({ length: 9 }, (_, k) => `copy i=${21 + k}`));
    await close(c);
  });

  it('seeks, reports the position and refreshes the views; the ends of the recording are stops', async () => {
    const { c, first } = await open(overflow, { stopOnEntry: true });
    assert.equal(first.reason, 'entry');
    assert.equal(first.position.icount, 0);
    assert.equal(first.position.atStart, true);
    const target = 3_000_000;
    const seek = await c.run(() => c.custom('rewind/seek', { icount: target }));
    assert.equal(seek.reason, 'goto');
    assert.equal(seek.position.icount, target);
    // A custom request that moves time: continued (with the answer), then stopped; no invalidated.
    assertMoveTraffic(c, 'rewind/seek', true);
    const changed = c.events.filter((e) => e.event === 'rewind/positionChanged').pop() as DebugProtocol.Event;
    assert.equal(changed.body.icount, target);
    assert.ok(seek.position.nearestEvent, 'the position names the nearest event');
    // By percentage and by event.
    const half = await c.run(() => c.custom('rewind/seek', { percent: 50 }));
    assert.equal(half.position.icount, Math.round(first.position.end / 2));
    const ev = await c.custom('rewind/events', { kinds: ['serial-input'], limit: 5 });
    assert.ok(ev.events.length > 0);
    const atEvent = await c.run(() => c.custom('rewind/seek', { eventIndex: ev.events[0]!.index }));
    assert.equal(atEvent.position.icount, ev.events[0]!.icount);
    // The start: a step back from icount 0 is a stop that says so.
    await c.run(() => c.custom('rewind/seek', { icount: 0 }));
    const start = await c.run(() => c.dc.stepBackRequest({ threadId: 1 }));
    assert.equal(start.reason, 'start of recording');
    assert.match(start.description ?? '', /start of the recording/i);
    // The end: continue with no breakpoints (the panic filter off) runs to the end.
    await c.dc.setExceptionBreakpointsRequest({ filters: [] });
    const end = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    assert.equal(end.reason, 'end of recording');
    assert.equal(end.position.atEnd, true);
    assert.equal(c.events.filter((e) => e.event === 'exited' || e.event === 'terminated').length, 0, 'the end is not the guest exiting');
    // Reverse continue with nothing to hit goes back to the start.
    const back = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assertMoveTraffic(c, 'reverseContinue', false);
    assert.equal(back.reason, 'start of recording');
    assert.equal(back.position.icount, 0);
    await close(c);
  });

  it('finds the last write of a variable, and goes there', async () => {
    const { c, first } = await open(overflow);
    const frame = (await c.stack())[0]!;
    const probe = await c.custom('rewind/lastWrite', { expression: 'cfg.heartbeat_interval', frameId: frame.id });
    assert.equal(probe.found, true);
    assert.equal(probe.size, 4);
    assert.equal((await c.position()).icount, first.position.icount, 'without seek, the position stays');
    assert.equal(c.events.filter((e) => e.event === 'continued').length, 0, 'a query that does not move sends no continued');
    const moved = await c.run(() => c.custom('rewind/lastWrite', { expression: 'cfg.heartbeat_interval', frameId: frame.id, seek: true }));
    assertMoveTraffic(c, 'rewind/lastWrite with seek', true);
    assert.equal(moved.position.icount, probe.icount! - 1, 'lands on the writing instruction');
    assert.equal(moved.frames[0], `config_set_name config.c:${lineOf('config.c', 'cfg.machine_name[i] = name[i];')}`);
    assert.equal(await c.evaluate('i'), '19');
    await close(c);
  });

  it('shows registers with the control registers, memory, disassembly and sources', async () => {
    const { c } = await open(overflow);
    const regs = await c.scope('Registers');
    assert.match(regs.get('rip')!.value, /^0x[0-9a-f]+/);
    const control = regs.get('Control');
    assert.ok(control && control.variablesReference > 0, 'a Control group');
    const cr = new Map((await c.dc.variablesRequest({ variablesReference: control!.variablesReference })).body.variables.map((v) => [v.name, v.value]));
    assert.match(cr.get('cr0') ?? '', /^0x[0-9a-f]+ \[.*PG.*\]/);
    assert.match(cr.get('cr3') ?? '', /^0x[0-9a-f]+/);
    assert.match(cr.get('efer') ?? '', /LMA/);
    const threads = (await c.dc.threadsRequest()).body.threads;
    assert.deepEqual(threads.map((t) => t.name), ['vCPU 0 (running)']);
    const pc = regs.get('rip')!.value.split(' ')[0]!;
    const mem = (await c.dc.send('readMemory', { memoryReference: pc, count: 16 })).body as DebugProtocol.ReadMemoryResponse['body'];
    assert.equal(Buffer.from(mem!.data!, 'base64').length, 16);
    const dis = ((await c.dc.send('disassemble', { memoryReference: pc, instructionOffset: -2, instructionCount: 5 })).body as DebugProtocol.DisassembleResponse['body'])!.instructions;
    assert.equal(dis.length, 5);
    assert.equal(BigInt(dis[2]!.address), BigInt(pc));
    const sources = ((await c.dc.send('loadedSources', {})).body as DebugProtocol.LoadedSourcesResponse['body']).sources.map((s) => s.name);
    assert.ok(sources.includes('config.c') && sources.includes('work.c'), sources.join(','));
    const gdbOut = await c.dc.evaluateRequest({ expression: '-exec info registers cr3', context: 'repl' });
    assert.match(gdbOut.body.result, /cr3\s+0x/);
    const locals = await c.scope('Locals');
    assert.ok(locals.has('buf'));
    await close(c);
  });

  it('refuses requests that would change history, with a clear error', async () => {
    const { c } = await open(overflow);
    const frame = (await c.stack())[0]!;
    const scopes = (await c.dc.scopesRequest({ frameId: frame.id })).body.scopes;
    const refusals: Array<[string, Record<string, unknown>]> = [
      ['setVariable', { variablesReference: scopes[0]!.variablesReference, name: 'fmt', value: '0' }],
      ['setExpression', { expression: 'cfg.heartbeats', value: '1', frameId: frame.id }],
      ['writeMemory', { memoryReference: '0x102850', data: 'AAAA' }],
      ['goto', { threadId: 1, targetId: 1 }],
    ];
    for (const [command, args] of refusals) {
      await assert.rejects(c.dc.send(command, args), (e: Error) => /history/.test(e.message), command);
    }
    await assert.rejects(c.dc.evaluateRequest({ expression: '-exec set var cfg.heartbeats = 5', context: 'repl' }), /history/);
    await assert.rejects(c.dc.evaluateRequest({ expression: '-exec print cfg.heartbeats = 5', context: 'repl' }), /history|Cannot access memory|Could not write/i);
    assert.notEqual(await c.evaluate('cfg.heartbeats'), '5', 'the guest memory did not change');
    await close(c);
  });

  it('cancels a long reverse continue from its progress notification; pause interrupts a continue', async () => {
    // Without an index: with one, a reverse continue to code that never ran answers at once.
    // `spin 600` (5.4e9 instructions): seconds of replay forward and back on any machine (long.txt's
    // 6e8 replay in about 0.4 s once idle stretches replay at CPU speed, patches/qemu-next/0002).
    const long = await recordLongComputation(dir, 'spin600', 600);
    const { c, first } = await open(long, { stopOnEntry: true });
    assert.equal(first.position.icount, 0);
    // Forward through the long spin with nothing to stop at: pause stops it on the way.
    await c.dc.setExceptionBreakpointsRequest({ filters: [] });
    const stopped = c.dc.waitForEvent('stopped');
    await c.dc.continueRequest({ threadId: 1 });
    await new Promise((r) => setTimeout(r, 400));
    await c.dc.pauseRequest({ threadId: 1 });
    const paused = (await stopped) as DebugProtocol.StoppedEvent;
    assert.equal(paused.body.reason, 'pause');
    const here = (await c.position()).icount;
    assert.ok(here > 0 && here < first.position.end, `paused on the way: ${here}`);
    // Back from the end, to a breakpoint in code the recording never runs (the panic path): long.
    await c.run(() => c.custom('rewind/seek', { percent: 100 }));
    const end = (await c.position()).icount;
    await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'panic' }] });
    const progress = c.dc.waitForEvent('progressStart');
    const back = c.dc.waitForEvent('stopped');
    await c.dc.send('reverseContinue', { threadId: 1 });
    const p = (await progress) as DebugProtocol.ProgressStartEvent;
    assert.equal(p.body.cancellable, true);
    assert.match(p.body.title, /Reverse continue/);
    await c.dc.send('cancel', { progressId: p.body.progressId });
    const cancelled = (await back) as DebugProtocol.StoppedEvent;
    assert.equal(cancelled.body.reason, 'pause');
    assert.match(cancelled.body.description ?? '', /cancelled/i);
    assert.equal((await c.position()).icount, end, 'a cancelled reverse continue does not move');
    assert.ok(c.events.some((e) => e.event === 'progressEnd' && (e as DebugProtocol.ProgressEndEvent).body.progressId === p.body.progressId));
    await close(c);
  });

  it('attaches to a running bridge (Unix socket, and TCP with its token)', async () => {
    const bridges: RunningBridge[] = [];
    try {
      const unix = await startBridge({ root: dir, socket: join(dir, 'attach.sock'), log: join(dir, 'bridge.log') });
      bridges.push(unix);
      const c = new RewindDapClient();
      clients.push(c);
      await c.start();
      const stop = await c.launchOrAttach('attach', { bridge: `unix:${join(dir, 'attach.sock')}`, recording: 'overflow.rewind' });
      assert.equal(stop.reason, 'exception');
      assert.match(stop.frames[0]!, /^panic panic\.c:\d+$/);
      await close(c);

      const tcp = await startBridge({ root: dir, listen: '127.0.0.1:0', log: join(dir, 'bridge.log') });
      bridges.push(tcp);
      const address = 'port' in tcp.address ? `tcp:127.0.0.1:${tcp.address.port}` : '';
      const noToken = new RewindDapClient();
      clients.push(noToken);
      await noToken.start();
      await assert.rejects(noToken.dc.attachRequest({ bridge: address, recording: 'overflow.rewind' } as DebugProtocol.AttachRequestArguments), /token/);
      await close(noToken);
      const withToken = new RewindDapClient();
      clients.push(withToken);
      await withToken.start();
      const s2 = await withToken.launchOrAttach('attach', { bridge: address, token: tcp.token, recording: 'overflow.rewind', stopOnEntry: true });
      assert.equal(s2.reason, 'entry');
      const back = await withToken.run(() => withToken.custom('rewind/seek', { icount: 1000 }));
      assert.equal(back.position.icount, 1000);
      await close(withToken);
    } finally {
      for (const b of bridges) await b.close();
    }
  });

  it('runs the user\'s gdb set-up: "gdbInit" then "setupCommands", their output in the Debug Console; a command gdb refuses ends the launch saying which', async () => {
    const init = join(dir, 'my-gdbinit');
    writeFileSync(init, 'set $answer = 6 * 7\ndefine cfg-name\n  print cfg.machine_name\nend\n');
    const { c, first } = await open(overflow, { gdbInit: init, setupCommands: ['print $answer', 'info line config_set_name'] });
    assert.match(first.frames[0]!, /^panic panic\.c:\d+$/);
    const console = c.output.join('');
    assert.match(console, /\(gdb\) source .*my-gdbinit\n/);
    assert.match(console, /\(gdb\) print \$answer\n\$1 = 42\n/);
    assert.match(console, /\(gdb\) info line config_set_name\nLine \d+ of "[^"]*config\.c"/);
    // What the init file defined works in the REPL, at any time point.
    assert.equal(await c.evaluate('$answer'), '42');
    const name = (await c.dc.evaluateRequest({ expression: '-exec cfg-name', context: 'repl' })).body.result;
    assert.match(name, /= "[^"]*"/);
    await close(c);

    const refused = new RewindDapClient();
    clients.push(refused);
    await refused.start();
    await assert.rejects(refused.dc.launchRequest({ recording: overflow, setupCommands: ['print 1', 'no-such-gdb-command'] } as DebugProtocol.LaunchRequestArguments), /"setupCommands"\[1\]: gdb refused `no-such-gdb-command`: Undefined command: "no-such-gdb-command"/);
    await close(refused);
    await assert.rejects(open(overflow, { gdbInit: join(dir, 'missing-gdbinit') }), /"gdbInit": .*missing-gdbinit does not exist/);
  });

  // The demo's second half (scripts/demo.sh) is this story: it must work on every change, not
  // only when somebody runs the demo (it was broken for weeks by an event the adapter stopped sending).
  it("the demo's time-travel story (scripts/demo-story.ts) finds both bugs on these recordings, and leaves them as they were", async () => {
    const before = [await fingerprint(overflow), await fingerprint(race)];
    const story = join(ROOT, 'out', 'scripts', 'demo-story.js');
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      execFile(process.execPath, [story, '--overflow', overflow, '--race', race], { timeout: 600_000 }, (e, out, err) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, out, err }),
      );
    });
    assert.equal(r.code, 0, `the story failed:\n${r.err}\n${r.out.slice(-3000)}`);
    const text = r.out; // not a terminal: no colours
    // Bug (a): the panic, the overwritten field, the store found going back, and the 30 runs of the copy.
    assert.match(text, /cfg\.heartbeat_interval = 0x32342d6b/);
    assert.match(text, /config_set_name config\.c:\d+\s+cfg\.machine_name\[i\] = name\[i\];\s+i = 19, len = 30/);
    assert.match(text, /rewind\/hits config\.c:\d+: 30 runs/);
    // Bug (b): the stale store and the timer tick it overwrote.
    assert.match(text, /work_unit work\.c:\d+\s+pending_ticks = p - handled;/);
    assert.match(text, /#0 work_timer_tick\s+work\.c:\d+\s+pending_ticks\+\+;/);
    assert.match(text, /What time travel showed/);
    assert.deepEqual([await fingerprint(overflow), await fingerprint(race)], before, 'the story never changes a recording');
  });

  it('records first when the launch configuration says "record", with progress, without touching the bundle afterwards', async () => {
    const out = join(dir, 'recorded-by-launch.rewind');
    const c = new RewindDapClient();
    clients.push(c);
    await c.start();
    const stop = await c.launch({ record: { kernel: DEMO_KERNEL, input: join(DEMO_INPUTS, 'overflow.txt'), out, timeout: 60 } });
    assert.equal(stop.reason, 'exception');
    const started = c.events.find((e) => e.event === 'progressStart') as DebugProtocol.ProgressStartEvent | undefined;
    assert.match(started?.body.title ?? '', /Recording kernel\.elf/);
    assert.ok(c.events.some((e) => e.event === 'progressEnd'));
    const before = await fingerprint(out);
    await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    await c.run(() => c.dc.stepBackRequest({ threadId: 1 }));
    await c.custom('rewind/takeSnapshot', {});
    await close(c);
    assert.deepEqual(await fingerprint(out), before, 'debugging never changes a recording');
  });
});
