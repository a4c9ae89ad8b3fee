/**
 * The GDB/MI client against Debian's real gdb: first on the demo guest's ELF alone (symbols, no
 * target), then on the guest running under QEMU, connected through QEMU's gdbstub on a Unix socket.
 * Every test checks that no gdb process it started is left behind.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  breakDelete,
  breakInsert,
  breakWatch,
  disassemble,
  evaluate,
  listSourceFiles,
  readMemory,
  stackListFrames,
  stackListVariables,
  symbolInfoLine,
  threadInfo,
  varCreate,
  varDelete,
  varListChildren,
} from '../debug-adapter/src/mi/commands';
import { Gdb, GdbCommandError, GdbExitedError, GdbNotFoundError, GdbTimeoutError, MiAsyncRecord, miQuote } from '../debug-adapter/src/mi/gdb';
import { miInt, miList, miString, miTuple, miTupleList } from '../debug-adapter/src/mi/parser';
import { DEMO_KERNEL, ROOT, requireDemoKernel, tempDir } from './helpers';
import { symbolTable, type ElfSymbol } from './support/elf';
import { stillRuns, waitGone } from './support/procs';

const execFileAsync = promisify(execFile);

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Every gdb a test starts; afterEach disposes them and checks /proc. */
const started: Gdb[] = [];
const startedPids: number[] = [];

async function startGdb(log?: (line: string) => void): Promise<Gdb> {
  const gdb = await Gdb.start({ cwd: ROOT, log });
  started.push(gdb);
  startedPids.push(gdb.pid!);
  return gdb;
}

async function startWithKernel(): Promise<Gdb> {
  const gdb = await startGdb();
  await gdb.send(`-file-exec-and-symbols ${miQuote(DEMO_KERNEL)}`);
  return gdb;
}

/** Disposes every gdb the test started and fails if one of them is still in /proc. */
async function cleanupGdbs(): Promise<void> {
  const gdbs = started.splice(0);
  const pids = startedPids.splice(0);
  await Promise.all(gdbs.map((g) => g.dispose()));
  const left = [];
  for (const pid of pids) if (stillRuns(pid, 'gdb')) left.push(pid);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  assert.deepEqual(left, [], 'gdb processes left behind');
}

/** `addr2line`: "config.c:36" (basename and line, without discriminators). */
async function addr2line(addr: string): Promise<string> {
  const { stdout } = await execFileAsync('addr2line', ['-e', DEMO_KERNEL, addr]);
  const m = /([^/\s]+):(\d+)/.exec(stdout);
  return m ? `${m[1]}:${m[2]}` : stdout.trim();
}

describe('Gdb on the demo kernel ELF (no target)', { timeout: 120_000 }, () => {
  let symbols: Map<string, ElfSymbol>;
  afterEach(cleanupGdbs);

  before(async () => {
    requireDemoKernel();
    symbols = symbolTable(DEMO_KERNEL);
  });

  it('starts with mi-async on, and traces every line in and out', async () => {
    const lines: string[] = [];
    const gdb = await startGdb((l) => lines.push(l));
    assert.ok(lines.some((l) => /^-> 1-gdb-set mi-async on$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^<- 1\^done$/.test(l)), lines.join('\n'));
    const r = await gdb.send('-gdb-show mi-async');
    assert.equal(miString(r.results, 'value'), 'on');
    assert.equal(r.resultClass, 'done');
    assert.ok(lines.some((l) => l === `<- ${r.token}^done,value="on"`));
    for (const s of ['pagination', 'confirm']) assert.equal(miString((await gdb.send(`-gdb-show ${s}`)).results, 'value'), 'off');
  });

  it('inserts breakpoints on config.c:36 and panic where nm and addr2line put them', async () => {
    const gdb = await startWithKernel();
    const b1 = await breakInsert(gdb, 'config.c:36');
    assert.equal(b1.locations.length, 1);
    const l1 = b1.locations[0]!;
    assert.equal(l1.file, 'config.c');
    assert.equal(l1.fullname, join(ROOT, 'guests', 'demo', 'config.c'));
    assert.equal(l1.line, 36);
    assert.equal(l1.func, 'config_set_name');
    assert.equal(await addr2line(l1.address!), 'config.c:36');
    const { address: fnStart, size: fnSize } = symbols.get('config_set_name')!;
    assert.ok(BigInt(l1.address!) >= fnStart && BigInt(l1.address!) < fnStart + fnSize);

    const b2 = await breakInsert(gdb, 'panic');
    assert.equal(b2.number, b1.number + 1);
    const l2 = b2.locations[0]!;
    const { address: panicAddr, size: panicSize } = symbols.get('panic')!;
    assert.ok(BigInt(l2.address!) >= panicAddr && BigInt(l2.address!) < panicAddr + panicSize, `${l2.address} outside panic`);
    assert.equal(await addr2line(l2.address!), `panic.c:${l2.line}`);
    assert.equal(l2.func, 'panic');
    assert.equal(b2.temporary, false);
    assert.equal(b2.type, 'breakpoint');
  });

  it('resolves a multi-location breakpoint (an inlined function) with every location', async () => {
    const gdb = await startWithKernel();
    const b = await breakInsert(gdb, 'outb');
    assert.ok(b.locations.length > 1, `only ${b.locations.length} location(s)`);
    assert.deepEqual(new Set(b.locations.map((l) => l.func)), new Set(['outb']));
    assert.deepEqual(new Set(b.locations.map((l) => l.line)), new Set([12]));
    assert.equal(new Set(b.locations.map((l) => l.address)).size, b.locations.length);
    assert.deepEqual(b.locations.map((l) => l.number), b.locations.map((_, i) => `${b.number}.${i + 1}`));
    for (const l of b.locations.slice(0, 3)) assert.equal(await addr2line(l.address!), 'kernel.h:12');
  });

  it('passes condition and temporary, deletes breakpoints, and rejects unknown locations', async () => {
    const gdb = await startWithKernel();
    const b = await breakInsert(gdb, 'config.c:36', { condition: 'i == 3', temporary: true });
    assert.equal(b.condition, 'i == 3');
    assert.equal(b.temporary, true);
    const w = await breakWatch(gdb, 'cfg.heartbeat_interval', 'write');
    const rw = await breakWatch(gdb, 'cfg.heartbeats', 'read');
    const aw = await breakWatch(gdb, 'cfg.heartbeats', 'readWrite');
    assert.deepEqual([w.expression, rw.expression, aw.expression], ['cfg.heartbeat_interval', 'cfg.heartbeats', 'cfg.heartbeats']);
    assert.deepEqual([w.number, rw.number, aw.number], [b.number + 1, b.number + 2, b.number + 3]);
    const rows = async (): Promise<number | undefined> => miInt(miTuple((await gdb.send('-break-list')).results, 'BreakpointTable'), 'nr_rows');
    assert.equal(await rows(), 4);
    await breakDelete(gdb, [b.number, w.number]);
    assert.equal(await rows(), 2);
    await assert.rejects(breakInsert(gdb, 'no_such_function'), (e: unknown) => e instanceof GdbCommandError && /no_such_function/.test(e.message));
    await breakDelete(gdb, 99); // gdb only prints "No breakpoint number 99." and answers ^done
  });

  it('evaluates expressions, and reports gdb errors with message, code and command', async () => {
    const gdb = await startWithKernel();
    assert.equal(await evaluate(gdb, 'sizeof(cfg)'), '64');
    const addr = await evaluate(gdb, '&cfg.heartbeat_interval');
    const m = /^(0x[0-9a-f]+) <cfg\+16>$/.exec(addr);
    assert.ok(m, addr);
    assert.equal(BigInt(m[1]!), symbols.get('cfg')!.address + 16n);
    assert.equal(await evaluate(gdb, 'cfg.heartbeat_interval'), '100'); // read from the ELF's .data
    assert.equal(await evaluate(gdb, '"a b" "\\"c\\""'), '"a b\\"c\\""'); // quoting survives

    await assert.rejects(evaluate(gdb, 'nosuch'), (e: unknown) => {
      assert.ok(e instanceof GdbCommandError);
      assert.equal(e.message, 'No symbol "nosuch" in current context.');
      assert.equal(e.command, '-data-evaluate-expression "nosuch"');
      assert.equal(e.code, undefined);
      return true;
    });
    await assert.rejects(gdb.send('-no-such-command'), (e: unknown) => e instanceof GdbCommandError && e.code === 'undefined-command');
  });

  it('runs CLI commands with console() and returns their output', async () => {
    const gdb = await startWithKernel();
    const panic = symbols.get('panic')!.address;
    const out = await gdb.console('info line panic');
    assert.match(out, new RegExp(`^Line \\d+ of "panic\\.c" starts at address 0x${panic.toString(16)} <panic> and ends at 0x[0-9a-f]+ <panic\\+\\d+>\\.\\n$`));
    assert.equal(await gdb.console('echo a"b\\\\c\\t\\n'), 'a"b\\c\t\n');
    // CLI errors reject like MI ones, and what gdb logged comes with the error's command
    await assert.rejects(gdb.console('nosuchcmd'), /Undefined command: "nosuchcmd"/);
  });

  it('attributes stream output to the right command when commands are queued', async () => {
    const gdb = await startWithKernel();
    const streamed: string[] = [];
    gdb.onStream((s) => s.type === 'console' && streamed.push(s.text));
    const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => gdb.console(`echo out${i}\\n`)));
    assert.deepEqual(outs, Array.from({ length: 20 }, (_, i) => `out${i}\n`));
    assert.deepEqual(streamed, outs);
    const values = await Promise.all(Array.from({ length: 20 }, (_, i) => evaluate(gdb, `${i} * 3`)));
    assert.deepEqual(values, Array.from({ length: 20 }, (_, i) => String(i * 3)));
  });

  it('delivers notifications to onNotify', async () => {
    const gdb = await startWithKernel();
    const seen: MiAsyncRecord[] = [];
    const off = gdb.onNotify((r) => seen.push(r));
    await gdb.console('break panic'); // created from the CLI: gdb announces it
    const created = seen.find((r) => r.asyncClass === 'breakpoint-created');
    assert.ok(created, JSON.stringify(seen));
    assert.equal(miString(miTuple(created.results, 'bkpt'), 'func'), 'panic');
    off();
    await gdb.console('break heartbeat_poll');
    assert.equal(seen.filter((r) => r.asyncClass === 'breakpoint-created').length, 1, 'a removed listener is not called');
  });

  it('disassembles a range with opcodes and source lines', async () => {
    const gdb = await startWithKernel();
    const { address: panic } = symbols.get('panic')!;
    const insns = await disassemble(gdb, panic, panic + 16n);
    assert.ok(insns.length >= 3, JSON.stringify(insns));
    assert.equal(insns[0]!.address, `0x${panic.toString(16)}`);
    assert.equal(insns[0]!.func, 'panic');
    assert.equal(insns[0]!.offset, 0);
    assert.equal(insns[0]!.opcodes, '55');
    assert.match(insns[0]!.inst, /^push\s+%rbp$/);
    assert.equal(insns[0]!.file, 'panic.c');
    assert.equal(insns[0]!.line, Number((await addr2line(insns[0]!.address)).split(':')[1]));
    // contiguous: each instruction starts where the previous one's bytes end, all inside the range
    for (let i = 1; i < insns.length; i++) {
      const prev = insns[i - 1]!;
      assert.equal(BigInt(insns[i]!.address), BigInt(prev.address) + BigInt(prev.opcodes!.split(' ').length));
    }
    assert.ok(BigInt(insns.at(-1)!.address) < panic + 16n);
    // an address expression works as well as a number
    const same = await disassemble(gdb, 'panic', '(char *)panic + 16');
    assert.deepEqual(same, insns);
  });

  it('gives every address range of a source line, and the line of an address', async () => {
    const gdb = await startWithKernel();
    // config.c:35 is a loop header: its code is split in two ranges around the loop body
    const loop = await symbolInfoLine(gdb, 'config.c:35');
    assert.ok(loop.length >= 2, JSON.stringify(loop));
    for (const r of loop) {
      assert.equal(r.line, 35);
      assert.equal(r.func, 'config_set_name');
      assert.equal(r.fullname, join(ROOT, 'guests', 'demo', 'config.c'));
      assert.ok(BigInt(r.start) < BigInt(r.end));
      assert.equal(await addr2line(r.start), 'config.c:35');
      assert.equal(await addr2line(`0x${(BigInt(r.end) - 1n).toString(16)}`), 'config.c:35');
    }
    // `info line` prints only the start of the first range (up to the next line-table entry)
    const info = /starts at address (0x[0-9a-f]+) .* and ends at (0x[0-9a-f]+) /.exec(await gdb.console('info line config.c:35'));
    assert.ok(info);
    assert.equal(info[1], loop[0]!.start);
    assert.ok(BigInt(info[2]!) <= BigInt(loop[0]!.end));

    const { address: panic } = symbols.get('panic')!;
    const at = await symbolInfoLine(gdb, `*0x${(panic + 4n).toString(16)}`);
    assert.equal(at.length, 1);
    assert.equal(at[0]!.func, 'panic');
    assert.equal(at[0]!.file, 'panic.c');
    assert.equal(`panic.c:${at[0]!.line}`, await addr2line(`0x${(panic + 4n).toString(16)}`));
    assert.ok(BigInt(at[0]!.start) <= panic + 4n && panic + 4n < BigInt(at[0]!.end));

    // an inlined header function: ranges in several callers
    const header = await symbolInfoLine(gdb, 'kernel.h:12');
    assert.ok(header.length > 1);
    assert.ok(header.every((r) => r.func === 'outb' && r.line === 12));

    assert.deepEqual(await symbolInfoLine(gdb, '*0x100000'), []); // the multiboot header: no line information
    await assert.rejects(symbolInfoLine(gdb, 'nosuch.c:1'), (e: unknown) => e instanceof GdbCommandError && e.message === 'No source file named nosuch.c.');
  });

  it('reads memory, variable objects and the source file list from the ELF', async () => {
    const gdb = await startWithKernel();
    const [blk] = await readMemory(gdb, '&cfg', 8);
    assert.ok(blk);
    assert.equal(BigInt(blk.address), symbols.get('cfg')!.address);
    assert.equal(blk.offset, 0);
    assert.deepEqual(blk.data, Buffer.from('demo\0\0\0\0', 'latin1'));

    const v = await varCreate(gdb, 'cfg');
    assert.equal(v.type, 'struct config');
    assert.equal(v.numchild, 4);
    const kids = await varListChildren(gdb, v.name);
    assert.deepEqual(kids.map((k) => k.exp), ['machine_name', 'heartbeat_interval', 'heartbeats', 'reserved']);
    assert.equal(kids[1]!.value, '100');
    assert.equal(kids[0]!.value, undefined, 'arrays have no simple value');
    assert.equal(kids[0]!.numchild, 16);
    assert.equal(await varDelete(gdb, v.name), 5);
    await assert.rejects(varListChildren(gdb, v.name), GdbCommandError);

    const files = await listSourceFiles(gdb);
    const names = files.map((f) => f.fullname);
    assert.equal(new Set(names).size, names.length, 'listed once each');
    for (const f of ['config.c', 'panic.c', 'boot.S', 'kernel.h']) assert.ok(names.includes(join(ROOT, 'guests', 'demo', f)), f);
  });

  it('times out, aborts, and keeps the queue going afterwards', async () => {
    const gdb = await startWithKernel();
    const slow = gdb.console('python import time; time.sleep(1.5)', { timeoutMs: 200 });
    const queued = evaluate(gdb, '6 * 7'); // gdb answers it after the slow one
    const ac = new AbortController();
    const aborted = assert.rejects(evaluate(gdb, '1', undefined, { signal: ac.signal }), /not needed/);
    ac.abort(new Error('not needed'));
    await assert.rejects(slow, (e: unknown) => e instanceof GdbTimeoutError && e.timeoutMs === 200);
    await aborted;
    assert.equal(await queued, '42');
    assert.equal(await evaluate(gdb, '1 + 1'), '2');
  });

  it('nextStop() times out and aborts', async () => {
    const gdb = await startWithKernel();
    await assert.rejects(gdb.nextStop({ timeoutMs: 100 }), GdbTimeoutError);
    const ac = new AbortController();
    const stop = assert.rejects(gdb.nextStop({ signal: ac.signal }), /changed my mind/);
    ac.abort(new Error('changed my mind'));
    await stop;
    await assert.rejects(gdb.nextStop({ signal: AbortSignal.abort(new Error('already')) }), /already/);
  });

  it('interrupt() is written ahead of queued commands', async () => {
    const lines: string[] = [];
    const gdb = await startGdb((l) => lines.push(l));
    const slow = gdb.console('python import time; time.sleep(0.5)');
    const queued = evaluate(gdb, '2 * 21');
    const intr = await gdb.interrupt();
    assert.equal(intr.resultClass, 'done');
    assert.equal(await queued, '42');
    await slow;
    const written = lines.filter((l) => l.startsWith('-> ')).map((l) => /^-> \d+(-\S+)/.exec(l)![1]);
    assert.deepEqual(written.slice(-3), ['-interpreter-exec', '-exec-interrupt', '-data-evaluate-expression']);
  });

  it('cancels a command that blocks gdb with sigint()', async () => {
    const gdb = await startWithKernel();
    const t0 = Date.now();
    const blocked = gdb.console('python import time; time.sleep(30)');
    await delay(300);
    gdb.sigint();
    await assert.rejects(blocked, (e: unknown) => e instanceof GdbCommandError && /Error while executing Python code/.test(e.message));
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(await evaluate(gdb, '2 + 2'), '4');
  });

  it('rejects pending and queued commands when gdb exits mid-command, and later ones at once', async () => {
    const gdb = await startWithKernel();
    const pid = gdb.pid!;
    const pending = gdb.console('python import time, os; time.sleep(0.3); os._exit(3)');
    const queued = evaluate(gdb, '1');
    const stop = gdb.nextStop();
    await assert.rejects(pending, (e: unknown) => e instanceof GdbExitedError && e.exitCode === 3 && /exited with code 3/.test(e.message));
    await assert.rejects(queued, GdbExitedError);
    await assert.rejects(stop, GdbExitedError);
    assert.deepEqual(await gdb.exited, { code: 3, signal: null });
    await assert.rejects(gdb.send('-gdb-version'), GdbExitedError);
    assert.equal(stillRuns(pid, 'gdb'), false);
    await gdb.dispose(); // nothing left to do, still resolves
  });

  it('dispose() ends gdb with -gdb-exit, is idempotent, and later sends fail at once', async () => {
    const gdb = await startWithKernel();
    const pid = gdb.pid!;
    const a = gdb.dispose();
    assert.equal(gdb.dispose(), a);
    await a;
    // Exit code 0, no signal: gdb obeyed -gdb-exit (a gdb that had to be killed ends by SIGKILL).
    assert.deepEqual(await gdb.exited, { code: 0, signal: null });
    assert.equal(stillRuns(pid, 'gdb'), false);
    await assert.rejects(gdb.send('-gdb-version'), GdbExitedError);
  });

  it('dispose() kills a gdb that does not answer (SIGSTOPped)', async () => {
    const gdb = await startWithKernel();
    const pid = gdb.pid!;
    process.kill(pid, 'SIGSTOP');
    const pending = evaluate(gdb, '1');
    const t0 = Date.now();
    await gdb.dispose();
    const took = Date.now() - t0;
    assert.ok(took >= 1900, `killed after ${took} ms, before its grace period of 2 s`);
    assert.deepEqual(await gdb.exited, { code: null, signal: 'SIGKILL' });
    await assert.rejects(pending, GdbExitedError);
    assert.equal(stillRuns(pid, 'gdb'), false);
  });

  it('gdb exits by itself when the process that started it dies', async () => {
    const script = `
      const { Gdb } = require(${JSON.stringify(join(ROOT, 'out', 'debug-adapter', 'src', 'mi', 'gdb.js'))});
      Gdb.start().then((g) => { console.log(g.pid); setInterval(() => {}, 1000); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let gdbPid = 0;
    try {
      gdbPid = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        child.once('exit', (code) => reject(new Error(`child exited (${code})`)));
      });
      assert.ok(stillRuns(gdbPid, 'gdb'));
      child.kill('SIGKILL');
      assert.ok(await waitGone(gdbPid, 10_000, 'gdb'), `gdb ${gdbPid} outlived its parent`);
    } finally {
      child.kill('SIGKILL');
      if (gdbPid && stillRuns(gdbPid, 'gdb')) process.kill(gdbPid, 'SIGKILL');
    }
  });

  it('reports a missing gdb binary clearly', async () => {
    await assert.rejects(Gdb.start({ gdbPath: '/nonexistent/bin/gdb' }), (e: unknown) => {
      assert.ok(e instanceof GdbNotFoundError);
      assert.match(e.message, /apt-get install gdb/);
      assert.match(e.message, /gdbPath/);
      assert.match(e.message, /\/nonexistent\/bin\/gdb/);
      return true;
    });
  });

  it('reports a program that is not gdb, and refuses multi-line commands', async () => {
    await assert.rejects(Gdb.start({ gdbPath: '/bin/false' }), (e: unknown) => e instanceof GdbExitedError && e.exitCode === 1);
    const gdb = await startGdb();
    await assert.rejects(gdb.send('-gdb-version\n-gdb-exit'), /one line/);
    assert.equal(await evaluate(gdb, '1'), '1');
  });

  it('quotes MI arguments', () => {
    assert.equal(miQuote('plain'), '"plain"');
    assert.equal(miQuote('a "b" \\c'), '"a \\"b\\" \\\\c"');
    assert.equal(miQuote('x\ny\tz\r\x01\x7f'), '"x\\ny\\tz\\r\\001\\177"');
    assert.equal(miQuote('grüße'), '"grüße"');
  });
});

describe('Gdb on the demo kernel running under QEMU', { timeout: 180_000 }, () => {
  const dir = tempDir(after, 'rewind-mi-');
  const sock = join(dir, 'gdb.sock');
  let qemu: ChildProcess | undefined;
  afterEach(cleanupGdbs);

  before(async () => {
    requireDemoKernel();
    qemu = spawn(
      'qemu-system-x86_64',
      ['-kernel', DEMO_KERNEL, '-m', '64', '-display', 'none', '-monitor', 'none', '-serial', 'null', '-net', 'none', '-S', '-gdb', `unix:${sock},server=on,wait=off`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    qemu.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; !existsSync(sock); i++) {
      if (qemu.exitCode !== null || i > 200) throw new Error(`QEMU did not open ${sock}: ${err}`);
      await delay(50);
    }
  });

  after(async () => {
    if (qemu?.pid !== undefined && qemu.exitCode === null && qemu.signalCode === null) {
      const gone = new Promise((r) => qemu!.once('exit', r));
      process.kill(qemu.pid, 'SIGKILL');
      await gone;
    }
  });

  it('connects over a Unix socket, reads registers and threads, runs, breaks, interrupts', async () => {
    const gdb = await startWithKernel();
    const execs: string[] = [];
    gdb.onExec((r) => execs.push(r.asyncClass));

    // gdb reports the stop of the halted CPU before ^connected
    const firstStop = gdb.nextStop({ timeoutMs: 30_000 });
    // not quoted: -target-select hands its arguments to `target remote` as written, quotes included
    const conn = await gdb.send(`-target-select remote ${sock}`, { timeoutMs: 30_000 });
    assert.equal(conn.resultClass, 'connected');
    const at = await firstStop;
    assert.equal(miString(miTuple(at, 'frame'), 'addr'), '0x000000000000fff0'); // the reset vector

    const names = miList((await gdb.send('-data-list-register-names')).results, 'register-names');
    const rip = names?.indexOf('rip') ?? -1;
    assert.ok(rip >= 0);
    const regs = miTupleList((await gdb.send('-data-list-register-values x')).results, 'register-values')!;
    assert.ok(regs.length >= 16);
    assert.equal(miString(regs.find((r) => miInt(r, 'number') === rip), 'value'), '0xfff0');

    const { threads, currentThreadId } = await threadInfo(gdb);
    assert.equal(threads.length, 1);
    assert.equal(currentThreadId, 1);
    assert.equal(threads[0]!.state, 'stopped');
    assert.equal(threads[0]!.targetId, 'Thread 1.1');
    assert.equal(threads[0]!.frame?.address, '0xfff0');

    // run to a breakpoint (hardware: QEMU's gdbstub has them)
    const bp = await breakInsert(gdb, 'heartbeat_poll', { hardware: true });
    assert.equal(bp.type, 'hw breakpoint');
    let stop = gdb.nextStop({ timeoutMs: 60_000 });
    const run = await gdb.send('-exec-continue');
    assert.equal(run.resultClass, 'running');
    const hit = await stop;
    assert.equal(miString(hit, 'reason'), 'breakpoint-hit');
    assert.equal(miInt(hit, 'bkptno'), bp.number);
    const frames = await stackListFrames(gdb, 1);
    assert.deepEqual(frames.slice(0, 2).map((f) => f.func), ['heartbeat_poll', 'kmain']);
    assert.equal(frames[0]!.address, bp.locations[0]!.address);
    assert.equal(frames[0]!.line, bp.locations[0]!.line);
    const vars = await stackListVariables(gdb, { thread: 1, level: 0 });
    assert.deepEqual(vars.map((v) => [v.name, v.isArg, v.type]), [['interval', false, 'uint32_t']]);
    assert.equal(await evaluate(gdb, 'cfg.heartbeat_interval', { thread: 1, level: 0 }), '100');
    assert.match(await evaluate(gdb, '$pc', { thread: 1, level: 1 }), /<kmain\+\d+>/);
    await breakDelete(gdb, bp.number);

    // run freely: gdb (mi-async) keeps answering; -exec-interrupt stops the target
    execs.length = 0;
    const running = new Promise<void>((resolve) => {
      const off = gdb.onExec((r) => r.asyncClass === 'running' && (off(), resolve()));
    });
    await gdb.send('-exec-continue');
    await running;
    assert.equal(await evaluate(gdb, '6 * 7'), '42');
    await assert.rejects(threadInfo(gdb), /Cannot execute this command while the target is running/);
    await delay(300);
    stop = gdb.nextStop({ timeoutMs: 30_000 });
    const intr = await gdb.interrupt({ timeoutMs: 10_000 });
    assert.equal(intr.resultClass, 'done');
    const stopped = await stop;
    assert.equal(miString(stopped, 'reason'), 'signal-received');
    assert.equal(miString(stopped, 'signal-name'), 'SIGINT');
    assert.deepEqual(execs, ['running', 'stopped']);
    assert.equal((await threadInfo(gdb)).threads[0]!.state, 'stopped');
  });
});
