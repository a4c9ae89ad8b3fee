/**
 * The bridge daemon against the real engine and real QEMU: sessions over a Unix socket and TCP,
 * the token, the root confinement, cancellation, progress, cleanup of replay processes when a
 * connection drops, and the `rewind bridge` command itself.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { BridgeClient, BridgeRequestError, startBridge, type RunningBridge } from '../recorder-bridge/src/bridge';
import { BRIDGE_PROTOCOL_VERSION, type BridgeListeningJson, type EventsJson } from '@rewind/protocol';
import { DEMO_KERNEL, fingerprint, REWIND_BIN, requireDemoKernel, ROOT, runRewind, tempDir } from './helpers';
import { symbolAddress } from './support/elf';
import { qemuProcessesMentioning, waitFor } from './support/procs';

const T = { timeout: 120_000 };

/** The target of the backward jump that closes crunch()'s loop: the demo guest's hottest instruction. */
function crunchLoop(elf: string): bigint {
  const start = symbolAddress(elf, 'crunch');
  const dis = execFileSync('objdump', ['-d', elf, `--start-address=0x${start.toString(16)}`, `--stop-address=0x${(start + 0x40n).toString(16)}`], { encoding: 'utf8' });
  for (const m of dis.matchAll(/^\s*([0-9a-f]+):.*\sj\w+\s+([0-9a-f]+) <crunch\+0x[0-9a-f]+>/gm)) {
    if (BigInt('0x' + m[2]) < BigInt('0x' + m[1])) return BigInt('0x' + m[2]);
  }
  assert.fail(`no loop found in crunch:\n${dis}`);
}

async function rejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<BridgeRequestError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BridgeRequestError, `expected a BridgeRequestError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected an error with code ${code}`);
}

describe('bridge', { timeout: 900_000 }, () => {
  const dir = tempDir(after, 'rewind-bridge-test-');
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  // Replay workspaces (and so every replay QEMU of this file) live under here.
  const tmp = join(dir, 'tmp');
  const replays = join(tmp, 'rewind-replay-');
  const bundle = join(root, 'demo.rewind');
  let firstInput = 0;
  let unix: RunningBridge;
  let tcp: RunningBridge;
  let bundlePrint: Record<string, string>;
  const logLines: string[] = [];
  const clients: BridgeClient[] = [];
  const children: ChildProcess[] = [];
  const savedTmp = process.env.TMPDIR;

  async function client(address = unix.address, token?: string, opts?: { hello?: boolean }): Promise<BridgeClient> {
    const c = await BridgeClient.connect(address, token, opts);
    clients.push(c);
    return c;
  }

  before(async () => {
    requireDemoKernel();
    await fs.mkdir(root);
    await fs.mkdir(outside);
    await fs.mkdir(tmp);
    process.env.TMPDIR = tmp;
    // `work 10` runs the crunch loop 20 000 times: a hits query long enough to cancel. (It can
    // also lose a timer tick and panic the guest, which ends the recording just as well.)
    const script = join(tmp, 'work.txt');
    await fs.writeFile(script, 'expect ready\nexpect > \nsend hello\\n\nexpect hello, world\nexpect > \nsend work 10\\n\nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', bundle, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const ev = await runRewind(['events', bundle, '--json', '--kind', 'serial-input']);
    assert.equal(ev.code, 0, ev.stderr);
    firstInput = (JSON.parse(ev.stdout) as EventsJson).events[0]!.icount;
    assert.ok(firstInput > 100_000, `first input at ${firstInput}`);
    const log = new PassThrough();
    log.on('data', (d: Buffer) => logLines.push(...d.toString().split('\n').filter(Boolean)));
    bundlePrint = await fingerprint(bundle);
    unix = await startBridge({ root, socket: join(dir, 'bridge.sock'), log });
    tcp = await startBridge({ root, listen: '127.0.0.1:0', log });
  });

  after(async () => {
    for (const c of clients) c.dispose();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await unix?.close();
    await tcp?.close();
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    const needle = join(dir, 'tmp');
    await waitFor('replay processes to exit', async () => (await qemuProcessesMentioning(needle)).length === 0, 10_000).catch(() => undefined);
    const left = await qemuProcessesMentioning(needle);
    for (const pid of left) process.kill(pid, 'SIGKILL'); // never leave one running, even after a failure
    assert.deepEqual(left, [], 'replay processes left behind');
  });

  it('listens on a 0600 Unix socket', T, async () => {
    assert.ok('socket' in unix.address);
    const st = await fs.stat(unix.address.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(unix.token, undefined);
    assert.ok(tcp.token && /^[0-9a-f]{64}$/.test(tcp.token));
  });

  it('opens a bundle, seeks, reads registers and memory, steps back, reports the position', T, async () => {
    const c = await client();
    const moves: number[] = [];
    c.onPositionChanged((p) => moves.push(p.icount));
    const s = await c.open('demo.rewind');
    assert.match(s.sessionId, /\S/);
    assert.equal(s.icount, 0);
    assert.ok(s.end > firstInput && s.totalIcount >= s.end);
    assert.equal(s.snapshots[0]!.icount, 0);
    const t = firstInput - 5000;
    assert.deepEqual(await c.seek(s.sessionId, t), { icount: t, end: s.end });
    const regs = await c.registers(s.sessionId);
    assert.match(regs.rip!, /^0x[0-9a-f]+$/);
    const code = await c.readMemory(s.sessionId, regs.rip!, 16);
    assert.equal(code.length, 16);
    assert.deepEqual(await c.reverseStepi(s.sessionId), { icount: t - 1, end: s.end });
    assert.deepEqual(await c.position(s.sessionId), { icount: t - 1, end: s.end });
    assert.equal((await c.stepi(s.sessionId)).icount, t);
    assert.deepEqual(await c.registers(s.sessionId), regs, 'the same state after a step back and forth');
    assert.deepEqual(moves, [t, t - 1, t]);
    const ev = await c.events(s.sessionId, { kinds: ['serial-input'], limit: 3 });
    assert.equal(ev.events.length, 3);
    assert.equal(ev.events[0]!.icount, firstInput);
    assert.equal(ev.truncated, true);
    assert.deepEqual((await c.snapshots(s.sessionId)).snapshots, s.snapshots);
    // Bad parameters get a clear error, not an internal one.
    await rejects(c.readMemory(s.sessionId, '100a9a', 4), 'bad-params', /hex address/);
    await rejects(c.seek(s.sessionId, -1), 'bad-params');
    await rejects(c.request('rewind/reverseContinue', { sessionId: s.sessionId, watchpoints: [{ address: '0x1000', size: 4, access: 'read', changes: true }] }), 'bad-params', /write watchpoints only/);
    await rejects(c.request('rewind/reverseContinue', { sessionId: s.sessionId, watchpoints: [{ address: '0x1000', size: 4, access: 'write', changes: 'yes' as unknown as boolean }] }), 'bad-params', /true or false/);
    await c.close(s.sessionId);
    await rejects(c.position(s.sessionId), 'no-session');
    assert.ok(logLines.some((l) => /conn \d+ rewind\/seek s\d+ \d+ms ok$/.test(l)), logLines.join('\n'));
  });

  it('serves two sessions at once, independently', T, async () => {
    const c = await client();
    const [a, b] = await Promise.all([c.open('demo.rewind'), c.open(bundle)]);
    assert.notEqual(a.sessionId, b.sessionId);
    const [pa, pb] = await Promise.all([c.seek(a.sessionId, 200_000), c.seek(b.sessionId, 300_000)]);
    assert.equal(pa.icount, 200_000);
    assert.equal(pb.icount, 300_000);
    await c.reverseStepi(a.sessionId);
    assert.equal((await c.position(a.sessionId)).icount, 199_999);
    assert.equal((await c.position(b.sessionId)).icount, 300_000);
    await c.close(b.sessionId);
    assert.equal((await c.stepi(a.sessionId)).icount, 200_000);
    // Another connection cannot touch this connection's session.
    const other = await client();
    await rejects(other.position(a.sessionId), 'no-session');
    await c.close(a.sessionId);
  });

  it('lets a connection follow where other connections\' sessions on a bundle move, and nothing more', T, async () => {
    const owner = await client();
    const follower = await client();
    const bystander = await client();
    const heard: Array<{ path: string; sessionId: string; icount: number }> = [];
    const unrelated: unknown[] = [];
    follower.onFollowedPosition((p) => heard.push(p));
    bystander.onFollowedPosition((p) => unrelated.push(p));
    const s = await owner.open('demo.rewind');
    await owner.seek(s.sessionId, 150_000);
    const followed = await follower.follow('demo.rewind');
    assert.deepEqual(followed.sessions, [{ sessionId: s.sessionId, icount: 150_000 }]);
    assert.equal(followed.path, await fs.realpath(bundle));
    // The follower's own session on the same bundle is not reported to itself.
    const own = await follower.open('demo.rewind');
    await follower.seek(own.sessionId, 10_000);
    await owner.seek(s.sessionId, 160_000);
    await owner.reverseStepi(s.sessionId);
    await waitFor('the followed moves', async () => heard.length >= 2, 10_000);
    assert.deepEqual(heard, [
      { path: followed.path, sessionId: s.sessionId, icount: 160_000 },
      { path: followed.path, sessionId: s.sessionId, icount: 159_999 },
    ]);
    assert.deepEqual(unrelated, [], 'a connection that did not follow hears nothing');
    // Following gives no access to the session.
    await rejects(follower.position(s.sessionId), 'no-session');
    await rejects(follower.follow('../outside'), 'outside-root');
    await owner.close(s.sessionId);
    await follower.close(own.sessionId);
  });

  it('reverse-continues to the last breakpoint hit before now, with progress; rewind/lastHit finds it without moving', T, async () => {
    const c = await client();
    const s = await c.open('demo.rewind');
    const putc = symbolAddress(DEMO_KERNEL, 'serial_putc');
    const t = firstInput - 1000;
    await c.seek(s.sessionId, t);
    const progress: number[] = [];
    c.onProgress((p) => {
      assert.equal(p.sessionId, s.sessionId);
      progress.push(p.done);
    });
    const moves: number[] = [];
    c.onPositionChanged((p) => moves.push(p.icount));
    const stop = await c.reverseContinue(s.sessionId, { breakpoints: [putc] });
    assert.equal(stop.kind, 'breakpoint');
    assert.equal(stop.address, '0x' + putc.toString(16));
    assert.ok(stop.icount < t);
    assert.equal((await c.position(s.sessionId)).icount, stop.icount);
    assert.equal((await c.registers(s.sessionId)).rip, stop.address);
    assert.ok(progress.length > 0, 'no progress notification');
    assert.deepEqual(moves, [stop.icount]);
    const fwd = await c.continue(s.sessionId, { breakpoints: [putc], until: t });
    assert.ok(fwd.kind === 'breakpoint' || fwd.kind === 'time');
    const hits = await c.hits(s.sessionId, putc, { to: t });
    assert.ok(hits.hits.some((h) => h.icount === stop.icount));
    assert.ok(hits.hits.every((h) => h.icount <= stop.icount && h.address === stop.address));
    // rewind/lastHit finds the same hit without moving, from the session's time or from a time point given.
    const here = (await c.position(s.sessionId)).icount;
    assert.deepEqual((await c.lastHit(s.sessionId, [putc], { before: t })).hit, { icount: stop.icount, address: stop.address });
    assert.equal((await c.position(s.sessionId)).icount, here, 'lastHit does not move the session');
    await c.seek(s.sessionId, t);
    assert.equal((await c.lastHit(s.sessionId, [putc])).hit?.icount, stop.icount);
    assert.equal((await c.lastHit(s.sessionId, [putc], { before: 0 })).hit, null);
    await rejects(c.request('rewind/lastHit', { sessionId: s.sessionId, addresses: [] }), 'bad-params', /empty/);
    // rewind/firstHit: the earliest hit at or after a time point (default: just after now), without moving.
    const all = (await c.hits(s.sessionId, putc)).hits;
    assert.ok(all.length >= 3, `putc ran ${all.length} times`);
    const mid = all[Math.floor(all.length / 2)]!;
    const at = (await c.position(s.sessionId)).icount;
    assert.deepEqual((await c.firstHit(s.sessionId, [putc], { from: mid.icount })).hit, mid, 'a hit at `from` counts');
    assert.deepEqual((await c.firstHit(s.sessionId, [putc], { from: mid.icount + 1 })).hit, all[all.indexOf(mid) + 1]);
    assert.deepEqual((await c.firstHit(s.sessionId, [putc], { from: 0 })).hit, all[0]);
    assert.equal((await c.firstHit(s.sessionId, [putc], { from: all[all.length - 1]!.icount + 1 })).hit, null);
    assert.deepEqual((await c.firstHit(s.sessionId, [putc])).hit, all.find((h) => h.icount > at) ?? null, 'from just after now');
    assert.equal((await c.position(s.sessionId)).icount, at, 'firstHit does not move the session');
    await rejects(c.request('rewind/firstHit', { sessionId: s.sessionId, addresses: [] }), 'bad-params', /empty/);
    await c.close(s.sessionId);
  });

  /** The stack pointer at each hit (seeking there): the ground truth for stack filters. */
  async function rspAtHits(c: BridgeClient, sessionId: string, hits: Array<{ icount: number }>): Promise<string[]> {
    const out: string[] = [];
    for (const h of hits) {
      await c.seek(sessionId, h.icount);
      out.push((await c.registers(sessionId)).rsp!);
    }
    return out;
  }

  it('frame-filtered breakpoints count only where the stack pointer is in range', T, async (t) => {
    const c = await client();
    t.after(() => c.dispose()); // its sessions close with it, even when the test fails
    const s = await c.open('demo.rewind');
    const fn = symbolAddress(DEMO_KERNEL, 'kstrlen'); // called from several depths
    const all = (await c.hits(s.sessionId, fn)).hits;
    const rsps = await rspAtHits(c, s.sessionId, all);
    assert.ok(all.length >= 3 && new Set(rsps).size >= 2, `kstrlen hits ${all.length}, stack pointers ${rsps.join(' ')}`);

    // A filter that can never match: no hit, and continue/reverseContinue run to the ends.
    const never = { address: fn, stack: { min: 0n, max: 0x10n } };
    assert.deepEqual((await c.hits(s.sessionId, [never])).hits, []);
    await c.seek(s.sessionId, 0);
    assert.equal((await c.continue(s.sessionId, { breakpoints: [never] })).kind, 'end');
    assert.equal((await c.reverseContinue(s.sessionId, { breakpoints: [never] })).kind, 'start');

    // A filter matching the stack pointer of exactly one hit returns exactly that hit.
    const unique = rsps.findIndex((r) => rsps.filter((x) => x === r).length === 1);
    assert.ok(unique >= 0, `no hit with a stack pointer of its own: ${rsps.join(' ')}`);
    const one = { address: fn, stack: { min: rsps[unique]!, max: rsps[unique]! } };
    assert.deepEqual((await c.hits(s.sessionId, [one])).hits, [all[unique]]);
    // An open-ended filter: every hit at or above that stack pointer.
    const above = (await c.hits(s.sessionId, [{ address: fn, stack: { min: rsps[unique]! } }])).hits;
    assert.deepEqual(above, all.filter((_, i) => BigInt(rsps[i]!) >= BigInt(rsps[unique]!)));

    // Forward: the first matching hit; backward from the end: the last matching hit, not the last hit.
    const r = rsps[0] !== rsps[rsps.length - 1] ? rsps[0]! : rsps.find((x) => x !== rsps[rsps.length - 1])!;
    const lastMatching = all[rsps.lastIndexOf(r)]!;
    assert.notEqual(lastMatching.icount, all[all.length - 1]!.icount);
    const filtered = { address: fn, stack: { min: r, max: r } };
    await c.seek(s.sessionId, 0);
    const fwd = await c.continue(s.sessionId, { breakpoints: [filtered] });
    assert.deepEqual(fwd, { kind: 'breakpoint', icount: all[rsps.indexOf(r)]!.icount, address: '0x' + fn.toString(16) });
    await c.seek(s.sessionId, s.end);
    const started = Date.now();
    const back = await c.reverseContinue(s.sessionId, { breakpoints: [filtered] });
    const ms = Date.now() - started;
    assert.deepEqual(back, { kind: 'breakpoint', icount: lastMatching.icount, address: '0x' + fn.toString(16) });
    assert.equal((await c.registers(s.sessionId)).rsp, r);
    // "Reverse-finish": from inside that call, the entry of this frame (rsp = CFA-8), past later calls.
    await c.seek(s.sessionId, lastMatching.icount + 3);
    assert.equal((await c.reverseContinue(s.sessionId, { breakpoints: [filtered] })).icount, lastMatching.icount);
    t.diagnostic(`filtered reverse continue over the whole recording: ${ms} ms`);
    // Bad filters are refused clearly.
    await rejects(c.continue(s.sessionId, { breakpoints: [{ address: fn, stack: { min: 0x20n, max: 0x10n } }] }), 'bad-params', /min is above max/);
    await rejects(c.request('rewind/hits', { sessionId: s.sessionId, addresses: [{ address: 'x' }] }), 'bad-params');
    await c.close(s.sessionId);
  });

  it('finds the hits of any of several addresses, each with the address that triggered', T, async (t) => {
    const c = await client();
    t.after(() => c.dispose()); // its sessions close with it, even when the test fails
    const s = await c.open('demo.rewind');
    const putc = symbolAddress(DEMO_KERNEL, 'serial_putc');
    const strlen = symbolAddress(DEMO_KERNEL, 'kstrlen');
    const to = firstInput + 2_000_000;
    const a = (await c.hits(s.sessionId, putc, { to })).hits;
    const b = (await c.hits(s.sessionId, strlen, { to })).hits;
    assert.ok(a.length > 0 && b.length > 0);
    const both = (await c.hits(s.sessionId, [putc, '0x' + strlen.toString(16)], { to })).hits;
    assert.deepEqual(both, [...a, ...b].sort((x, y) => x.icount - y.icount));
    assert.ok(both.every((h) => h.address === '0x' + (a.some((x) => x.icount === h.icount) ? putc : strlen).toString(16)));
    await rejects(c.request('rewind/hits', { sessionId: s.sessionId }), 'bad-params', /address/);
    await rejects(c.request('rewind/hits', { sessionId: s.sessionId, addresses: [] }), 'bad-params', /empty/);
    // rewind/writes' task probe: only with the values, and offsets that are offsets.
    const probe = { currentTask: '0x1fbc0', pid: 0x598, tgid: 0x59c, comm: 0x758 };
    await rejects(c.request('rewind/writes', { sessionId: s.sessionId, address: '0x' + putc.toString(16), size: 4, task: probe }), 'bad-params', /"task" goes with "values"/);
    await rejects(c.request('rewind/writes', { sessionId: s.sessionId, address: '0x' + putc.toString(16), size: 4, values: true, task: { ...probe, pid: -1 } }), 'bad-params', /task\.pid/);
    await rejects(c.request('rewind/writes', { sessionId: s.sessionId, address: '0x' + putc.toString(16), size: 4, values: true, task: { ...probe, currentTask: 12 as unknown as string } }), 'bad-params', /task\.currentTask/);
    await c.close(s.sessionId);
  });

  it('passes read-only gdb packets to the current time, and refuses writes and execution', T, async (t) => {
    const c = await client();
    t.after(() => c.dispose()); // its sessions close with it, even when the test fails
    const s = await c.open('demo.rewind');
    const at = firstInput - 5000;
    await c.seek(s.sessionId, at);
    const regs = await c.registers(s.sessionId);
    const g = (await c.gdbPacket(s.sessionId, 'g')).reply;
    assert.match(g, /^[0-9a-f]{200,}$/);
    assert.equal((await c.gdbPacket(s.sessionId, 'g', { thread: '1' })).reply, g);
    // rip is register 16: 8 bytes, little-endian.
    const rip = (await c.gdbPacket(s.sessionId, 'p10', { thread: '1' })).reply;
    assert.equal(BigInt('0x' + Buffer.from(rip, 'hex').reverse().toString('hex')), BigInt(regs.rip!));
    const mem = (await c.gdbPacket(s.sessionId, `m${regs.rip!.slice(2)},10`)).reply;
    assert.equal(mem, (await c.readMemory(s.sessionId, regs.rip!, 16)).toString('hex'));
    assert.match((await c.gdbPacket(s.sessionId, 'qfThreadInfo')).reply, /^m/);
    assert.equal((await c.gdbPacket(s.sessionId, 'Hg1')).reply, 'OK');
    assert.match((await c.gdbPacket(s.sessionId, 'qXfer:features:read:target.xml:0,ffb')).reply, /^[lm]<\?xml/);
    // After a move the read still goes to the thread asked for, in whichever process holds the time now.
    await c.reverseStepi(s.sessionId);
    assert.equal((await c.gdbPacket(s.sessionId, 'g', { thread: '1' })).reply, (await c.gdbPacket(s.sessionId, 'g')).reply);
    for (const [packet, why] of [
      ['M100000,1:00', /writes memory.*history/],
      ['X100000,1:a', /writes memory.*history/],
      ['G' + g, /writes registers.*history/],
      ['P10=0000000000000000', /writes registers.*history/],
      ['c', /controls execution.*history.*rewind\/continue/],
      ['s', /controls execution/],
      ['vCont;c', /controls execution/],
      ['bc', /controls execution/],
      ['Z0,100000,1', /controls execution/],
      ['z0,100000,1', /controls execution/],
      ['k', /controls execution/],
      ['D', /controls execution/],
      ['R00', /controls execution/],
      ['QStartNoAckMode', /not a read/],
      ['qRcmd,7265736574', /not a read/],
    ] as const) {
      await rejects(c.gdbPacket(s.sessionId, packet), 'packet-refused', why);
    }
    await rejects(c.gdbPacket(s.sessionId, 'g', { thread: 'x; M0' }), 'bad-params', /thread/);
    assert.equal((await c.position(s.sessionId)).icount, at - 1, 'nothing moved');
    assert.deepEqual(await c.registers(s.sessionId), await c.registers(s.sessionId));
    await c.close(s.sessionId);
  });

  it('creates snapshots at the current time, lists and uses them, never in the bundle, never evicted', T, async (t) => {
    // A ladder bound of 1: whatever the engine adds by itself is dropped, created snapshots stay.
    const small = await startBridge({ root, socket: join(dir, 'small.sock'), log: new PassThrough(), engine: { maxLadderSnapshots: 1 } });
    try {
      const c = await client(small.address);
      t.after(() => c.dispose());
      const s = await c.open('demo.rewind');
      const putc = symbolAddress(DEMO_KERNEL, 'serial_putc');
      // At a breakpoint stop (not a replay-break): the engine rebuilds the point before saving it.
      const stop = await c.continue(s.sessionId, { breakpoints: [putc], until: firstInput });
      assert.equal(stop.kind, 'breakpoint');
      const regs = await c.registers(s.sessionId);
      const created = (await c.createSnapshot(s.sessionId)).snapshot;
      assert.equal(created.icount, stop.icount);
      assert.equal(created.source, 'replay');
      assert.deepEqual(await c.registers(s.sessionId), regs, 'creating a snapshot does not move');
      const t2 = firstInput + 100_000;
      await c.seek(s.sessionId, t2);
      const second = (await c.createSnapshot(s.sessionId)).snapshot;
      // Moves that make the engine add (and drop) ladder snapshots of its own.
      for (const t of [s.end - 10, Math.floor(s.end / 2), s.end - 200_000, 1_000, s.end]) await c.seek(s.sessionId, t);
      const list = (await c.snapshots(s.sessionId)).snapshots;
      assert.deepEqual(list.map((x) => [x.name, x.icount, x.source]), [
        ['init', 0, 'record'],
        [created.name, created.icount, 'replay'],
        [second.name, second.icount, 'replay'],
      ]);
      // A replay from the created snapshot lands in the same state as one from the recorded start.
      const ref = await c.open('demo.rewind');
      for (const t of [created.icount, created.icount + 777, second.icount + 5]) {
        await c.seek(s.sessionId, t);
        await c.seek(ref.sessionId, t);
        assert.deepEqual(await c.registers(s.sessionId), await c.registers(ref.sessionId), `state at ${t}`);
      }
      assert.deepEqual(await c.registers(s.sessionId), await c.registers(ref.sessionId));
      await c.close(ref.sessionId);
      await c.close(s.sessionId);
    } finally {
      await small.close();
    }
    assert.deepEqual(await fingerprint(bundle), bundlePrint, 'the bundle changed');
  });

  it('refuses a wrong or missing token on TCP and closes the connection', T, async () => {
    for (const [token, code] of [['0'.repeat(64), 'bad-token'], [undefined, 'token-required']] as const) {
      const c = await client(tcp.address, undefined, { hello: false });
      await rejects(c.request('rewind/hello', { protocolVersion: BRIDGE_PROTOCOL_VERSION, ...(token ? { token } : {}) }), code);
      await Promise.race([c.whenClosed(), new Promise((_, reject) => setTimeout(() => reject(new Error('the bridge kept the connection open')), 5000))]);
    }
    await assert.rejects(BridgeClient.connect(tcp.address, 'wrong'), (e: BridgeRequestError) => e.code === 'bad-token');
    const ok = await client(tcp.address, tcp.token);
    await rejects(ok.position('nope'), 'no-session');
  });

  it('refuses requests before hello', T, async () => {
    for (const address of [tcp.address, unix.address]) {
      const c = await client(address, undefined, { hello: false });
      await rejects(c.open('demo.rewind'), 'hello-required', /hello/);
      await rejects(c.request('rewind/hello', { protocolVersion: 99, ...(tcp.token && !('socket' in address) ? { token: tcp.token } : {}) }), 'protocol-mismatch');
    }
  });

  it('opens bundles only inside the root', T, async () => {
    await fs.symlink(outside, join(root, 'escape'));
    await fs.symlink(bundle, join(root, 'alias.rewind'));
    const c = await client();
    for (const p of ['../outside', '../../etc', outside, '/etc', 'escape', 'escape/x', 'demo.rewind/../../outside']) {
      await rejects(c.open(p), 'outside-root', /outside the bridge root/);
    }
    await rejects(c.open('missing.rewind'), 'bundle-not-found');
    const s = await c.open('alias.rewind');
    await c.close(s.sessionId);
  });

  it('kills a connection\'s replay processes when the connection drops', T, async () => {
    await waitFor('earlier replay processes to exit', async () => (await qemuProcessesMentioning(replays)).length === 0);
    const c = await client();
    const s = await c.open('demo.rewind');
    await c.seek(s.sessionId, 150_000);
    assert.ok((await qemuProcessesMentioning(replays)).length > 0, 'no replay process while a session is open');
    c.dispose();
    await waitFor('the replay processes to exit', async () => (await qemuProcessesMentioning(replays)).length === 0);
  });

  it('cancels a running hits query', T, async () => {
    const c = await client();
    const s = await c.open('demo.rewind');
    const loop = crunchLoop(DEMO_KERNEL);
    const progress: number[] = [];
    const ac = new AbortController();
    // Cancelled once it runs (its first progress notification): a probe replay answers a loop's
    // hits in about a second on the demo, so a cancel after a fixed delay could come too late.
    c.onProgress((p) => {
      progress.push(p.done);
      ac.abort();
    });
    const running = c.hits(s.sessionId, loop, { signal: ac.signal });
    await rejects(running, 'cancelled', /cancelled/);
    assert.equal(progress[0], 0, 'a progress notification at the start');
    assert.ok(logLines.some((l) => /rewind\/hits s\d+ \d+ms error cancelled/.test(l)));
    c.dispose();
    await waitFor('the replay processes to exit', async () => (await qemuProcessesMentioning(replays)).length === 0);
  });

  it('`rewind bridge` refuses a non-loopback address without --allow-remote', T, async () => {
    const r = await runRewind(['bridge', '--root', root, '--listen', '0.0.0.0:0'], { timeoutMs: 30_000 });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0: it is not a loopback address.*--allow-remote/);
    assert.equal(r.stdout, '');
    const nr = await runRewind(['bridge', '--listen', '127.0.0.1:0'], { timeoutMs: 30_000 });
    assert.equal(nr.code, 2);
    assert.match(nr.stderr, /--root/);
  });

  it('`rewind bridge` serves over TCP with a token file, logs requests, and stops on SIGTERM', T, async () => {
    // Its own replay workspaces, so that only its replay processes are counted.
    const tmp2 = join(dir, 'tmp2');
    await fs.mkdir(tmp2);
    const replays2 = join(tmp2, 'rewind-replay-');
    const tokenFile = join(dir, 'token');
    const logFile = join(dir, 'bridge.log');
    const child = spawn(process.execPath, [REWIND_BIN, 'bridge', '--root', root, '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--log', logFile], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: tmp2 },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(`the bridge to listen (stderr: ${stderr})`, () => stdout.includes('\n'));
    const info = JSON.parse(stdout.split('\n')[0]!) as BridgeListeningJson;
    assert.equal(info.schema, 'rewind.bridge/1');
    assert.equal(info.host, '127.0.0.1');
    assert.equal(info.tokenFile, tokenFile);
    assert.equal((await fs.stat(tokenFile)).mode & 0o777, 0o600);
    const token = (await fs.readFile(tokenFile, 'utf8')).trim();
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.ok(!stderr.includes(token), 'the token went to stderr although a token file was given');

    // A raw connection that skips hello is refused.
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(info.port!, '127.0.0.1', () => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rewind/open', params: { bundle: 'demo.rewind' } });
        sock.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      });
      let data = '';
      sock.on('data', (d) => {
        data += d.toString();
        if (data.includes('}}')) {
          sock.destroy();
          resolve(data);
        }
      });
      sock.on('error', reject);
    });
    assert.match(raw, /"code":-32002/);
    assert.match(raw, /hello-required/);

    const c = await client({ host: '127.0.0.1', port: info.port! }, token);
    const s = await c.open('demo.rewind');
    assert.equal((await c.seek(s.sessionId, 100_000)).icount, 100_000);
    assert.ok((await qemuProcessesMentioning(replays2)).length > 0);
    child.kill('SIGTERM');
    await exited;
    await waitFor('the replay processes to exit', async () => (await qemuProcessesMentioning(replays2)).length === 0);
    const log = await fs.readFile(logFile, 'utf8');
    assert.match(log, /conn \d+ rewind\/open \d+ms ok/);
    assert.match(log, /conn \d+ rewind\/open \d+ms error hello-required/);
    assert.match(log, /conn \d+ rewind\/seek s\d+ \d+ms ok/);
    await c.whenClosed();
  });
});
