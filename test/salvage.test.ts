/**
 * Interrupted recordings: `kill -9` of `rewind record` or of its QEMU at random moments (some
 * during a snapshot save), then `rewind info` says the recording is incomplete, `rewind salvage`
 * makes a bundle of it, and `rewind check` replays that bundle to its end with the same console.
 * Also every input salvage refuses, each with its message, leaving the .partial folder as it was.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Manifest } from '@rewind/protocol';
import { copyBundle, DEMO_KERNEL, fingerprint, REWIND_BIN, requireDemoKernel, ROOT, runRewind, tempDir, type CliResult } from './helpers';
import { prng } from './support/prng';
import { alive, killIfAlive, procStat, waitFor } from './support/procs';

/** "spin 400" runs about 3.6e9 instructions (over 30 s under record): every kill lands while it runs. */
const SPINS = 400;
const SCRIPT = 'expect ready\nexpect > \nsend spin 400\\n\nexpect spin done: \n';
/** What the guest prints until the spin ends: a salvaged console must be a prefix of it. */
const CONSOLE = `\r\nRewind demo guest 0.1\r\nready\r\n> spin ${SPINS}\r\r\n` + Array.from({ length: SPINS / 10 }, (_, i) => `spin: ${(i + 1) * 10}/${SPINS}\r\n`).join('');
const TRIALS = 10;
const SEED = 20261203;
/** Written by QEMU within a millisecond: only a snapshot save writes that much (the log comes in 4 KiB blocks). */
const SAVE_BURST_BYTES = 64 * 1024;
/** Leaked clusters (64 KiB) in the store after a kill: about a snapshot's machine state means a save was cut. */
const CUT_SAVE_LEAKS = 8;
/** A bound on waits for processes and files, so that a broken run fails instead of hanging (never reached when it works). */
const WAIT_LIMIT_MS = 30_000;

/** The QEMU a recorder records with: a descendant (under the watchdog shell) running qemu-system with rr=record. */
function qemuUnder(recorder: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    // (Not the short-lived `qemu-system-x86_64 --version` the recorder runs first.)
    if (!/(^|\/)qemu-system-[^/]*$/.test(cmd.split('\0')[0]!) || !cmd.includes('rr=record')) continue;
    for (let p: number | undefined = procStat(pid)?.ppid, depth = 0; p && depth < 4; p = procStat(p)?.ppid, depth++) {
      if (p === recorder) return pid;
    }
  }
  return undefined;
}

function waitUntil<T>(what: string, probe: () => T | undefined | false, everyMs = 5): Promise<T> {
  return waitFor(what, probe, WAIT_LIMIT_MS, everyMs);
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/** Bytes a process has written so far (/proc/PID/io, wchar). */
function writtenBytes(pid: number): number {
  const m = /^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'latin1'));
  return m ? Number(m[1]) : 0;
}

function processStartTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/** A running `rewind record` of the spin script, with its QEMU, once the log has its first block. */
interface Recording {
  out: string;
  partial: string;
  recorder: ChildProcess;
  qemu: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

async function startRecording(dir: string, name: string, script: string, cleanup: (fn: () => void) => void): Promise<Recording> {
  const out = join(dir, name);
  const recorder = spawn(process.execPath, [REWIND_BIN, 'record', '--kernel', DEMO_KERNEL, '--input', script, '--out', out, '--snapshot-every', '1M', '--quiet'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  recorder.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    recorder.once('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  let qemu: number | undefined;
  cleanup(() => {
    killIfAlive(recorder.pid);
    killIfAlive(qemu);
  });
  qemu = await waitUntil('the recorder to start QEMU', () => qemuUnder(recorder.pid!));
  const partial = `${out}.partial`;
  // QEMU writes its log in 4 KiB blocks: before the first one there is nothing to salvage.
  await waitUntil('the first block of the replay log', () => sizeOf(join(partial, 'replay.log')) > 0);
  return { out, partial, recorder, qemu, exited };
}

/** One line on stderr starting with "rewind: ", matching `pattern`, and exit code 2. */
function assertUserError(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 2, `expected exit code 2, got ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^rewind: /);
  assert.match(lines[0]!, pattern);
}

interface TrialReport {
  trial: number;
  target: 'recorder' | 'qemu';
  moment: 'random' | 'snapshot-save';
  killAtMs: number;
  burstBytes: number;
  logBytes: number;
  leaksRepaired: number;
  droppedSnapshots: string[];
  salvagedIcount: number;
  consoleBytes: number;
  salvageSeconds: number;
  checkSeconds: number;
}

describe('interrupted recordings', { timeout: 1_800_000 }, () => {
  const dir = tempDir(after, 'rewind-salvage-');
  const script = join(dir, 'spin.txt');

  before(async () => {
    requireDemoKernel();
    await fs.writeFile(script, SCRIPT);
  });

  it('refuses what it cannot salvage, with a message that says why, and changes nothing', async (t) => {
    const rec = await startRecording(dir, 'refuse.rewind', script, (fn) => t.after(fn));
    await sleep(300);
    process.kill(rec.qemu, 'SIGKILL');
    const done = await rec.exited;
    assert.equal(done.code, 2, done.stderr);
    assert.match(done.stderr, /QEMU ended without finishing its replay log .*make a bundle of it with `rewind salvage .*refuse\.rewind\.partial`/);
    await waitUntil('QEMU to be gone', () => !alive(rec.qemu));
    const original = await fingerprint(rec.partial);
    const variant = async (name: string, change: (p: string) => Promise<void>): Promise<string> => {
      const p = join(dir, `${name}.rewind.partial`);
      await copyBundle(rec.partial, p);
      await change(p);
      return p;
    };

    const file = join(dir, 'notes.txt');
    await fs.writeFile(file, 'hello\n');
    assertUserError(await runRewind(['salvage', '--quiet', file]), /is not a folder; pass the OUT\.partial folder/);
    assertUserError(await runRewind(['salvage', '--quiet', join(dir, 'nowhere.partial')]), /no folder at .*nowhere\.partial/);
    const empty = join(dir, 'empty.partial');
    await fs.mkdir(empty);
    assertUserError(await runRewind(['salvage', '--quiet', empty]), /is not the \.partial folder of a recording \(it has neither recording-setup\.json nor replay\.log\)/);
    const finished = join(dir, 'finished.rewind');
    await fs.mkdir(finished);
    await fs.writeFile(join(finished, 'manifest.json'), '{}');
    assertUserError(await runRewind(['salvage', '--quiet', finished]), /is a finished recording .*nothing to salvage/);

    const noSetup = await variant('no-setup', (p) => fs.rm(join(p, 'recording-setup.json')));
    assertUserError(await runRewind(['salvage', '--quiet', noSetup]), /incomplete recording that cannot be salvaged: it has no recording-setup\.json/);
    assertUserError(await runRewind(['info', noSetup]), /incomplete recording that cannot be salvaged/);
    const noLog = await variant('no-log', (p) => fs.rm(join(p, 'replay.log')));
    assertUserError(await runRewind(['salvage', '--quiet', noLog]), /has no replay log \(replay\.log\); there is nothing to salvage/);
    const emptyLog = await variant('empty-log', (p) => fs.truncate(join(p, 'replay.log'), 0));
    assertUserError(await runRewind(['salvage', '--quiet', emptyLog]), /replay\.log is empty: QEMU writes its log in 4 KiB blocks/);
    // A zero header and the first event (a host clock read: byte 28 and a qword) cut after 3 bytes.
    const cutLog = await variant('cut-log', (p) => fs.writeFile(join(p, 'replay.log'), Buffer.from([...new Array<number>(12).fill(0), 28, 0, 0, 0])));
    assertUserError(await runRewind(['salvage', '--quiet', cutLog]), /holds no complete event \(16 bytes\)/);
    const garbage = await variant('garbage-log', (p) => fs.writeFile(join(p, 'replay.log'), Buffer.from([...new Array<number>(12).fill(0), 0xee, 1, 2, 3])));
    assertUserError(await runRewind(['salvage', '--quiet', garbage]), /cannot be salvaged: replay log is corrupt: unknown event byte 0xee/);
    const changedKernel = await variant('changed-kernel', async (p) => {
      const f = join(p, 'recording-setup.json');
      const s = JSON.parse(await fs.readFile(f, 'utf8'));
      s.images.kernel.size += 1;
      await fs.writeFile(f, JSON.stringify(s));
    });
    assertUserError(await runRewind(['salvage', '--quiet', changedKernel]), /the kernel of the recording, .*kernel\.elf, changed since it was recorded/);
    // A recorder that is still running (here: this test process, with its start time).
    const live = await variant('live', async (p) => {
      const f = join(p, 'recording-setup.json');
      const s = JSON.parse(await fs.readFile(f, 'utf8'));
      s.recorder = { pid: process.pid, startTicks: processStartTicks(process.pid) };
      await fs.writeFile(f, JSON.stringify(s));
    });
    assertUserError(await runRewind(['salvage', '--quiet', live]), new RegExp(`is a recording in progress \\(rewind record, process ${process.pid}\\); wait until it finishes`));
    assertUserError(await runRewind(['info', live]), /is a recording in progress/);
    // A QEMU that still has the store open (its recorder gone): QEMU's image lock tells.
    const locked = await variant('locked', async () => undefined);
    const holder = spawn('qemu-system-x86_64', ['-machine', 'none', '-nodefaults', '-display', 'none', '-S', '-drive', `file=${join(locked, 'snapshots.qcow2')},if=none,id=d0`], { stdio: 'ignore' });
    t.after(() => killIfAlive(holder.pid));
    await waitUntil('QEMU to lock the store', () => {
      try {
        return readdirSync(`/proc/${holder.pid}/fd`).some((fd) => {
          try {
            return readlinkSync(`/proc/${holder.pid}/fd/${fd}`).endsWith('snapshots.qcow2');
          } catch {
            return false;
          }
        });
      } catch {
        return false;
      }
    });
    assertUserError(await runRewind(['salvage', '--quiet', locked]), /is still being recorded: a QEMU has its snapshot store open \(.*lock/);
    killIfAlive(holder.pid);

    const exists = join(dir, 'exists.rewind');
    await fs.mkdir(exists);
    assertUserError(await runRewind(['salvage', '--quiet', rec.partial, '--out', exists]), /exists\.rewind already exists; Rewind never overwrites a recording/);
    assert.deepEqual(await fingerprint(rec.partial), original, 'the .partial folder was changed');
    assert.equal(existsSync(rec.out), false);
    // Nothing of a failed salvage is left next to the bundle it would have written.
    assert.deepEqual((await fs.readdir(dir)).filter((n) => n.includes('.salvage-')), []);
  });

  it(`kill -9 of the recorder or its QEMU, ${TRIALS} times: salvage makes bundles that replay`, async (t) => {
    const random = prng(SEED);
    const reports: TrialReport[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const target = trial % 2 === 0 ? 'recorder' : 'qemu';
      const moment = trial % 4 >= 2 ? 'snapshot-save' : 'random';
      const delayMs = Math.round(100 + random() * 700);
      const rec = await startRecording(dir, `t${trial}.rewind`, script, (fn) => t.after(fn));
      const started = Date.now();
      if (trial === 0) {
        // While it records, it is a recording in progress, for info and salvage alike.
        assertUserError(await runRewind(['info', rec.partial]), /is a recording in progress \(rewind record, process \d+\)/);
        assertUserError(await runRewind(['salvage', rec.partial]), /is a recording in progress/);
        assertUserError(await runRewind(['info', rec.out]), /t0\.rewind\.partial is a recording in progress/);
      }
      await sleep(Math.max(0, delayMs - (Date.now() - started)));
      // A snapshot save writes the machine state (about 750 KB here) into the store in a burst,
      // while the log gets 4 KiB now and then: kill in the middle of such a burst.
      let burstBytes = 0;
      if (moment === 'snapshot-save') {
        let last = writtenBytes(rec.qemu);
        burstBytes = await waitUntil('a snapshot save', () => {
          const now = writtenBytes(rec.qemu);
          const delta = now - last;
          last = now;
          return delta >= SAVE_BURST_BYTES ? delta : undefined;
        }, 1);
      }
      process.kill(target === 'recorder' ? rec.recorder.pid! : rec.qemu, 'SIGKILL');
      const killAtMs = Date.now() - started;
      const done = await rec.exited;
      if (target === 'recorder') assert.equal(done.signal, 'SIGKILL');
      else {
        assert.equal(done.code, 2, done.stderr);
        assert.match(done.stderr, /QEMU ended without finishing its replay log .*`rewind salvage .*\.partial`/);
      }
      // Killing the recorder leaves QEMU to its watchdog, which kills it at once.
      await waitUntil('QEMU to be gone', () => !alive(rec.qemu));
      const logBytes = sizeOf(join(rec.partial, 'replay.log'));

      const info = await runRewind(['info', rec.partial]);
      assertUserError(info, /is an incomplete recording: it was interrupted .*make a bundle of what was recorded with `rewind salvage .*\.partial`/);
      assertUserError(await runRewind(['info', rec.out]), /t\d+\.rewind\.partial is an incomplete recording/);
      const before = await fingerprint(rec.partial);

      const s0 = Date.now();
      // Up to 1e9 instructions at --snapshot-every 1M: up to 128 snapshots to add and verify, minutes
      // on a loaded 2-core machine.
      const salvaged = await runRewind(['salvage', rec.partial], { timeoutMs: 600_000 });
      const salvageSeconds = (Date.now() - s0) / 1000;
      assert.equal(salvaged.code, 0, salvaged.stderr);
      assert.deepEqual(await fingerprint(rec.partial), before, 'salvage changed the .partial folder');
      const m = JSON.parse(await fs.readFile(join(rec.out, 'manifest.json'), 'utf8')) as Manifest;
      assert.equal(m.recording.stopReason, 'qemu-exited');
      assert.match(m.recording.stopDetail ?? '', /^salvaged from an interrupted recording: the log ends after its last complete event, at icount \d+/);
      assert.equal(m.files['recording-setup.json'], undefined);
      assert.ok(m.snapshots.list.some((s) => s.name === 'init' && s.icount === 0));
      assert.ok(m.snapshots.list.every((s) => s.icount === 0 || s.icount < m.recording.totalIcount), 'a snapshot lies past the end of the salvaged log');
      const consoleText = await fs.readFile(join(rec.out, 'console.txt'), 'latin1');
      assert.ok(CONSOLE.startsWith(consoleText), `the salvaged console is not what the guest prints:\n${JSON.stringify(consoleText)}`);
      const leaks = /(\d+) leaked clusters of the snapshot store repaired/.exec(salvaged.stderr);
      const dropped = /snapshots dropped: ([^;\n]+)/.exec(salvaged.stderr);

      const c0 = Date.now();
      const check = await runRewind(['check', rec.out, '--json'], { timeoutMs: 600_000 });
      const checkSeconds = (Date.now() - c0) / 1000;
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const c = JSON.parse(check.stdout) as { ok: boolean; icount: number; endIcount: number; consoleMatches: boolean };
      assert.equal(c.ok, true);
      assert.equal(c.consoleMatches, true);
      assert.equal(c.icount, m.recording.totalIcount);
      const r: TrialReport = {
        trial,
        target,
        moment,
        killAtMs,
        burstBytes,
        logBytes,
        leaksRepaired: leaks ? Number(leaks[1]) : 0,
        droppedSnapshots: dropped ? dropped[1]!.split(', ') : [],
        salvagedIcount: m.recording.totalIcount,
        consoleBytes: consoleText.length,
        salvageSeconds,
        checkSeconds,
      };
      reports.push(r);
      t.diagnostic(
        `trial ${trial}: kill -9 ${target} at ${killAtMs} ms (${moment}${moment === 'snapshot-save' ? `: QEMU had just written ${burstBytes} B in 1 ms` : ''}); ` +
          `log ${logBytes} B; leaks repaired ${r.leaksRepaired}; snapshots dropped ${r.droppedSnapshots.join(' ') || 'none'}; ` +
          `salvaged ${r.salvagedIcount} instructions, console ${r.consoleBytes} B; salvage ${salvageSeconds.toFixed(1)} s, check ${checkSeconds.toFixed(1)} s`,
      );
      // The recordings are not needed any more: keep the temporary folder small.
      await fs.rm(rec.partial, { recursive: true, force: true });
      await fs.rm(rec.out, { recursive: true, force: true });
    }
    const count = (f: (r: TrialReport) => boolean) => reports.filter(f).length;
    t.diagnostic(
      `kills: ${count((r) => r.target === 'recorder')} of the recorder, ${count((r) => r.target === 'qemu')} of QEMU; ` +
        `${count((r) => r.moment === 'snapshot-save')} timed into a snapshot save's write burst; ${count((r) => r.leaksRepaired >= CUT_SAVE_LEAKS)} left ${CUT_SAVE_LEAKS} or more leaked clusters (a snapshot save was cut: ` +
        `${count((r) => r.moment === 'snapshot-save' && r.leaksRepaired >= CUT_SAVE_LEAKS)} of the timed ones), ${count((r) => r.leaksRepaired > 0 && r.leaksRepaired < CUT_SAVE_LEAKS)} fewer; ` +
        `${count((r) => r.droppedSnapshots.length > 0)} dropped snapshots past the end of the log`,
    );
    assert.equal(reports.length, TRIALS);
  });
});
