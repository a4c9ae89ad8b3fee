/**
 * Linux module symbols at every time point (issue 14), over DAP on the module fixture
 * (test/linux-module-fixture.ts: our module loaded, unloaded, another module loaded into its place,
 * ours loaded again elsewhere; KASLR on): before the first load and between the loads the module's
 * symbols are gone; in each load `modules` lists it at the address the guest printed, with the .ko
 * found in `moduleFolders` by its build-id, `module` events say what came and went, and a
 * breakpoint on the module's function stops at the out-of-bounds write of that load, with the
 * module's functions and source lines on the stack. A breakpoint on a module source line set
 * before the first load waits, pending, and stops in both loads (forward and back); at the
 * unload a reverse watchpoint on the bytes written past the buffer lands in the module's code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindEventsResponse } from '@rewind/protocol';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { linuxModuleFixtureOrSkip, MODULE_MARKER, MODULE_NAME } from './linux-module-fixture';
import { useLinuxSession } from './linux-session';
import type { RewindDapClient } from './support/dap-client';

/** The module's buffer is 20 bytes (rewind_demo.c DEMO_BUF_SIZE): the write of byte 20 is the first out of bounds. */
const FIRST_OUT_OF_BOUNDS = 20;

/** Time points from the console: the marker lines the workload printed. */
function useMarkers(session: ReturnType<typeof useModuleSession>): Record<'go' | 'unloaded', number> {
  const at: Record<'go' | 'unloaded', number> = { go: 0, unloaded: 0 };
  before(async () => {
    if (session.skip()) return;
    for (const line of await (await Bundle.open(session.fixture().bundle)).consoleLines()) {
      if (line.text === `${MODULE_MARKER}: got go`) at.go = line.icount ?? 0;
      if (line.text === `${MODULE_MARKER}: unloaded`) at.unloaded = line.icount ?? 0;
    }
  });
  return at;
}

const useModuleSession = () => useLinuxSession(linuxModuleFixtureOrSkip);

/** Whether an address (gdb's "0x... <sym>" or a number) lies in a load's .text. */
function inText(value: string, load: { sections: Record<string, string> }): boolean {
  const a = BigInt(/0x[0-9a-f]+/.exec(value)![0]);
  return a >= BigInt(load.sections['.text']!) && a < BigInt(load.sections['.data']!);
}

/** Requests the tests share: our module's loads, a seek that answers the module events it caused, an evaluation's error. */
function helpers(c: RewindDapClient) {
  const ours = async (): Promise<DebugProtocol.Module[]> => (await c.dc.send('modules', {})).body.modules.filter((m: DebugProtocol.Module) => m.name === MODULE_NAME);
  const moduleEvents = (from: number) => moduleEventsSince(c, from);
  const seek = async (icount: number) => {
    const from = c.received.length;
    await c.run(() => c.custom('rewind/seek', { icount }));
    return moduleEvents(from);
  };
  const evaluateFails = async (expression: string) => {
    const frame = (await c.stack())[0]!;
    return c.dc.evaluateRequest({ expression, frameId: frame.id, context: 'repl' }).then(
      (r) => `evaluated to ${r.body.result}`,
      (e: Error) => e.message,
    );
  };
  return { ours, seek, evaluateFails };
}

/** The `module` events received since message `from`: "new ID", "removed ID". */
function moduleEventsSince(c: RewindDapClient, from: number): string[] {
  return c.received
    .slice(from)
    .filter((m): m is DebugProtocol.ModuleEvent => m.type === 'event' && (m as DebugProtocol.Event).event === 'module')
    .map((e) => `${e.body.reason} ${e.body.module.id}`);
}

describe('Linux module symbols over time', { timeout: 1_200_000 }, () => {
  const session = useModuleSession();
  const c = session.c;
  const at = useMarkers(session);

  const { ours, seek, evaluateFails } = helpers(c);

  it('shows the module with its symbols while it is loaded, at each load\'s addresses, and not before or between', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const f = session.fixture();
    const [load1, load2] = f.module.loads;
    assert.ok(load1 && load2 && at.go > 0 && at.unloaded > load1.icount && at.unloaded < load2.icount, JSON.stringify({ at, loads: f.module.loads }));
    await c.launch({ recording: f.bundle, symbols: [f.vmlinux], moduleFolders: [dirname(f.module.ko)], startAt: at.go });

    // Before the first load: no module of ours, no symbol of it.
    assert.deepEqual(await ours(), []);
    assert.match(await evaluateFails('rewind_demo_fill'), /No symbol "rewind_demo_fill" in current context/);

    // Load 1: listed where the guest printed its .text, with the .ko found by its build-id.
    const came = await seek(load1.icount);
    const id1 = `${MODULE_NAME}@${load1.sections['.text']}`;
    assert.ok(came.includes(`new ${id1}`), came.join(', '));
    const [m1] = await ours();
    assert.equal(m1?.id, id1);
    assert.equal(m1?.path, f.module.ko);
    assert.equal(m1?.symbolStatus, 'Symbols loaded.');
    assert.equal(m1?.version, `build-id ${f.module.buildId}`);
    assert.equal(BigInt(/^0x[0-9a-f]+/.exec(String(m1?.addressRange))![0]), BigInt(load1.sections['.text']!), m1?.addressRange);
    const fill1 = BigInt(/0x[0-9a-f]+/.exec(await c.evaluate('&rewind_demo_fill'))![0]);
    assert.ok(fill1 >= BigInt(load1.sections['.text']!) && fill1 < BigInt(load1.sections['.data']!), `rewind_demo_fill at 0x${fill1.toString(16)} in load 1's .text`);
    assert.equal(Number(await c.evaluate('rewind_demo_fill_size')), 24, 'module data reads through its symbols');

    // The out-of-bounds write of load 1: the module's functions with their source lines.
    const bps = (await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'rewind_demo_fill', condition: `pos == ${FIRST_OUT_OF_BOUNDS}` }] })).body.breakpoints;
    assert.equal(bps[0]!.verified, true, bps[0]!.message);
    const hit1 = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    assert.equal(hit1.reason, 'function breakpoint', hit1.description);
    assert.match(hit1.frames[0]!, /^rewind_demo_fill rewind_demo\.c:\d+$/);
    assert.match(hit1.frames[1]!, /^rewind_demo_tick rewind_demo\.c:\d+$/);
    assert.ok(hit1.position.icount > load1.icount && hit1.position.icount < at.unloaded, `load 1's write at ${hit1.position.icount}`);
    assert.equal(await c.evaluate('pos'), String(FIRST_OUT_OF_BOUNDS));

    // Between the loads (the filler module took load 1's place): gone again.
    const went = await seek(at.unloaded);
    assert.ok(went.includes(`removed ${id1}`), went.join(', '));
    assert.deepEqual(await ours(), []);
    assert.match(await evaluateFails('rewind_demo_fill'), /No symbol "rewind_demo_fill" in current context/);

    // Load 2: elsewhere, and the breakpoint follows the module there.
    const again = await seek(load2.icount);
    const id2 = `${MODULE_NAME}@${load2.sections['.text']}`;
    assert.ok(again.includes(`new ${id2}`), again.join(', '));
    assert.deepEqual((await ours()).map((m) => m.id), [id2]);
    const hit2 = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    assert.equal(hit2.reason, 'function breakpoint', hit2.description);
    assert.match(hit2.frames[0]!, /^rewind_demo_fill rewind_demo\.c:\d+$/);
    const pc = BigInt(/0x[0-9a-f]+/.exec(await c.evaluate('$pc'))![0]);
    assert.ok(pc >= BigInt(load2.sections['.text']!) && pc < BigInt(load2.sections['.data']!), `pc 0x${pc.toString(16)} in load 2's .text`);

    // Going back to load 1 swaps the symbols back.
    const back = await seek(hit1.position.icount);
    assert.ok(back.includes(`removed ${id2}`) && back.includes(`new ${id1}`), back.join(', '));
    assert.match((await c.frames())[0]!, /^rewind_demo_fill rewind_demo\.c:\d+$/);
  });
  it('the kernel-event scan finds every load and unload of the module, by name, for the Events view and the timeline\'s Modules lane', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const f = session.fixture();
    const [load1, load2] = f.module.loads;
    const r = await c.custom('rewind/kernelEvents', {});
    const ofModules = r.events.filter((e) => e.kind === 'module-load' || e.kind === 'module-unload');
    const mine = ofModules.filter((e) => e.message === MODULE_NAME).map((e) => e.kind);
    assert.deepEqual(mine, ['module-load', 'module-unload', 'module-load'], JSON.stringify(ofModules));
    const [in1, out1, in2] = ofModules.filter((e) => e.message === MODULE_NAME);
    // Loaded before the workload printed its sections; unloaded before it said so; the second load after that.
    assert.ok(at.go < in1!.icount && in1!.icount < load1!.icount, `load 1 at ${in1!.icount}`);
    assert.ok(load1!.icount < out1!.icount && out1!.icount < at.unloaded, `unload at ${out1!.icount}`);
    assert.ok(at.unloaded < in2!.icount && in2!.icount < load2!.icount, `load 2 at ${in2!.icount}`);
    assert.ok(ofModules.some((e) => e.kind === 'module-load' && e.message === 'virtio_pci_legacy_dev' && e.icount > out1!.icount && e.icount < in2!.icount), 'the module that took load 1\'s place');
    assert.ok(ofModules.every((e) => e.function === (e.kind === 'module-load' ? 'do_init_module' : 'free_module')));

    // In rewind/events (what the Events view and the timeline's Modules lane ask for), and one seek away.
    const events = (await c.custom('rewind/events', { kinds: ['kernel-module-load', 'kernel-module-unload'] })) as RewindEventsResponse;
    assert.deepEqual(
      events.events.filter((e) => (e.detail ?? '').endsWith(`: ${MODULE_NAME}`)).map((e) => `${e.kind} ${e.detail}`),
      ['kernel-module-load do_init_module(): rewind_demo', 'kernel-module-unload free_module(): rewind_demo', 'kernel-module-load do_init_module(): rewind_demo'],
    );
    const from = c.received.length;
    const stop = await c.run(() => c.dc.send('rewind/seek', { eventIndex: in2!.eventIndex }));
    assert.equal(stop.position.icount, in2!.icount);
    assert.match(stop.frames[0]!, /^do_init_module main\.c:\d+$/);
    assert.ok(moduleEventsSince(c, from).includes(`new ${MODULE_NAME}@${load2!.sections['.text']}`), 'its symbols are there at its load');
  });
});

describe('Breakpoints in a module across its loads', { timeout: 1_200_000 }, () => {
  const session = useModuleSession();
  const c = session.c;
  const at = useMarkers(session);
  const { seek } = helpers(c);

  it('a line breakpoint set before the first load stops in both loads, and in load 1 going back from after it; a reverse watchpoint on the overflow lands in the module', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const f = session.fixture();
    const [load1, load2] = f.module.loads;
    assert.ok(load1 && load2 && at.go > 0 && at.unloaded > load1.icount, JSON.stringify({ at, loads: f.module.loads }));
    await c.launch({ recording: f.bundle, symbols: [f.vmlinux], moduleFolders: [dirname(f.module.ko)], startAt: at.go });

    // Before the first load gdb has no code for the module's lines: the breakpoint waits.
    const source = join(dirname(f.module.ko), 'rewind_demo.c');
    const line = readFileSync(source, 'utf8').split('\n').indexOf('\tbuf[pos] = value;') + 1;
    assert.ok(line > 0, 'the line that writes the buffer');
    const [pending] = (await c.dc.setBreakpointsRequest({ source: { path: source }, breakpoints: [{ line, condition: `pos == ${FIRST_OUT_OF_BOUNDS}` }] })).body.breakpoints;
    assert.equal(pending!.verified, false);
    assert.match(pending!.message ?? '', /^pending: No source file named .*rewind_demo\.c\. It applies where a loadable module/);

    // Forward into load 1: the module's symbols come at its load, and the breakpoint with them.
    const from = c.received.length;
    const hit1 = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    assert.equal(hit1.reason, 'breakpoint', hit1.description);
    assert.equal(hit1.frames[0], `rewind_demo_fill rewind_demo.c:${line}`);
    assert.ok(hit1.position.icount > load1.icount && hit1.position.icount < at.unloaded, `load 1's write at ${hit1.position.icount}`);
    assert.ok(inText(await c.evaluate('$pc'), load1), 'in load 1\'s .text');
    assert.equal(await c.evaluate('pos'), String(FIRST_OUT_OF_BOUNDS));
    const changed = c.received
      .slice(from)
      .filter((m): m is DebugProtocol.BreakpointEvent => m.type === 'event' && (m as DebugProtocol.Event).event === 'breakpoint')
      .map((e) => e.body.breakpoint);
    assert.ok(changed.some((b) => b.id === pending!.id && b.verified && b.line === line), JSON.stringify(changed));

    // On past the unload and the other module loaded into load 1's place, into load 2.
    const hit2 = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    assert.equal(hit2.reason, 'breakpoint', hit2.description);
    assert.equal(hit2.frames[0], `rewind_demo_fill rewind_demo.c:${line}`);
    assert.ok(hit2.position.icount > load2.icount, `load 2's write at ${hit2.position.icount}`);
    assert.ok(inText(await c.evaluate('$pc'), load2), 'in load 2\'s .text');
    assert.equal(await c.evaluate('pos'), String(FIRST_OUT_OF_BOUNDS));

    // Back from between the loads (no symbols of the module there): the breakpoint, pending again,
    // gets load 1's code when going back passes load 1's unload, and stops at its last write.
    const gone = await seek(at.unloaded);
    assert.ok(gone.includes(`removed ${MODULE_NAME}@${load2.sections['.text']}`), gone.join(', '));
    const [again] = (await c.dc.setBreakpointsRequest({ source: { path: source }, breakpoints: [{ line }] })).body.breakpoints;
    assert.equal(again!.verified, false, 'no code for the line between the loads');
    const back = await c.run(() => c.dc.reverseContinueRequest({ threadId: 1 }));
    assert.equal(back.reason, 'breakpoint', back.description);
    assert.equal(back.frames[0], `rewind_demo_fill rewind_demo.c:${line}`);
    assert.ok(back.position.icount > hit1.position.icount && back.position.icount < at.unloaded, `load 1's last write at ${back.position.icount}`);
    assert.ok(inText(await c.evaluate('$pc'), load1), 'back in load 1\'s .text');
    assert.equal(await c.evaluate('pos'), String(FIRST_OUT_OF_BOUNDS + 3), 'the last byte the timer writes');

    // At load 1's unload (its exit function), who wrote past the 20 bytes last?
    await c.dc.setBreakpointsRequest({ source: { path: source }, breakpoints: [] });
    const [exitBp] = (await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'rewind_demo_exit' }] })).body.breakpoints;
    assert.equal(exitBp!.verified, true, 'load 1 is loaded here: its exit function is known');
    const atExit = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    assert.equal(atExit.reason, 'function breakpoint', atExit.description);
    assert.match(atExit.frames[0]!, /^rewind_demo_exit rewind_demo\.c:\d+$/);
    assert.ok(atExit.position.icount > back.position.icount && atExit.position.icount < at.unloaded, `load 1's exit at ${atExit.position.icount}`);
    const overflow = `0x${(BigInt(await c.evaluate('(unsigned long) rewind_demo_buf')) + BigInt(FIRST_OUT_OF_BOUNDS)).toString(16)}`;
    const info = (await c.dc.customRequest('dataBreakpointInfo', { name: overflow, asAddress: true, bytes: 4 })).body as DebugProtocol.DataBreakpointInfoResponse['body'];
    assert.ok(info.dataId, info.description);
    await c.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId, accessType: 'write' }] });
    const wrote = await c.run(() => c.dc.reverseContinueRequest({ threadId: 1 }));
    assert.equal(wrote.reason, 'data breakpoint', wrote.description);
    // (gdb shows the store by the line of the instruction after it: the compiler interleaves lines 27 and 29.)
    assert.match(wrote.frames[0]!, /^rewind_demo_fill rewind_demo\.c:\d+$/);
    assert.ok(inText(await c.evaluate('$pc'), load1), 'the write is in load 1\'s .text');
    assert.equal(await c.evaluate('pos'), String(FIRST_OUT_OF_BOUNDS + 3), 'the last byte written past the buffer');
    assert.ok(wrote.position.icount > back.position.icount && wrote.position.icount < atExit.position.icount, `the write at ${wrote.position.icount}, just after the line breakpoint's stop at ${back.position.icount}`);
  });
});
