/**
 * Every way a recording can end leaves a complete bundle that replays to its end; snapshots are
 * taken at the requested interval; the demo guest's bug panics the recorded machine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import type { InfoJson } from '@rewind/protocol';
import { DEMO_INPUTS, DEMO_KERNEL, REWIND_BIN, ROOT, requireDemoKernel, runRewind, tempDir } from './helpers';
import { qemuProcessesMentioning } from './support/procs';

async function info(bundle: string): Promise<InfoJson> {
  const r = await runRewind(['info', bundle, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as InfoJson;
}

async function assertReplays(bundle: string): Promise<void> {
  const r = await runRewind(['check', bundle], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `check failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /replay {6}ok/);
  assert.match(r.stdout, /console {5}ok/);
}

/** No QEMU of this test's recordings (their files are all under `dir`) is still running. */
async function assertNoQemuLeft(dir: string): Promise<void> {
  assert.deepEqual(await qemuProcessesMentioning(dir), []);
}

describe('how recordings end', { timeout: 600_000 }, () => {
  const dir = tempDir(after);
  requireDemoKernel();

  it('--timeout', { timeout: 180_000 }, async () => {
    const out = join(dir, 'timeout.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--out', out, '--timeout', '2', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const i = await info(out);
    assert.equal(i.stopReason, 'timeout');
    assert.ok(i.wallSeconds >= 2 && i.wallSeconds < 10, `wall ${i.wallSeconds}`);
    await assertReplays(out);
    await assertNoQemuLeft(dir);
  });

  it('--stop-on', { timeout: 180_000 }, async () => {
    const out = join(dir, 'stop-on.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--out', out, '--stop-on', 'ready', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const i = await info(out);
    assert.equal(i.stopReason, 'stop-on');
    assert.match(await fs.readFile(join(out, 'console.txt'), 'latin1'), /ready/);
    await assertReplays(out);
  });

  it('Ctrl-C', { timeout: 180_000 }, async () => {
    const out = join(dir, 'sigint.rewind');
    const child = spawn(process.execPath, [REWIND_BIN, 'record', '--kernel', DEMO_KERNEL, '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const started = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/recording .*instructions/.test(stderr)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await started;
      child.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    assert.match(stderr, /stopping the recording/);
    const i = await info(out);
    assert.equal(i.stopReason, 'cancelled');
    await assertReplays(out);
    await assertNoQemuLeft(dir);
  });

  it('the guest powers off after the demo bug panics it', { timeout: 180_000 }, async () => {
    const out = join(dir, 'overflow.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'overflow.txt'), '--out', out, '--timeout', '60', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const i = await info(out);
    assert.equal(i.stopReason, 'guest-poweroff');
    assert.match(await fs.readFile(join(out, 'console.txt'), 'latin1'), /PANIC: heartbeat interval corrupted/);
    await assertReplays(out);
  });

  it('takes snapshots at the requested interval and lists their time points', { timeout: 180_000 }, async () => {
    const out = join(dir, 'snapshots.rewind');
    const script = join(dir, 'spin.txt');
    await fs.writeFile(script, 'expect ready\nexpect > \nsend spin 40\\n\nexpect spin done\nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', out, '--snapshot-every', '50M', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const i = await info(out);
    assert.ok(i.totalIcount > 350e6, `total ${i.totalIcount}`);
    assert.equal(i.snapshots[0]!.name, 'init');
    assert.equal(i.snapshots[0]!.icount, 0);
    assert.ok(i.snapshots.length >= 3, `only ${i.snapshots.length} snapshots`);
    for (let k = 1; k < i.snapshots.length; k++) {
      assert.ok(i.snapshots[k]!.icount > i.snapshots[k - 1]!.icount);
      assert.ok(i.snapshots[k]!.icount <= i.totalIcount);
    }
    // The list agrees with what QEMU stored.
    const stored = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', join(out, 'snapshots.qcow2')], { encoding: 'utf8' })) as { snapshots: Array<{ name: string; icount: number }> };
    assert.deepEqual(
      stored.snapshots.map((s) => [s.name, s.icount]).sort((a, b) => (a[1] as number) - (b[1] as number)),
      i.snapshots.map((s) => [s.name, s.icount]),
    );
    await assertReplays(out);
    await assertNoQemuLeft(dir);
  });
});
