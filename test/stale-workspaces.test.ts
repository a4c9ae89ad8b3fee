/**
 * Replay workspaces left behind by a process killed with SIGKILL are removed by the next engine
 * (recorder-bridge/src/replay/stale-workspaces.ts): first the rule on made-up workspaces, then a
 * real `rewind replay --gdb` killed with SIGKILL and a real engine opened after it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { processStart, removeStaleWorkspaces } from '../recorder-bridge/src/replay/stale-workspaces';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { DEMO_INPUTS, DEMO_KERNEL, requireDemoKernel, REWIND_BIN, runRewind, tempDir } from './helpers';
import { assertNoLeftovers, killIfAlive, waitFor, waitGone, waitUntil } from './support/procs';

function workspace(parent: string, name: string, owner?: { pid: number; startTicks: number }): string {
  const dir = join(parent, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'replay.log'), 'x');
  if (owner) writeFileSync(join(dir, 'owner.json'), JSON.stringify(owner));
  return dir;
}

describe('stale replay workspaces', { timeout: 300_000 }, () => {
  const dir = tempDir(after, 'rewind-stale-ws-');

  it('a zombie (killed, not yet reaped) owns nothing', async () => {
    // `sleep 60` is the child of a shell that then becomes `sleep 61`, which never reaps it: killed,
    // it stays a zombie until its parent ends.
    const parent = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 61'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((r) => parent.stdout!.once('data', (d: Buffer) => r(d.toString().trim()))));
      assert.equal(typeof processStart(pid), 'number', 'a running process has a start time');
      process.kill(pid, 'SIGKILL');
      assert.ok(await waitUntil(() => readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.startsWith('Z'), 5_000, 10), 'the killed child is a zombie');
      assert.equal(processStart(pid), undefined, 'a zombie has no start time: its workspaces are stale');
    } finally {
      killIfAlive(parent.pid);
    }
  });

  it('removes the workspaces whose owner is gone or whose pid now belongs to another process, and nothing else', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'rewind-stale-rule-'));
    try {
      const gonePid = spawnSync('true').pid!; // exited: its pid names no process (or a later one)
      const me = { pid: process.pid, startTicks: processStart(process.pid)! };
      const dead = workspace(parent, 'rewind-replay-dead', { pid: gonePid, startTicks: 1 });
      const reused = workspace(parent, 'rewind-replay-reused', { pid: process.pid, startTicks: me.startTicks - 1 });
      const live = workspace(parent, 'rewind-replay-live', me);
      const older = workspace(parent, 'rewind-replay-older'); // no owner.json: an older Rewind's
      const other = workspace(parent, 'something-else', { pid: gonePid, startTicks: 1 });
      const removed = await removeStaleWorkspaces(parent);
      assert.deepEqual(removed.sort(), [dead, reused].sort());
      for (const d of [dead, reused]) assert.equal(existsSync(d), false, d);
      for (const d of [live, older, other]) assert.equal(existsSync(d), true, d);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('a real engine removes the workspace of a `rewind replay` killed with SIGKILL', async () => {
    requireDemoKernel();
    const bundlePath = join(dir, 'basic.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'basic.txt'), '--out', bundlePath, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    // A private TMPDIR, so that only this test's workspaces are looked at.
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const child = spawn(process.execPath, [REWIND_BIN, 'replay', bundlePath, '--gdb', '0'], { env: { ...process.env, TMPDIR: tmp }, stdio: 'ignore' });
    try {
      const left = await waitFor('the workspace of `rewind replay`', () => readdirSync(tmp).find((n) => n.startsWith('rewind-replay-') && existsSync(join(tmp, n, 'owner.json'))), 60_000);
      child.kill('SIGKILL');
      assert.ok(await waitGone(child.pid!, 10_000), 'rewind replay exited');
      assert.ok(existsSync(join(tmp, left)), 'a process killed with SIGKILL leaves its workspace');
      const saved = process.env.TMPDIR;
      process.env.TMPDIR = tmp;
      let ws: ReplayWorkspace | undefined;
      try {
        ws = await ReplayWorkspace.create(await Bundle.open(bundlePath));
      } finally {
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
      }
      try {
        assert.ok(await waitUntil(() => !existsSync(join(tmp, left)), 10_000), `the next engine removed ${left}`);
        assert.ok(existsSync(ws.dir), 'and kept its own');
      } finally {
        await ws.dispose();
      }
    } finally {
      killIfAlive(child.pid);
      await assertNoLeftovers(dir);
    }
  });
});
