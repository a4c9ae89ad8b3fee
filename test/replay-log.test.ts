import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  parseReplayLog,
  ReplayLogError,
  ReplayLogIndex,
  FORMAT_QEMU_7_2,
  SHUTDOWN_CAUSES_7_2,
  CHECKPOINTS_7_2,
} from '../recorder-bridge/src/replay-log';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'replay-log');
const load = (name: string): Buffer => zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, name)));

// ---- event bytes of format 0xe0200c (replay/replay-internal.h), spelled out independently ----
const E = {
  INSTRUCTION: 0, INTERRUPT: 1, EXCEPTION: 2,
  ASYNC_BH: 3, ASYNC_BH_ONESHOT: 4, ASYNC_INPUT: 5, ASYNC_INPUT_SYNC: 6, ASYNC_CHAR_READ: 7,
  ASYNC_BLOCK: 8, ASYNC_NET: 9,
  SHUTDOWN: 10, // .. 21
  CHAR_WRITE: 22, CHAR_READ_ALL: 23, CHAR_READ_ALL_ERROR: 24, AUDIO_OUT: 25, AUDIO_IN: 26, RANDOM: 27,
  CLOCK_HOST: 28, CLOCK_VIRTUAL_RT: 29,
  CHECKPOINT: 30, // .. 38
  END: 39,
};

/** Tiny writer of QEMU's big-endian log encoding (replay-internal.c). */
class LogWriter {
  private parts: number[] = [];
  /** Offsets of each event byte written with ev(). */
  readonly eventOffsets: number[] = [];
  constructor(version = 0xe0200c) {
    this.dword(version).qword(0n);
  }
  byte(b: number): this { this.parts.push(b & 0xff); return this; }
  ev(code: number): this { this.eventOffsets.push(this.parts.length); return this.byte(code); }
  dword(v: number): this {
    const x = v >>> 0;
    return this.byte(x >>> 24).byte(x >>> 16).byte(x >>> 8).byte(x);
  }
  qword(v: bigint): this {
    const x = BigInt.asUintN(64, v);
    return this.dword(Number(x >> 32n)).dword(Number(x & 0xffffffffn));
  }
  array(bytes: Buffer | number[]): this {
    this.dword(bytes.length);
    for (const b of bytes) this.byte(b);
    return this;
  }
  insns(n: number): this { return this.ev(E.INSTRUCTION).dword(n); }
  get length(): number { return this.parts.length; }
  buffer(): Buffer { return Buffer.from(this.parts); }
}

function expectError(fn: () => unknown, code: string, ...inMessage: (string | RegExp)[]): ReplayLogError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ReplayLogError, `expected ReplayLogError(${code}), got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(!caught.message.includes('\n'), 'one-line message');
  for (const m of inMessage) {
    if (typeof m === 'string') assert.ok(caught.message.includes(m), `message lacks "${m}": ${caught.message}`);
    else assert.match(caught.message, m);
  }
  return caught;
}

function checkInvariants(idx: ReplayLogIndex): void {
  let last = 0;
  let lastOffset = -1;
  idx.events.forEach((e, i) => {
    assert.equal(e.index, i);
    assert.ok(e.icount >= last, `icount decreases at event ${i}`);
    assert.ok(e.offset > lastOffset, `offsets increase at event ${i}`);
    last = e.icount;
    lastOffset = e.offset;
  });
  assert.ok(idx.totalIcount >= last);
  const sum = Object.values(idx.counts).reduce((a, b) => a + b, 0);
  assert.equal(sum, idx.events.length);
  for (const [kind, n] of Object.entries(idx.counts)) {
    assert.equal(idx.events.filter((e) => e.kind === kind).length, n, kind);
  }
}

// ---------------------------------------------------------------- real logs (QEMU 7.2)

test('real log (echo guest): header, serial bytes in order, devices, how QEMU ends a log', () => {
  const buf = load('echo-guest.rrlog.gz');
  const idx = parseReplayLog(buf);
  assert.equal(idx.formatVersion, 0xe0200c);
  assert.equal(idx.formatName, 'qemu-7.2');
  assert.equal(idx.complete, true);
  assert.equal(idx.parsedBytes, buf.length);
  checkInvariants(idx);

  const serial = idx.events.filter((e) => e.kind === 'serial-input');
  assert.equal(serial.map((e) => e.bytes).join(''), 'rw!\n');
  for (let i = 1; i < serial.length; i++) assert.ok(serial[i]!.icount > serial[i - 1]!.icount);
  for (const e of serial) assert.equal(e.device, 0);
  // the guest echoes each byte: one char-write per byte, after it
  const writes = idx.events.filter((e) => e.kind === 'char-write');
  assert.equal(writes.length, 4);
  for (let i = 0; i < 4; i++) {
    assert.ok(writes[i]!.icount > serial[i]!.icount);
    assert.equal(writes[i]!.value, '1');
  }
  // the boot sector was read through blkreplay, and ran rdrand once (8 random bytes)
  assert.equal(idx.counts['block'], 1);
  const rnd = idx.events.filter((e) => e.kind === 'random');
  assert.equal(rnd.length, 1);
  assert.equal(rnd[0]!.size, 8);
  // QMP input-send-event: 'a' (qcode 36) down, up, then a sync
  assert.deepEqual(
    idx.events.filter((e) => e.kind === 'input').map((e) => e.detail),
    ['key qcode=36 down', 'key qcode=36 up', 'sync'],
  );
  // QMP quit records host-qmp-quit; replay_finish() adds host-signal and EVENT_END at exit.
  const tail = idx.events.slice(-2);
  assert.deepEqual(tail.map((e) => [e.kind, e.detail]), [['shutdown', 'host-signal'], ['end', undefined]]);
  assert.deepEqual(
    idx.events.filter((e) => e.kind === 'shutdown').map((e) => e.detail),
    ['host-qmp-quit', 'host-signal'],
  );
  assert.equal(tail[1]!.offset, buf.length - 1);
  assert.equal(tail[1]!.icount, idx.totalIcount);
  assert.ok(idx.totalIcount > 1_000_000);
});

test('real log (SeaBIOS): checkpoints, clock values match a BigInt reading', () => {
  const buf = load('seabios-serial.rrlog.gz');
  const idx = parseReplayLog(buf);
  checkInvariants(idx);
  assert.equal(idx.complete, true);
  assert.equal(idx.events.filter((e) => e.kind === 'serial-input').map((e) => e.bytes).join(''), 'r');
  assert.ok(idx.events.some((e) => e.kind === 'checkpoint' && e.detail === 'init'));
  const clocks = idx.events.filter((e) => e.kind === 'clock');
  assert.ok(clocks.length > 10);
  for (const c of clocks) {
    assert.ok(c.detail === 'host' || c.detail === 'virtual-rt');
    assert.equal(c.value, buf.readBigInt64BE(c.offset + 1).toString());
  }
  // host clock is wall-clock ns (> 2^53): exercised the exact 64-bit decimal path
  assert.ok(clocks.some((c) => c.detail === 'host' && BigInt(c.value!) > 2n ** 53n));
});

// ---------------------------------------------------------------- truncation rule

test('truncated real log: strict mode always says truncated, with the offset', () => {
  const buf = load('echo-guest.rrlog.gz');
  const full = parseReplayLog(buf);
  const cuts = new Set<number>([0, 1, 3, 4, 11, 12, buf.length - 1]);
  for (const e of full.events.filter((_, i) => i % 97 === 0)) {
    cuts.add(e.offset); // exactly between events
    cuts.add(e.offset + 1); // inside (or just after a one-byte event)
  }
  for (const e of full.events.filter((x) => x.kind === 'serial-input' || x.kind === 'clock').slice(0, 6)) {
    for (let k = 1; k < 10; k++) cuts.add(e.offset + k);
  }
  for (const cut of cuts) {
    const err = expectError(() => parseReplayLog(buf.subarray(0, cut)), 'truncated', 'the recording is incomplete');
    assert.match(err.message, cut < 12 ? /header/ : /byte offset \d+/);
  }
});

test('truncated real log with allowIncomplete: a prefix of the events, complete=false', () => {
  const buf = load('echo-guest.rrlog.gz');
  const full = parseReplayLog(buf);
  for (const e of full.events.filter((_, i) => i % 53 === 0)) {
    // cut exactly between events: everything before the cut, nothing lost
    const between = parseReplayLog(buf.subarray(0, e.offset), { allowIncomplete: true });
    assert.equal(between.complete, false);
    assert.equal(between.parsedBytes, e.offset);
    assert.equal(between.events.length, e.index);
    assert.deepEqual(between.events, full.events.slice(0, e.index));
    // cut inside an event with a payload: that event is dropped
    const inside = parseReplayLog(buf.subarray(0, e.offset + 2), { allowIncomplete: true });
    assert.ok(inside.events.length >= e.index && inside.parsedBytes <= e.offset + 2);
    assert.deepEqual(inside.events, full.events.slice(0, inside.events.length));
    checkInvariants(inside);
  }
});

test('unfinished log (QEMU killed: header still zero) is truncated, or indexed with allowIncomplete', () => {
  const buf = Buffer.from(load('echo-guest.rrlog.gz'));
  buf.writeUInt32BE(0, 0);
  const killed = buf.subarray(0, 4096 * 2 + 12); // stdio flushes in 4 KiB blocks
  expectError(() => parseReplayLog(killed), 'truncated', 'no version in its header', 'killed');
  const idx = parseReplayLog(killed, { allowIncomplete: true });
  assert.equal(idx.formatVersion, 0);
  assert.equal(idx.formatName, 'qemu-7.2');
  assert.equal(idx.complete, false);
  assert.ok(idx.events.length > 100);
  checkInvariants(idx);
  // even a whole body with a zero header is not 'complete': QEMU would refuse to replay it
  assert.equal(parseReplayLog(buf, { allowIncomplete: true }).complete, false);
});

// ---------------------------------------------------------------- version and corruption

test('unknown version names both versions and the QEMU version', () => {
  const buf = Buffer.from(load('echo-guest.rrlog.gz'));
  buf.writeUInt32BE(0xe02011, 0);
  const err = expectError(() => parseReplayLog(buf), 'unknown-version', '0xe02011', '0xe0200c', 'QEMU 7.2', 'upgrade Rewind');
  assert.equal(err.offset, 0);
  buf.writeUInt32BE(0x0c20e000, 0); // byte-swapped: a little-endian writer
  expectError(() => parseReplayLog(buf), 'unknown-version', '0xc20e000');
});

test('garbage event byte is corrupt, with its offset', () => {
  const buf = load('echo-guest.rrlog.gz');
  const full = parseReplayLog(buf);
  for (const bad of [40, 0x7f, 0xff]) {
    const e = full.events[full.events.length >> 1]!;
    const copy = Buffer.from(buf);
    copy[e.offset] = bad;
    const err = expectError(() => parseReplayLog(copy), 'corrupt', `0x${bad.toString(16)}`, `byte offset ${e.offset}`);
    assert.equal(err.offset, e.offset);
  }
  // data after EVENT_END
  expectError(() => parseReplayLog(Buffer.concat([buf, Buffer.from([E.INTERRUPT])])), 'corrupt', 'after the end event');
});

// ---------------------------------------------------------------- synthetic payload layouts

/** One log with every event kind, each with a known payload. */
function everyKind(): { w: LogWriter; expected: Array<Record<string, unknown>> } {
  const w = new LogWriter();
  const x: Array<Record<string, unknown>> = [];
  let ic = 0;
  const insns = (n: number): void => { w.insns(n); ic += n; };
  insns(100);
  w.ev(E.INTERRUPT); x.push({ kind: 'interrupt', icount: ic });
  w.ev(E.EXCEPTION); x.push({ kind: 'exception', icount: ic });
  insns(0xffffffff); // the dword is unsigned
  w.ev(E.ASYNC_BH).qword(123456789n); x.push({ kind: 'bh', value: '123456789', icount: ic });
  w.ev(E.ASYNC_BH_ONESHOT).qword(2n ** 64n - 1n);
  x.push({ kind: 'bh', detail: 'oneshot', value: '18446744073709551615' });
  // input: key number, key qcode, btn, rel, abs, mtt, sync
  w.ev(E.ASYNC_INPUT).dword(0).dword(0).qword(-5n).byte(1); x.push({ kind: 'input', detail: 'key number=-5 down' });
  w.ev(E.ASYNC_INPUT).dword(0).dword(1).dword(36).byte(0); x.push({ kind: 'input', detail: 'key qcode=36 up' });
  w.ev(E.ASYNC_INPUT).dword(1).dword(2).byte(1); x.push({ kind: 'input', detail: 'btn 2 down' });
  w.ev(E.ASYNC_INPUT).dword(2).dword(1).qword(-3n); x.push({ kind: 'input', detail: 'rel axis=1 value=-3' });
  w.ev(E.ASYNC_INPUT).dword(3).dword(0).qword(32767n); x.push({ kind: 'input', detail: 'abs axis=0 value=32767' });
  w.ev(E.ASYNC_INPUT).dword(4).dword(1).qword(2n).qword(7n).dword(1).qword(400n);
  x.push({ kind: 'input', detail: 'mtt type=1 slot=2 tracking-id=7 axis=1 value=400' });
  w.ev(E.ASYNC_INPUT_SYNC); x.push({ kind: 'input', detail: 'sync' });
  insns(5);
  const serialBytes = [0x68, 0x00, 0xff, 0x0a, 0xe9];
  w.ev(E.ASYNC_CHAR_READ).byte(2).array(serialBytes);
  x.push({ kind: 'serial-input', bytes: 'h\u0000\u00ff\n\u00e9', device: 2, size: 5, icount: ic });
  w.ev(E.ASYNC_CHAR_READ).byte(0).array([]); x.push({ kind: 'serial-input', bytes: '', size: 0 });
  w.ev(E.ASYNC_BLOCK).qword(42n); x.push({ kind: 'block', value: '42' });
  w.ev(E.ASYNC_NET).byte(1).dword(0x10).array(Buffer.alloc(60, 0xab));
  x.push({ kind: 'network', device: 1, value: '16', size: 60 });
  SHUTDOWN_CAUSES_7_2.forEach((cause, i) => {
    w.ev(E.SHUTDOWN + i); x.push({ kind: 'shutdown', detail: cause });
  });
  w.ev(E.SHUTDOWN + 11); x.push({ kind: 'shutdown', detail: 'cause-11' }); // EVENT_SHUTDOWN_LAST
  w.ev(E.CHAR_WRITE).dword(-11).dword(3); x.push({ kind: 'char-write', value: '-11', detail: 'offset 3' });
  w.ev(E.CHAR_READ_ALL).array([1, 2, 3]); x.push({ kind: 'char-read-all', size: 3 });
  w.ev(E.CHAR_READ_ALL_ERROR).dword(-4); x.push({ kind: 'char-read-all', detail: 'error', value: '-4' });
  w.ev(E.AUDIO_OUT).qword(4410n); x.push({ kind: 'audio', detail: 'out', value: '4410' });
  w.ev(E.AUDIO_IN).qword(2n).qword(7n).qword(1n).qword(2n).qword(3n).qword(4n);
  x.push({ kind: 'audio', detail: 'in', value: '2', size: 16 + 32 });
  w.ev(E.RANDOM).dword(0).array(Buffer.alloc(16, 7)); x.push({ kind: 'random', value: '0', size: 16 });
  w.ev(E.CLOCK_HOST).qword(1795328981504215000n); x.push({ kind: 'clock', detail: 'host', value: '1795328981504215000' });
  w.ev(E.CLOCK_VIRTUAL_RT).qword(-1n); x.push({ kind: 'clock', detail: 'virtual-rt', value: '-1' });
  w.ev(E.CLOCK_HOST).qword(-(2n ** 63n)); x.push({ kind: 'clock', detail: 'host', value: '-9223372036854775808' });
  w.ev(E.CLOCK_HOST).qword(2n ** 63n - 1n); x.push({ kind: 'clock', detail: 'host', value: '9223372036854775807' });
  w.ev(E.CLOCK_HOST).qword(2n ** 53n + 1n); x.push({ kind: 'clock', detail: 'host', value: '9007199254740993' });
  CHECKPOINTS_7_2.forEach((name, i) => {
    w.ev(E.CHECKPOINT + i); x.push({ kind: 'checkpoint', detail: name });
  });
  insns(7);
  w.ev(E.END); x.push({ kind: 'end', icount: ic });
  return { w, expected: x };
}

test('synthetic log: every event kind with its exact payload layout', () => {
  const { w, expected } = everyKind();
  const buf = w.buffer();
  const idx = parseReplayLog(buf);
  checkInvariants(idx);
  assert.equal(idx.complete, true);
  assert.equal(idx.events.length, expected.length);
  // every non-instruction event byte written is one event, at its offset
  const evOffsets = w.eventOffsets.filter((o) => buf[o] !== E.INSTRUCTION);
  assert.deepEqual(idx.events.map((e) => e.offset), evOffsets);
  expected.forEach((x, i) => {
    const e = idx.events[i]!;
    for (const [k, v] of Object.entries(x)) {
      assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, `event ${i} (${e.kind}) field ${k}`);
    }
  });
  assert.equal(idx.totalIcount, 100 + 0xffffffff + 5 + 7);
  assert.equal(idx.counts['shutdown'], 12);
  assert.equal(idx.counts['checkpoint'], 9);
  assert.equal(idx.counts['input'], 7);
  const serial = idx.events.find((e) => e.kind === 'serial-input')!;
  assert.equal(JSON.parse(JSON.stringify(serial)).bytes, 'h\u0000\u00ff\n\u00e9');
});

test('synthetic log cut at every byte: truncated (strict), a clean prefix (allowIncomplete)', () => {
  const { w } = everyKind();
  const buf = w.buffer();
  const full = parseReplayLog(buf);
  const boundaries = new Set(w.eventOffsets);
  for (let cut = 0; cut < buf.length; cut++) {
    const part = buf.subarray(0, cut);
    expectError(() => parseReplayLog(part), 'truncated');
    if (cut < 12) continue;
    const idx = parseReplayLog(part, { allowIncomplete: true });
    assert.equal(idx.complete, false);
    assert.deepEqual(idx.events, full.events.slice(0, idx.events.length));
    assert.ok(idx.parsedBytes <= cut);
    if (boundaries.has(cut)) assert.equal(idx.parsedBytes, cut, `cut ${cut} is between events`);
  }
});

test('unknown input event kinds are corrupt, not silently misparsed', () => {
  const w = new LogWriter().ev(E.ASYNC_INPUT).dword(9).ev(E.END);
  expectError(() => parseReplayLog(w.buffer()), 'corrupt', 'input event', 'kind 9');
  const k = new LogWriter().ev(E.ASYNC_INPUT).dword(0).dword(5).ev(E.END);
  expectError(() => parseReplayLog(k.buffer()), 'corrupt', 'key value kind 5');
});

test('empty and header-only logs', () => {
  expectError(() => parseReplayLog(Buffer.alloc(0)), 'truncated', 'shorter than its header');
  expectError(() => parseReplayLog(new LogWriter().buffer()), 'truncated', 'without the end event');
  const minimal = parseReplayLog(new LogWriter().ev(E.END).buffer());
  assert.equal(minimal.complete, true);
  assert.equal(minimal.totalIcount, 0);
  assert.deepEqual(minimal.counts, { end: 1 });
});

test('format table matches the event bytes seen in real logs', () => {
  const codes = FORMAT_QEMU_7_2.codes;
  assert.equal(codes.length, 40); // EVENT_COUNT
  assert.equal(FORMAT_QEMU_7_2.endCode, 39);
  assert.equal(codes[14]!.detail, 'host-signal'); // last two bytes of every finished log: 0x0e 0x27
  assert.equal(codes[7]!.kind, 'serial-input');
  assert.equal(codes[28]!.detail, 'host');
  assert.equal(codes[37]!.detail, 'init');
  const buf = load('seabios-serial.rrlog.gz');
  assert.deepEqual([...buf.subarray(buf.length - 2)], [0x0e, 0x27]);
  assert.deepEqual([...buf.subarray(0, 12)], [0, 0xe0, 0x20, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0]);
});

// ---------------------------------------------------------------- speed, progress, cancel

test('a 10 MB log parses whole, with progress; its time is reported, not asserted', () => {
  // The real SeaBIOS log body repeated to 10 MB: the event density of a real recording
  // (about 6 bytes per event, so 1.7 million events), plus synthetic serial input in between.
  const real = load('seabios-serial.rrlog.gz');
  const body = real.subarray(12, real.length - 2);
  const parts: Buffer[] = [real.subarray(0, 12)];
  let size = 0;
  let serial = '';
  for (let i = 0; size < 10 * 1024 * 1024; i++) {
    parts.push(body);
    const ch = String.fromCharCode(97 + (i % 26));
    serial += ch;
    parts.push(new LogWriter().ev(E.ASYNC_CHAR_READ).byte(0).array([ch.charCodeAt(0)]).buffer().subarray(12));
    size += body.length + 6;
  }
  parts.push(real.subarray(real.length - 2));
  const buf = Buffer.concat(parts);
  assert.ok(parseReplayLog(real).complete); // warm up the JIT
  let best = Infinity;
  let bestCpu = Infinity;
  let idx: ReplayLogIndex | undefined;
  let progress: number[] = [];
  for (let run = 0; run < 2; run++) { // best of two: the machine may be shared
    progress = [];
    idx = undefined; // let the previous index go before timing the next run
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    idx = parseReplayLog(buf, {
      onProgress: (done, total) => {
        assert.equal(total, buf.length);
        progress.push(done);
      },
    });
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    bestCpu = Math.min(bestCpu, process.cpuUsage(c0).user / 1000);
  }
  console.log(
    `parsed ${buf.length} bytes, ${idx!.events.length} events: ${best.toFixed(0)} ms wall, ` +
      `${bestCpu.toFixed(0)} ms user CPU (best of 2)`,
  );
  // Speed belongs to benchmarks (a timed assertion fails on a loaded machine); the parser's own work
  // is about 200-450 ms of user CPU on a 2-core VM.
  assert.ok(idx!.events.length > 1_000_000);
  assert.equal(idx!.events.filter((e) => e.kind === 'serial-input').map((e) => e.bytes).join(''), interleave(real, serial));
  assert.ok(progress.length >= 9);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! > progress[i - 1]!);
  assert.equal(progress.at(-1), buf.length);
});

/** The serial input of the repeated log: the fixture's own byte, then one synthetic byte, per copy. */
function interleave(real: Buffer, serial: string): string {
  const own = parseReplayLog(real).events.filter((e) => e.kind === 'serial-input').map((e) => e.bytes).join('');
  let s = '';
  for (const ch of serial) s += own + ch;
  return s;
}

function bigLog(targetBytes: number): Buffer {
  const unit = new LogWriter();
  unit.insns(1234).ev(E.CHECKPOINT + 5).ev(E.CLOCK_HOST).qword(1795328981504215000n)
    .ev(E.CHECKPOINT + 6).ev(E.CLOCK_VIRTUAL_RT).qword(1875275714n).insns(77).ev(E.INTERRUPT);
  const u = unit.buffer().subarray(12);
  const parts: Buffer[] = [new LogWriter().buffer()];
  for (let n = 0; n < targetBytes; n += u.length) parts.push(u);
  parts.push(Buffer.from([E.SHUTDOWN + 4, E.END]));
  return Buffer.concat(parts);
}

test('an aborted signal stops a long parse', () => {
  const buf = bigLog(3 * 1024 * 1024);
  const ac = new AbortController();
  let calls = 0;
  assert.throws(
    () => parseReplayLog(buf, { signal: ac.signal, onProgress: () => { if (++calls === 1) ac.abort(new Error('cancelled by user')); } }),
    /cancelled by user/,
  );
  assert.equal(calls, 1);
});
