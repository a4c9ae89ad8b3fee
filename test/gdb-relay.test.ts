/**
 * Plain gdb (Debian's) against `rewind replay BUNDLE --gdb PORT`: breakpoints, continue, and the
 * reverse commands, on a real recording of the demo guest.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { EngineRelayTarget, GdbRelay, type RelayExecutionEvent } from '../recorder-bridge/src/gdb/relay';
import { RspClient } from '../recorder-bridge/src/gdb/rsp-client';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { DEMO_INPUTS, DEMO_KERNEL, recordLongComputation, REWIND_BIN, ROOT, requireDemoKernel, runRewind, tempDir } from './helpers';
import { symbolAddress } from './support/elf';
import { qemuProcessesMentioning } from './support/procs';

const execFileAsync = promisify(execFile);

describe('rewind replay --gdb with plain gdb', { timeout: 300_000 }, () => {
  const dir = tempDir(after);
  let bundle: string;
  let relay: ReturnType<typeof spawn> | undefined;
  let port = 0;

  before(async () => {
    requireDemoKernel();
    bundle = join(dir, 'gdb.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'basic.txt'), '--out', bundle, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    relay = spawn(process.execPath, [REWIND_BIN, 'replay', bundle, '--gdb', '0'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    port = await new Promise<number>((resolve, reject) => {
      relay!.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /target remote [0-9.]+:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      relay!.once('exit', (code) => reject(new Error(`relay exited (${code}): ${err}`)));
    });
  });

  after(async () => {
    if (relay && relay.exitCode === null) {
      const exited = new Promise((r) => relay!.once('exit', r));
      relay.kill('SIGINT');
      await exited;
    }
    assert.deepEqual(await qemuProcessesMentioning(dir), [], 'the relay left replay processes behind');
  });

  async function gdb(...commands: string[]): Promise<string> {
    const args = ['-batch', '-nx', join(bundle, 'guest', 'kernel'), '-ex', 'set pagination off', '-ex', `target remote 127.0.0.1:${port}`];
    for (const c of commands) args.push('-ex', c);
    const { stdout, stderr } = await execFileAsync('gdb', args, { timeout: 120_000 });
    return stdout + stderr;
  }

  it('stops at breakpoints going forward and backward, at source level', async () => {
    const out = await gdb(
      'monitor seek 0',
      'maintenance flush register-cache',
      'break serial_putc',
      'continue',
      'continue',
      'print c',
      'reverse-continue',
      'print c',
      'reverse-stepi',
      'info symbol $pc',
      'reverse-continue',
      'info symbol $pc',
    );
    // Forward: the first two characters printed are "\r\n"? The banner starts with "\n" then "R".
    const prints = [...out.matchAll(/^\$\d+ = (\d+) '(.*)'$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(prints, [82, 10], out); // at the 2nd hit c='R'; reverse-continue: the 1st hit, c='\n'
    assert.match(out, /Breakpoint 1, serial_putc \(c=10 '\\n'\) at serial\.c:\d+/);
    assert.match(out, /in section \.text/); // reverse-stepi left serial_putc for its caller
    assert.match(out, /No more reverse-execution history/); // nothing before the first hit
  });

  it('reverse-continues to the last write of a watched variable', async () => {
    const out = await gdb('monitor seek 0', 'maintenance flush register-cache', 'watch ticks', 'continue', 'continue', 'print ticks', 'reverse-continue', 'print ticks', 'info symbol $pc');
    const values = [...out.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(values.length, 2, out);
    assert.equal(values[0]! , 2);
    assert.equal(values[1]!, 1, 'back just before the last write: the value is still the old one');
    assert.match(out, /timer_irq/);
  });

  it('reports and moves the time with monitor commands', async () => {
    const out = await gdb('monitor seek 1000', 'monitor icount');
    assert.match(out, /at icount 1000/);
    assert.match(out, /icount 1000 of \d+; snapshots: init@0/);
  });

  it('leaves no QEMU behind when it is killed with SIGKILL', async () => {
    const copy = join(dir, 'crash');
    await fs.cp(bundle, join(copy, 'gdb.rewind'), { recursive: true });
    const victim = spawn(process.execPath, [REWIND_BIN, 'replay', join(copy, 'gdb.rewind'), '--gdb', '0'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      victim.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/target remote/.test(err)) resolve();
      });
      victim.once('exit', (code) => reject(new Error(`relay exited (${code}): ${err}`)));
    });
    assert.ok((await qemuProcessesMentioning(copy)).length > 0, 'the relay runs a replay process');
    victim.kill('SIGKILL'); // no exit handler runs: the watchdog must do it
    const deadline = Date.now() + 10_000;
    while ((await qemuProcessesMentioning(copy)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await qemuProcessesMentioning(copy), []);
  });

  it('refuses to write registers or memory', async () => {
    const out = await gdb('set var ticks = 5', 'print ticks');
    assert.match(out, /Cannot access memory|Remote failure|E01|error/i);
    assert.match(out, /^\$1 = 0$/m);
  });

  it('serves an in-process engine on a 0600 Unix socket; ^C stops a continue and cancels a reverse continue', { timeout: 120_000 }, async (t) => {
    // ^C must arrive while the replay runs. basic.txt replays whole in about 0.2 s, so a ^C 200 ms
    // after the request raced the end (seen in CI). `spin 600` is 5.4e9 instructions: several
    // seconds of replay on any machine, forward or scanned back. Without an index: with one, a
    // reverse continue to code that never ran answers at once, before a ^C.
    const long = await recordLongComputation(dir, 'long', 600);
    const engine = await ReplayEngine.open(long);
    const events: RelayExecutionEvent[] = [];
    const relay = new GdbRelay(new EngineRelayTarget(engine), { onExecution: (e) => events.push(e) });
    t.after(async () => {
      await relay.close();
      await engine.close();
    });
    const path = join(dir, 'relay.sock');
    await relay.listenUnix(path);
    assert.equal((await fs.stat(path)).mode & 0o777, 0o600);
    const rsp = await RspClient.connect(path);
    t.after(() => rsp.close());
    // Forward to the end with no breakpoint replays the whole computation: seconds.
    let reply = rsp.request('c', 60_000);
    setTimeout(() => rsp.interrupt(), 500);
    assert.match(await reply, /^T02/);
    const at = engine.icount;
    assert.ok(at > 0 && at < engine.end, `interrupted at ${at}`);
    assert.deepEqual(events.slice(-1), [{ phase: 'end', kind: 'continue', packet: 'c', stop: { kind: 'time', icount: at }, interrupted: true }]);
    // From the end, a reverse continue for a breakpoint that never hits scans everything; ^C cancels it.
    await engine.seek(engine.end);
    const never = symbolAddress(DEMO_KERNEL, 'cmd_work').toString(16);
    assert.equal(await rsp.request(`Z0,${never},1`), 'OK');
    reply = rsp.request('bc', 60_000);
    setTimeout(() => rsp.interrupt(), 500);
    assert.match(await reply, /^T02/);
    assert.equal(engine.icount, engine.end, 'the cancelled reverse continue did not move');
    // The relay carries gdb's thread; reads and monitor commands still work after the cancel.
    assert.equal(await rsp.request('Hg1'), 'OK');
    assert.equal(await rsp.request('g'), await engine.gdbPacket('g'));
    assert.match(Buffer.from(await rsp.request(`qRcmd,${Buffer.from('icount').toString('hex')}`), 'hex').toString(), new RegExp(`^icount ${engine.end} of ${engine.end}; snapshots: init@0`));
  });
});
