/**
 * gdb (Debian's) through a GdbRelay on a private Unix socket over a bridge session
 * (BridgeRelayTarget), as the debug adapter runs it: break, continue, backtrace, a watchpoint and
 * reverse-continue to the write that corrupted it, reverse-stepi, refused writes; ^C on continue
 * and reverse continue; the selected thread carried with every read; the owner told about every
 * execution. Real QEMU on a real recording of the demo guest's overflow bug.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { BridgeClient, startBridge, type RunningBridge } from '../recorder-bridge/src/bridge';
import { UserError } from '../recorder-bridge/src/errors';
import { BridgeRelayTarget } from '../recorder-bridge/src/gdb/bridge-target';
import { GdbRelay, type RelayExecutionEvent, type RelayPoints, type RelayTarget } from '../recorder-bridge/src/gdb/relay';
import { RspClient } from '../recorder-bridge/src/gdb/rsp-client';
import { DEMO_INPUTS, DEMO_KERNEL, requireDemoKernel, runRewind } from './helpers';
import { symbolAddress } from './support/elf';
import { qemuProcessesMentioning } from './support/procs';

/** Delegates to a target and writes down every read with the thread it was asked for. */
class SpyTarget implements RelayTarget {
  readonly reads: Array<{ packet: string; thread: string | undefined }> = [];
  constructor(private readonly inner: RelayTarget) {}
  position() {
    return this.inner.position();
  }
  continueForward(points: RelayPoints, signal?: AbortSignal) {
    return this.inner.continueForward(points, signal);
  }
  stepi() {
    return this.inner.stepi();
  }
  reverseStepi() {
    return this.inner.reverseStepi();
  }
  reverseContinue(points: RelayPoints, signal?: AbortSignal) {
    return this.inner.reverseContinue(points, signal);
  }
  seek(icount: number) {
    return this.inner.seek(icount);
  }
  gdbPacket(packet: string, thread?: string) {
    this.reads.push({ packet, thread });
    return this.inner.gdbPacket(packet, thread);
  }
  snapshots() {
    return this.inner.snapshots();
  }
  interrupt() {
    this.inner.interrupt();
  }
}

/** Each test's own limit: a hang fails it instead of holding up the whole file. */
const T = { timeout: 180_000 };
/** Raw packets to the relay: an execution that never answers fails the test. */
const PACKET_MS = 60_000;

describe('gdb through a relay over a bridge session', { timeout: 600_000 }, () => {
  // Removed by the cleanup below, after every process using it has been stopped.
  const dir = mkdtempSync(join(tmpdir(), 'rewind-gdb-bridge-'));
  const root = join(dir, 'root');
  const tmp = join(dir, 'tmp'); // every replay QEMU of this file runs under here
  const bundle = join(root, 'overflow.rewind');
  const relaySocket = join(dir, 'gdb.sock');
  const savedTmp = process.env.TMPDIR;
  const gdbs = new Set<ChildProcess>();
  const events: RelayExecutionEvent[] = [];
  let bridge: RunningBridge | undefined;
  let client: BridgeClient | undefined;
  let sessionId = '';
  let end = 0;
  let relay: GdbRelay | undefined;
  const extraRelays: GdbRelay[] = [];

  before(async () => {
    requireDemoKernel();
    await fs.mkdir(root);
    await fs.mkdir(tmp);
    process.env.TMPDIR = tmp;
    // Without an index: with one, the reverse continue to code that never runs answers before a ^C.
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'overflow.txt'), '--out', bundle, '--snapshot-every', '2M', '--quiet', '--no-index']);
    assert.equal(r.code, 0, r.stderr);
    bridge = await startBridge({ root, socket: join(dir, 'bridge.sock'), log: new PassThrough() });
    client = await BridgeClient.connect(bridge.address);
    const s = await client.open('overflow.rewind');
    sessionId = s.sessionId;
    end = s.end;
    relay = new GdbRelay(new BridgeRelayTarget(client, sessionId), { onExecution: (e) => events.push(e) });
    await relay.listenUnix(relaySocket);
  });

  after(async () => {
    for (const g of gdbs) g.kill('SIGKILL');
    for (const r of extraRelays) await r.close();
    await relay?.close();
    client?.dispose();
    await bridge?.close();
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    const deadline = Date.now() + 10_000;
    while ((await qemuProcessesMentioning(tmp)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const left = await qemuProcessesMentioning(tmp);
    for (const pid of left) process.kill(pid, 'SIGKILL'); // never leave one running, even after a failure
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'replay processes left behind');
  });

  /** Runs gdb in batch mode against the relay; killed if it takes too long. */
  function gdb(...commands: string[]): Promise<string> {
    const args = ['-batch', '-nx', join(bundle, 'guest', 'kernel'), '-ex', 'set pagination off', '-ex', `target remote ${relaySocket}`];
    for (const c of commands) args.push('-ex', c);
    return new Promise((resolve, reject) => {
      const g = spawn('gdb', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      gdbs.add(g);
      let out = '';
      g.stdout.on('data', (d: Buffer) => (out += d.toString()));
      g.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => g.kill('SIGKILL'), 150_000);
      g.once('error', reject);
      g.once('exit', (_code, signal) => {
        clearTimeout(timer);
        gdbs.delete(g);
        if (signal) reject(new Error(`gdb was killed (${signal}):\n${out}`));
        else resolve(out);
      });
    });
  }

  it('listens on a 0600 Unix socket and refuses one that is taken', T, async () => {
    const st = await fs.stat(relaySocket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    const other = new GdbRelay(new BridgeRelayTarget(client!, sessionId));
    await assert.rejects(other.listenUnix(relaySocket), (e: UserError) => e.code === 'address-in-use');
    const file = join(dir, 'not-a-socket');
    await fs.writeFile(file, '');
    await assert.rejects(other.listenUnix(file), (e: UserError) => e.code === 'address-in-use' && /not a socket/.test(e.message));
  });

  it('break panic, continue, bt, watch -l, reverse-continue to the corrupting write, reverse-stepi; writes refused', T, async (t) => {
    await client!.seek(sessionId, 0);
    events.length = 0;
    const started = Date.now();
    const out = await gdb(
      'break panic',
      'continue',
      'bt',
      'watch -l cfg.heartbeat_interval',
      'reverse-continue',
      'bt 1',
      'monitor icount',
      'print $pc',
      'reverse-stepi',
      'monitor icount',
      'print $pc',
      'print cfg.heartbeats',
      'set var cfg.heartbeats = 5',
      'print cfg.heartbeats',
      'set var $rax = 1',
    );
    const ms = Date.now() - started;
    assert.match(out, /Breakpoint 1, panic \(fmt=.*"heartbeat interval corrupted/, out);
    assert.match(out, /#0\s+panic \(.*\n#1\s+0x[0-9a-f]+ in heartbeat_poll \(\) at config\.c:\d+/, out);
    assert.match(out, /Hardware watchpoint 2: -location cfg\.heartbeat_interval[\s\S]*config_set_name \(name=.*"build-server-rack-42-eu-west-1"\) at config\.c:\d+/, out);
    assert.match(out, /#0\s+(0x[0-9a-f]+ in )?config_set_name \(/, out); // at the store: just before the write
    const icounts = [...out.matchAll(/^icount (\d+) of (\d+); snapshots: init@0/gm)].map((m) => Number(m[1]));
    assert.equal(icounts.length, 2, out);
    assert.equal(icounts[1], icounts[0]! - 1, 'reverse-stepi went back one instruction');
    const pcs = [...out.matchAll(/^\$\d+ = \(void \(\*\)\(\)\) (0x[0-9a-f]+) <(\w+)\+\d+>/gm)];
    assert.equal(pcs.length, 2, out);
    assert.equal(pcs[0]![2], 'config_set_name');
    assert.notEqual(pcs[0]![1], pcs[1]![1]);
    // Recordings are history.
    assert.match(out, /Cannot access memory at address 0x[0-9a-f]+/, out);
    const heartbeats = [...out.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(heartbeats.length, 2, out);
    assert.equal(heartbeats[1], heartbeats[0], 'the write did not happen');
    assert.match(out, /Could not write register "rax"; remote failure reply 'E01'/, out);
    // gdb left the session where it stopped.
    assert.equal((await client!.position(sessionId)).icount, icounts[1]);
    // The owner heard about every execution packet, with its stop.
    const ends = events.filter((e): e is Extract<RelayExecutionEvent, { phase: 'end' }> => e.phase === 'end');
    assert.deepEqual(
      events.map((e) => `${e.phase} ${e.kind}`),
      ends.flatMap((e) => [`start ${e.kind}`, `end ${e.kind}`]),
    );
    assert.equal(ends[0]!.kind, 'continue');
    assert.equal(ends[0]!.stop.kind, 'breakpoint');
    assert.ok(ends.some((e) => e.kind === 'reverseContinue' && e.stop.kind === 'watchpoint'));
    assert.equal(ends[ends.length - 1]!.kind, 'reverseStepi');
    assert.deepEqual(ends[ends.length - 1]!.stop, { kind: 'time', icount: icounts[1] });
    assert.ok(ends.every((e) => !e.interrupted));
    t.diagnostic(`gdb session (break, continue, watch, reverse-continue, reverse-stepi): ${ms} ms`);
  });

  it('^C stops a continue where it is, and cancels a reverse continue at the unchanged position', T, async (t) => {
    const rsp = await RspClient.connect(relaySocket);
    t.after(() => rsp.close());
    await client!.seek(sessionId, 0);
    events.length = 0;
    let started = Date.now();
    let reply = rsp.request('c', PACKET_MS);
    setTimeout(() => rsp.interrupt(), 300);
    assert.match(await reply, /^T02/);
    const cMs = Date.now() - started;
    const at = (await client!.position(sessionId)).icount;
    assert.ok(at > 0 && at < end, `interrupted at ${at}`);
    assert.deepEqual(events.map((e) => e.phase), ['start', 'end']);
    assert.deepEqual(events[1], { phase: 'end', kind: 'continue', packet: 'c', stop: { kind: 'time', icount: at }, interrupted: true });

    // A reverse continue from the end for a breakpoint that never hits scans the whole recording.
    const never = symbolAddress(DEMO_KERNEL, 'cmd_ticks');
    await client!.seek(sessionId, end);
    assert.equal(await rsp.request(`Z0,${never.toString(16)},1`), 'OK');
    events.length = 0;
    started = Date.now();
    reply = rsp.request('bc', PACKET_MS);
    setTimeout(() => rsp.interrupt(), 300);
    assert.match(await reply, /^T02/);
    const bcMs = Date.now() - started;
    assert.equal((await client!.position(sessionId)).icount, end, 'a cancelled reverse continue does not move');
    assert.deepEqual(events[1], { phase: 'end', kind: 'reverseContinue', packet: 'bc', stop: { kind: 'time', icount: end }, interrupted: true });
    // Not interrupted: it runs to the start.
    assert.equal(await rsp.request('bc', PACKET_MS), 'T05replaylog:begin;thread:01;');
    assert.equal((await client!.position(sessionId)).icount, 0);
    assert.equal(await rsp.request(`z0,${never.toString(16)},1`), 'OK');
    t.diagnostic(`^C answered after ${cMs} ms (continue) and ${bcMs} ms (reverse continue), sent at 300 ms`);
  });

  it('passes the thread gdb selected with every read, across time travel; refuses writes', T, async (t) => {
    const spy = new SpyTarget(new BridgeRelayTarget(client!, sessionId));
    const r2 = new GdbRelay(spy);
    extraRelays.push(r2);
    const path = join(dir, 'gdb2.sock');
    await r2.listenUnix(path);
    const rsp = await RspClient.connect(path);
    t.after(() => rsp.close());
    await client!.seek(sessionId, Math.floor(end / 2));
    assert.equal(await rsp.request('g'), (await client!.gdbPacket(sessionId, 'g')).reply);
    assert.equal(spy.reads[spy.reads.length - 1]!.thread, undefined, 'no thread before gdb selects one');
    assert.equal(await rsp.request('Hg1'), 'OK');
    assert.equal(await rsp.request('Hc-1'), 'OK');
    const before = await rsp.request('g');
    assert.deepEqual(spy.reads[spy.reads.length - 1], { packet: 'g', thread: '1' });
    assert.match(await rsp.request('bs'), /^T05/);
    const back = await rsp.request('g');
    assert.deepEqual(spy.reads[spy.reads.length - 1], { packet: 'g', thread: '1' });
    assert.notEqual(back, before);
    assert.equal(back, (await client!.gdbPacket(sessionId, 'g', { thread: '1' })).reply);
    const regs = await client!.registers(sessionId);
    const mem = await rsp.request(`m${regs.rip!.slice(2)},8`);
    assert.deepEqual(spy.reads[spy.reads.length - 1], { packet: `m${regs.rip!.slice(2)},8`, thread: '1' });
    assert.equal(mem, (await client!.readMemory(sessionId, regs.rip!, 8)).toString('hex'));
    // Writes never reach a replay process.
    const reads = spy.reads.length;
    assert.equal(await rsp.request(`M${regs.rip!.slice(2)},1:90`), 'E01');
    assert.equal(await rsp.request('P10=0000000000000000'), 'E01');
    assert.equal(await rsp.request('G' + back), 'E01');
    assert.equal(await rsp.request('qSomethingElse'), '', 'unknown packets are unsupported, not passed on');
    assert.equal(spy.reads.length, reads);
    assert.equal(await rsp.request(`m${regs.rip!.slice(2)},8`), mem);
  });
});
