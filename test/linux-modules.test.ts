/**
 * Linux module symbols at every time point (issue 14), over DAP on the module fixture
 * (test/linux-module-fixture.ts: our module loaded, unloaded, another module loaded into its place,
 * ours loaded again elsewhere; KASLR on): before the first load and between the loads the module's
 * symbols are gone; in each load `modules` lists it at the address the guest printed, with the .ko
 * found in `moduleFolders` by its build-id, `module` events say what came and went, and a
 * breakpoint on the module's function stops at the out-of-bounds write of that load, with the
 * module's functions and source lines on the stack.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { before, describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { linuxModuleFixtureOrSkip, MODULE_MARKER, MODULE_NAME } from './linux-module-fixture';
import { useLinuxSession } from './linux-session';

/** The module's buffer is 20 bytes (rewind_demo.c DEMO_BUF_SIZE): the write of byte 20 is the first out of bounds. */
const FIRST_OUT_OF_BOUNDS = 20;

describe('Linux module symbols over time', { timeout: 1_200_000 }, () => {
  const session = useLinuxSession(linuxModuleFixtureOrSkip);
  const c = session.c;
  /** Time points from the console: the marker lines the workload printed. */
  const at: Record<'go' | 'unloaded', number> = { go: 0, unloaded: 0 };

  before(async () => {
    if (session.skip()) return;
    for (const line of await (await Bundle.open(session.fixture().bundle)).consoleLines()) {
      if (line.text === `${MODULE_MARKER}: got go`) at.go = line.icount ?? 0;
      if (line.text === `${MODULE_MARKER}: unloaded`) at.unloaded = line.icount ?? 0;
    }
  });

  const ours = async (): Promise<DebugProtocol.Module[]> => (await c.dc.send('modules', {})).body.modules.filter((m: DebugProtocol.Module) => m.name === MODULE_NAME);
  const moduleEvents = (from: number) =>
    c.received
      .slice(from)
      .filter((m): m is DebugProtocol.ModuleEvent => m.type === 'event' && (m as DebugProtocol.Event).event === 'module')
      .map((e) => `${e.body.reason} ${e.body.module.id}`);
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
});
