/**
 * Records the real demo guest under real QEMU with a scripted input, then checks what the bundle
 * says against what was sent and printed, and that a replay reproduces it.
 */
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseInputScript } from '../recorder-bridge/src/record/input-script';
import type { EventsJson, InfoJson, Manifest } from '@rewind/protocol';
import { DEMO_INPUTS, DEMO_KERNEL, requireDemoKernel, runRewind, tempDir } from './helpers';
import { qemuProcessesMentioning } from './support/procs';

const BASIC = join(DEMO_INPUTS, 'basic.txt');

function sentText(script: string): string {
  return parseInputScript(readFileSync(script, 'utf8'))
    .filter((s) => s.op === 'send')
    .map((s) => (s as { text: string }).text)
    .join('');
}

async function recordBasic(dir: string, name: string): Promise<string> {
  const out = join(dir, name);
  const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', BASIC, '--out', out, '--timeout', '60', '--quiet']);
  assert.equal(r.code, 0, `record failed: ${r.stderr}`);
  assert.match(r.stdout, /stopped by\s+guest-poweroff/);
  return out;
}

async function events(bundle: string, ...extra: string[]): Promise<EventsJson> {
  const r = await runRewind(['events', bundle, '--json', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as EventsJson;
}

describe('rewind record on the demo guest', { timeout: 600_000 }, () => {
  const dir = tempDir(after);
  let bundle: string;

  before(async () => {
    requireDemoKernel();
    bundle = await recordBasic(dir, 'basic.rewind');
  });

  it('logs every typed byte as serial input, in order, at increasing time points', async () => {
    const ev = await events(bundle, '--kind', 'serial-input');
    const bytes = ev.events.map((e) => e.bytes ?? '').join('');
    assert.equal(bytes, sentText(BASIC));
    for (let i = 1; i < ev.events.length; i++) {
      assert.ok(ev.events[i]!.icount > ev.events[i - 1]!.icount, `event ${i} at ${ev.events[i]!.icount} is not after ${ev.events[i - 1]!.icount}`);
    }
    assert.ok(ev.events.every((e) => e.kind === 'serial-input' && typeof e.bytes === 'string'));
  });

  it('info totals match the event index', async () => {
    const r = await runRewind(['info', bundle, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as InfoJson;
    const all = await events(bundle);
    assert.equal(info.events.total, all.events.length);
    assert.deepEqual(info.events.byKind, all.counts);
    const recount: Record<string, number> = {};
    for (const e of all.events) recount[e.kind] = (recount[e.kind] ?? 0) + 1;
    assert.deepEqual(recount, all.counts);
    assert.equal(info.totalIcount, all.totalIcount);
    assert.ok(all.events.every((e) => e.icount <= info.totalIcount));
    assert.equal(info.stopReason, 'guest-poweroff');
    assert.equal(info.kernel.format, 'multiboot-elf64');
    assert.match(info.kernel.buildId ?? '', /^[0-9a-f]{40}$/);
    assert.deepEqual(info.snapshots.map((s) => s.name), ['init']);
  });

  it('--kind, --from and --to select events', async () => {
    const all = await events(bundle);
    const mid = all.events[Math.floor(all.events.length / 2)]!.icount;
    const late = await events(bundle, '--from', String(mid));
    assert.ok(late.events.length > 0 && late.events.every((e) => e.icount >= mid));
    const early = await events(bundle, '--to', String(mid), '--kind', 'interrupt,clock');
    assert.ok(early.events.every((e) => e.icount <= mid && (e.kind === 'interrupt' || e.kind === 'clock')));
    assert.equal(early.events.length, all.events.filter((e) => e.icount <= mid && (e.kind === 'interrupt' || e.kind === 'clock')).length);
  });

  it('keeps the console transcript, with a time point for each line', async () => {
    const raw = await fs.readFile(join(bundle, 'console.txt'), 'latin1');
    assert.match(raw, /Rewind demo guest/);
    assert.match(raw, /hello, world/);
    assert.match(raw, /Power off\./);
    const lines = (await fs.readFile(join(bundle, 'console.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; icount: number; start: number; text: string });
    assert.deepEqual(lines.map((l) => l.text), raw.replace(/\n$/, '').split('\n').map((l) => l.replace(/\r+$/, '')));
    const manifest = JSON.parse(await fs.readFile(join(bundle, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(manifest.console.timepoints, 'exact');
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      assert.ok(l.start <= l.icount && l.icount <= manifest.recording.totalIcount);
      if (i > 0) assert.ok(l.start >= lines[i - 1]!.icount);
    }
    // The echo of a typed command is printed after the guest received its last byte.
    const ev = await events(bundle, '--kind', 'serial-input');
    const helloEnter = ev.events.find((e, i) => e.bytes === '\n' && ev.events.slice(0, i).map((x) => x.bytes).join('').endsWith('hello'))!;
    const helloLine = lines.find((l) => l.text === 'hello, world')!;
    assert.ok(helloLine.start > helloEnter.icount, 'the reply comes after the Enter that asked for it');
  });

  it('a replay reaches the recorded end and prints the same console output', async () => {
    const r = await runRewind(['check', bundle, '--json'], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const c = JSON.parse(r.stdout) as { ok: boolean; icount: number; endIcount: number; totalIcount: number; consoleMatches: boolean };
    assert.equal(c.ok, true);
    assert.ok(c.icount >= c.endIcount && c.icount <= c.totalIcount, `replay stopped at ${c.icount}`);
    assert.equal(c.consoleMatches, true);
    assert.deepEqual(await qemuProcessesMentioning(dir), []);
  });

  it('makes the bundle read-only and lists every file with its hash', async () => {
    const manifest = JSON.parse(await fs.readFile(join(bundle, 'manifest.json'), 'utf8')) as Manifest;
    const names = Object.keys(manifest.files).sort();
    assert.deepEqual(names, ['console.jsonl', 'console.txt', 'guest/kernel', 'input.txt', 'replay.log.gz', 'snapshots.qcow2']);
    for (const n of [...names, 'manifest.json']) {
      assert.equal((await fs.stat(join(bundle, n))).mode & 0o222, 0, `${n} is writable`);
    }
    assert.equal(manifest.guest.kernel.sha256, manifest.files['guest/kernel']!.sha256);
    assert.ok(manifest.stats.logBytesCompressed < manifest.stats.logBytesRaw);
    const v = await runRewind(['info', bundle, '--verify']);
    assert.equal(v.code, 0, v.stderr);
  });

  it('a second recording with the same input gives an event index of the same shape', async () => {
    const second = await recordBasic(dir, 'basic-2.rewind');
    const a = await events(bundle);
    const b = await events(second);
    const shape = (e: EventsJson) => ({
      kinds: Object.keys(e.counts).sort(),
      serialInput: e.events.filter((x) => x.kind === 'serial-input').map((x) => x.bytes),
      // The guest may repeat its power-off request before QEMU acts on it: compare the causes.
      shutdownCauses: [...new Set(e.events.filter((x) => x.kind === 'shutdown').map((x) => x.detail))],
      last: e.events[e.events.length - 1]!.kind,
    });
    assert.deepEqual(shape(b), shape(a));
    // The same conversation, up to numbers that depend on timing (the tick count).
    const text = async (b: string) => (await fs.readFile(join(b, 'console.txt'), 'latin1')).replace(/\d+/g, 'N');
    assert.equal(await text(second), await text(bundle));
  });
});
