/**
 * A Linux guest with a disk, recorded through QEMU's blkreplay (`rewind record --linux --disk`), on
 * real QEMU with Debian's kernel (the Linux fixture's). The guest mounts an ext2 disk made here,
 * reads a file the host put there, writes one of its own, then (after a busy stretch during which
 * snapshots are taken) drops its caches and reads its own write back from the disk, writes again,
 * and hashes the whole device. The tests check that the user's disk file never changes, that the
 * manifest and `rewind info` describe the disk, that a full replay (`rewind check`) reproduces the
 * console, that a replay started from a snapshot taken between the two phases reads the disk as it
 * was at that snapshot, and that the replay engine lands in the same state as a straight replay at
 * time points inside the disk I/O (where it also saves and reloads snapshots of its own).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import type { Manifest, SnapshotEntry } from '../recorder-bridge/src/bundle/manifest';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { ReplayWorker } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { runRewind, tempDir } from './helpers';
import { buildInitramfs, ensureLinuxFixture, VIRTIO_BLK_MODULES, insmodLines } from './linux-initramfs';
import type { LinuxFixture } from './linux-fixture';
import { symbolAddresses } from './support/elf';
import { qemuProcessesMentioning } from './support/procs';

const SNAPSHOT_EVERY = 300_000_000;

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
${insmodLines(VIRTIO_BLK_MODULES)}
i=0; while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext2 /dev/vda /mnt || echo "disk-test: mount failed"
echo "disk-test: phase1 hello $(cat /mnt/hello.txt)"
echo "A-$(cut -d' ' -f1 /proc/uptime)-$RANDOM$RANDOM" > /mnt/written.txt
echo "disk-test: phase1 wrote $(cat /mnt/written.txt)"
umount /mnt
# A busy stretch (about 650M instructions), so that snapshots fall between the two phases.
i=0; while [ $i -lt 45000 ]; do i=$((i+1)); done
echo "disk-test: phase2 begins"
echo 3 > /proc/sys/vm/drop_caches
mount -t ext2 /dev/vda /mnt
A=$(cat /mnt/written.txt)
echo "disk-test: phase2 read $A"
echo "disk-test: kmsg $A" > /dev/kmsg
echo "B-$RANDOM$RANDOM" >> /mnt/written.txt
umount /mnt
echo 3 > /proc/sys/vm/drop_caches
mount -t ext2 -o ro /dev/vda /mnt
echo "disk-test: phase2 reread $(tr '\\n' ' ' < /mnt/written.txt)"
umount /mnt
echo "disk-test: sum $(md5sum < /dev/vda | cut -c1-32)"
echo "disk-test: done"
poweroff -f
`;

interface Line {
  line: number;
  start: number;
  icount: number;
  text: string;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('recording a Linux guest with a disk (blkreplay)', { timeout: 1_800_000 }, () => {
  const dir = tempDir(after, 'rewind-disk-');
  let fixture: LinuxFixture;
  let disk: string;
  let diskBefore: { sha256: string; mtimeMs: number; mode: number };
  let bundlePath: string;
  let manifest: Manifest;
  let lines: Line[];
  let recordedConsole: Buffer;

  const lineWith = (text: string): Line => {
    const l = lines.find((x) => x.text.includes(text));
    assert.ok(l, `the console has no line with "${text}"`);
    return l;
  };
  const valueAfter = (prefix: string): string => lineWith(prefix).text.slice(lineWith(prefix).text.indexOf(prefix) + prefix.length).trim();
  /** The last recorded snapshot before the guest's second phase (whose disk reads must replay from it). */
  const midSnapshot = (): SnapshotEntry => {
    const phase2 = lineWith('disk-test: phase2 begins').start;
    const wrote = lineWith('disk-test: phase1 wrote').icount;
    const s = manifest.snapshots.list.filter((x) => x.icount > wrote && x.icount < phase2).pop();
    assert.ok(s, `no snapshot between the phases (${wrote}..${phase2}): ${manifest.snapshots.list.map((x) => `${x.name}@${x.icount}`).join(' ')}`);
    return s;
  };

  before(async () => {
    fixture = await ensureLinuxFixture();
    const initrd = join(dir, 'disk-initrd.cpio.gz');
    await fs.writeFile(initrd, await buildInitramfs(fixture, { init: INIT, modules: VIRTIO_BLK_MODULES }));
    // An ext2 disk made without root (mke2fs -d), read-only for good measure.
    const content = join(dir, 'content');
    await fs.mkdir(content);
    await fs.writeFile(join(content, 'hello.txt'), 'hello from the host disk\n');
    disk = join(dir, 'disk.img');
    execFileSync('mke2fs', ['-q', '-t', 'ext2', '-d', content, '-L', 'rewind', disk, '8M']);
    await fs.chmod(disk, 0o444);
    const st = await fs.stat(disk);
    diskBefore = { sha256: sha256(await fs.readFile(disk)), mtimeMs: st.mtimeMs, mode: st.mode };

    bundlePath = join(dir, 'disk.rewind');
    const started = Date.now();
    const r = await runRewind(
      ['record', '--linux', '--kernel', fixture.bzImage, '--initrd', initrd, '--disk', disk, '--out', bundlePath, '--snapshot-every', String(SNAPSHOT_EVERY), '--timeout', '300', '--quiet', '--no-index'],
      { timeoutMs: 420_000 },
    );
    assert.equal(r.code, 0, `record failed: ${r.stderr}\n${r.stdout}`);
    process.stderr.write(`record-disk: recorded in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    manifest = (await Bundle.open(bundlePath)).manifest;
    recordedConsole = await fs.readFile(join(bundlePath, 'console.txt'));
    lines = (await fs.readFile(join(bundlePath, 'console.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
  });

  after(async () => {
    assert.deepEqual(await qemuProcessesMentioning(dir, { graceMs: 3000 }), [], 'QEMU processes left behind');
  });

  it("never changes the user's disk file", async () => {
    const st = await fs.stat(disk);
    assert.equal(sha256(await fs.readFile(disk)), diskBefore.sha256);
    assert.equal(st.mtimeMs, diskBefore.mtimeMs);
    assert.equal(st.mode, diskBefore.mode);
  });

  it('the guest read the disk and read back its own write after dropping its caches', () => {
    assert.equal(valueAfter('disk-test: phase1 hello'), 'hello from the host disk');
    const wrote = valueAfter('disk-test: phase1 wrote');
    assert.match(wrote, /^A-\d+\.\d+-\d+$/);
    assert.equal(valueAfter('disk-test: phase2 read'), wrote);
    assert.match(valueAfter('disk-test: phase2 reread'), new RegExp(`^${wrote} B-\\d+$`));
    assert.match(valueAfter('disk-test: sum'), /^[0-9a-f]{32}$/);
    assert.ok(!lines.some((l) => /insmod .* failed|mount failed/.test(l.text)), 'a module or the mount failed');
  });

  it('the second phase read the disk after the snapshot before it (block completions in the log)', async () => {
    const index = await (await Bundle.open(bundlePath)).readIndex();
    const from = midSnapshot().icount;
    const read = lineWith('disk-test: phase2 read').icount;
    const blocks = index.events.filter((e) => e.kind === 'block' && e.icount > from && e.icount < read);
    assert.ok(blocks.length > 0, `no disk request completed between the snapshot (${from}) and the phase-2 read (${read})`);
  });

  it('the manifest and rewind info describe the disk and the Linux defaults', async () => {
    // Version 3 (verified snapshots) carries the disk of version 2.
    assert.equal(manifest.formatVersion, 3);
    assert.ok(manifest.snapshots.list.every((s) => s.verified), 'every snapshot of the disk recording was verified');
    assert.deepEqual(manifest.guest.disk, {
      file: 'snapshots.qcow2',
      originalPath: disk,
      format: 'raw',
      sha256: diskBefore.sha256,
      size: 8 << 20,
      virtualSize: 8 << 20,
      device: 'virtio-blk-pci',
    });
    assert.deepEqual(manifest.guest.appendDefaults, ['console=ttyS0', 'nohz=off', 'nokaslr', 'panic=-1']);
    assert.equal(manifest.recording.stopReason, 'guest-poweroff');
    assert.ok((manifest.stats.eventCounts.block ?? 0) > 0, 'the log has block (disk completion) events');
    const argv = manifest.qemu.recordArgv.join(' ');
    assert.match(argv, /-drive file=\S+snapshots\.qcow2,if=none,id=rr -drive driver=blkreplay,if=none,image=rr,id=disk0 -device virtio-blk-pci,drive=disk0/);
    const info = await runRewind(['info', bundlePath]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, new RegExp(`^disk\\s+${disk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(raw, 8\\.0 MiB, sha256 ${diskBefore.sha256.slice(0, 16)}\\) as virtio-blk-pci \\(/dev/vda in Linux\\)`, 'm'));
    assert.match(info.stdout, /^linux defaults\s+console=ttyS0 nohz=off nokaslr panic=-1 /m);
    const names = manifest.snapshots.list.map((s) => s.name);
    assert.equal(new Set(names).size, names.length, `each snapshot is listed once: ${names.join(' ')}`);
    assert.ok(manifest.snapshots.list.every((s) => s.vmStateBytes > 0), 'every listed snapshot holds machine state');
  });

  it('rewind check replays the whole recording, disk I/O included, with the same console', async () => {
    const started = Date.now();
    const r = await runRewind(['check', bundlePath], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^replay\s+ok/m);
    assert.match(r.stdout, /^console\s+ok/m);
    process.stderr.write(`record-disk: full replay (rewind check) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  it('a replay from a snapshot between the phases reads the disk as it was at that snapshot', async () => {
    const snap = midSnapshot();
    const bundle = await Bundle.open(bundlePath);
    const ws = await ReplayWorkspace.create(bundle);
    const end = manifest.recording.totalIcount;
    const started = Date.now();
    const w = await ReplayWorker.start(bundle, ws, { ...snap, image: ws.snapshots, source: 'record' }, lineWith('disk-test: done').icount + 1);
    try {
      // A worker starts one instruction past its snapshot: it is never left paused right after
      // loading one (docs/replay-research.md, question 4).
      assert.equal(w.icount, snap.icount + 1);
      await w.runTo(lineWith('disk-test: done').icount);
      const out = await w.consoleOutput();
      process.stderr.write(`record-disk: replay from ${snap.name}@${snap.icount} to the end (of ${end}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      // Everything the guest printed after the snapshot, byte for byte: the phase-2 lines show what it read from the disk.
      const text = out.toString('latin1');
      assert.ok(text.includes(lineWith('disk-test: phase2 read').text), `the replay did not print the recorded phase-2 read:\n${text.slice(-800)}`);
      assert.ok(text.includes(lineWith('disk-test: sum').text));
      const from = recordedConsole.indexOf(out.subarray(0, Math.min(out.length, 64)));
      assert.ok(from >= 0 && recordedConsole.subarray(from, from + out.length).equals(out), 'the replayed console is a piece of the recorded one');
    } finally {
      await w.kill();
      await ws.dispose();
    }
  });

  it('the engine lands in the same state as a straight replay at time points inside the disk I/O', { timeout: 900_000 }, async () => {
    const sym = symbolAddresses(fixture.vmlinux, ['log_buf', 'log_buf_len']);
    const from = lineWith('disk-test: phase2 begins').start;
    const to = lineWith('disk-test: done').icount;
    const kmsg = lineWith('disk-test: kmsg').text.replace(/^\[[^\]]*\]\s*/, '');
    // Time points spread over the second phase: the mount, the reads, the write, the hashing.
    const targets = [0.02, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1].map((f) => Math.floor(from + f * (to - from)));
    type State = { regs: string; log: string; hasKmsg: boolean };
    const stateOf = async (read: { registers(): Promise<Record<string, bigint>>; readMemory(a: bigint, n: number): Promise<Buffer> }): Promise<State> => {
      const regs = await read.registers();
      const buf = (await read.readMemory(sym.get('log_buf')!, 8)).readBigUInt64LE(0);
      const len = (await read.readMemory(sym.get('log_buf_len')!, 4)).readUInt32LE(0);
      const log = await read.readMemory(buf, len);
      return { regs: Object.entries(regs).map(([k, v]) => `${k}=${v.toString(16)}`).join(' '), log: sha256(log), hasKmsg: log.includes(Buffer.from(kmsg)) };
    };
    // Ground truth: one process from the snapshot before the phase, forward only.
    const bundle = await Bundle.open(bundlePath);
    const ws = await ReplayWorkspace.create(bundle);
    const truth = new Map<number, State>();
    const straight = await ReplayWorker.start(bundle, ws, { ...midSnapshot(), image: ws.snapshots, source: 'record' }, to + 1);
    try {
      for (const t of targets) {
        await straight.runTo(t);
        truth.set(t, await stateOf(straight));
      }
    } finally {
      await straight.kill();
      await ws.dispose();
    }
    assert.equal(truth.get(to)!.hasKmsg, true, 'at the end of the phase the kernel log holds the line the guest wrote with what it read from the disk');
    assert.equal(truth.get(targets[0]!)!.hasKmsg, false);

    const engine = await ReplayEngine.open(bundlePath);
    try {
      // Backward and forward in an order that makes the engine start from recorded snapshots,
      // from snapshots it saved itself in the middle of the disk I/O, and run forward.
      const order = [targets[7]!, targets[2]!, targets[5]!, targets[0]!, targets[6]!, targets[3]!, targets[1]!, targets[4]!, targets[7]!];
      const mismatches: string[] = [];
      const started = Date.now();
      for (const t of order) {
        await engine.seek(t);
        assert.equal(engine.icount, t);
        const s = await stateOf(engine);
        const want = truth.get(t)!;
        if (s.regs !== want.regs || s.log !== want.log) mismatches.push(`at ${t}: ${s.regs !== want.regs ? 'registers' : ''} ${s.log !== want.log ? 'kernel log' : ''}`);
      }
      process.stderr.write(
        `record-disk: ${order.length} engine seeks inside the disk I/O in ${((Date.now() - started) / 1000).toFixed(1)} s; snapshots it added: ${engine.ladderPoints().filter((p) => p.source === 'replay').length}\n`,
      );
      assert.deepEqual(mismatches, []);
      assert.ok(engine.ladderPoints().some((p) => p.source === 'replay' && p.icount > from), 'the engine saved snapshots of its own inside the phase');
    } finally {
      await engine.close();
    }
  });

  it('records a qcow2 disk too, and leaves it unchanged', async () => {
    const qcow2 = join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', disk, qcow2]);
    const before = sha256(await fs.readFile(qcow2));
    const out = join(dir, 'qcow2.rewind');
    const initrd = join(dir, 'disk-initrd.cpio.gz');
    const r = await runRewind(
      ['record', '--linux', '--kernel', fixture.bzImage, '--initrd', initrd, '--disk', qcow2, '--out', out, '--stop-on', 'disk-test: phase1 wrote', '--snapshot-every', '0', '--timeout', '300', '--quiet', '--no-index', '--json'],
      { timeoutMs: 420_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(await fs.readFile(qcow2)), before);
    const m = (await Bundle.open(out)).manifest;
    assert.equal(m.guest.disk?.format, 'qcow2');
    assert.equal(m.guest.disk?.virtualSize, 8 << 20);
    assert.equal(m.recording.stopReason, 'stop-on');
    assert.match(await fs.readFile(join(out, 'console.txt'), 'latin1'), /disk-test: phase1 hello hello from the host disk/);
    await fs.rm(out, { recursive: true, force: true });
  });
});

describe('rewind record --disk with a bad disk', () => {
  const dir = tempDir(after, 'rewind-baddisk-');
  const kernel = join(dir, 'bzImage');

  before(async () => {
    // A minimal bzImage header is enough: the disk is checked before QEMU starts.
    const img = Buffer.alloc(0x1000);
    img.writeUInt16LE(0xaa55, 0x1fe);
    img.write('HdrS', 0x202, 'latin1');
    await fs.writeFile(kernel, img);
  });

  const recordWith = (disk: string, out: string) => runRewind(['record', '--linux', '--kernel', kernel, '--disk', disk, '--out', join(dir, out), '--quiet']);
  const assertRefused = (r: { code: number | null; stderr: string }, re: RegExp, out: string) => {
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /internal error|at .*\.js:\d+/);
    assert.equal(existsSync(join(dir, out)), false);
    assert.equal(existsSync(join(dir, `${out}.partial`)), false);
  };

  it('a missing file, a folder, an empty file, a format it does not record', async () => {
    assertRefused(await recordWith(join(dir, 'nope.img'), 'a.rewind'), /^rewind: disk image not found: .*nope\.img; check the path, or pass a raw or qcow2 disk image file \(Rewind copies it into the recording and never writes to it\)$/m, 'a.rewind');
    assertRefused(await recordWith(dir, 'b.rewind'), /is a directory, not a disk image; .*mke2fs -t ext2 -d FOLDER/, 'b.rewind');
    await fs.writeFile(join(dir, 'empty.img'), '');
    assertRefused(await recordWith(join(dir, 'empty.img'), 'c.rewind'), /the disk image .*empty\.img is empty; /, 'c.rewind');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', join(dir, 'disk.vmdk'), '1M']);
    assertRefused(await recordWith(join(dir, 'disk.vmdk'), 'd.rewind'), /is a vmdk image; Rewind records raw and qcow2 disks: convert it first \(qemu-img convert -O qcow2 /, 'd.rewind');
    const r = await runRewind(['record', '--linux', '--kernel', kernel, '--disk', '', '--out', join(dir, 'e.rewind')]);
    assertRefused(r, /--disk needs a disk image file/, 'e.rewind');
  });
});

describe('the Linux preset with a panicking guest', { timeout: 1_800_000 }, () => {
  const dir = tempDir(after, 'rewind-panic-');
  let fixture: LinuxFixture;
  let initrd: string;
  const PANIC_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
echo "panic-test: crashing"
echo 1 > /proc/sys/kernel/sysrq
echo c > /proc/sysrq-trigger
`;

  before(async () => {
    fixture = await ensureLinuxFixture();
    initrd = join(dir, 'panic-initrd.cpio.gz');
    await fs.writeFile(initrd, await buildInitramfs(fixture, { init: PANIC_INIT }));
  });

  after(async () => {
    assert.deepEqual(await qemuProcessesMentioning(dir, { graceMs: 3000 }), [], 'QEMU processes left behind');
  });

  /** Finishing verified the init snapshot: a replay from it reached the end of the log. */
  const assertInitVerified = (m: Manifest, stderr: string) =>
    assert.equal(m.snapshots.list[0]?.verified, true, `the init snapshot was verified: ${JSON.stringify(m.snapshots.verification)}\n${stderr}`);

  it('with panic=-1 (a default) the recording ends at the reboot after the panic, and says so', async () => {
    const out = join(dir, 'panic.rewind');
    const r = await runRewind(['record', '--linux', '--kernel', fixture.bzImage, '--initrd', initrd, '--out', out, '--snapshot-every', '0', '--timeout', '120', '--quiet', '--no-index', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const m = (await Bundle.open(out)).manifest;
    assert.equal(m.recording.stopReason, 'guest-poweroff');
    assert.match(m.recording.stopDetail ?? '', /^guest-reset after a kernel panic \(Kernel panic - not syncing: sysrq triggered crash\)$/);
    assert.ok(m.stats.logBytesRaw < 32 << 20, `a ${m.stats.logBytesRaw}-byte log`);
    await fs.rm(out, { recursive: true, force: true });
  });

  it('with panic=0 the spinning guest is stopped by --max-log, and the bundle is kept and replays to its end', async () => {
    const out = join(dir, 'spin.rewind');
    const r = await runRewind(['record', '--linux', '--kernel', fixture.bzImage, '--initrd', initrd, '--append', 'panic=0', '--out', out, '--snapshot-every', '0', '--max-log', '24M', '--timeout', '240', '--quiet', '--no-index'], { timeoutMs: 600_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /warning: the command line sets panic=0; after a panic the guest will spin until --timeout or --max-log stops the recording/);
    assert.match(r.stderr, /rewind: stopped early: the replay log reached [\d.]+ MiB, the limit \(--max-log 24 MiB\); the guest had panicked \(Kernel panic - not syncing: sysrq triggered crash\) and was spinning; the recording up to that point is in .*spin\.rewind\. Raise --max-log/);
    const m = (await Bundle.open(out)).manifest;
    assert.equal(m.recording.stopReason, 'log-limit');
    assert.ok(m.stats.logBytesRaw >= 24 << 20 && m.stats.logBytesRaw < 40 << 20, `a ${m.stats.logBytesRaw}-byte log`);
    // Finishing verified the init snapshot by replaying from it to the log's end, the spin included;
    // `rewind check` would replay it all again (about 2 minutes of clock-warp checkpoints).
    assertInitVerified(m, r.stderr);
    await fs.rm(out, { recursive: true, force: true });
  });

  it('with panic=0 and no log limit, --timeout stops the spinning guest on time', async () => {
    const out = join(dir, 'timeout.rewind');
    const started = Date.now();
    // Finishing includes verifying the init snapshot, a replay of the whole recording: the spin is a
    // clock-warp checkpoint every 16 instructions, which replays about 80 times slower than it was
    // recorded (docs/replay-research.md, "Checkpoint storms"): 4 to 8 minutes.
    const r = await runRewind(['record', '--linux', '--kernel', fixture.bzImage, '--initrd', initrd, '--append', 'panic=0', '--out', out, '--snapshot-every', '0', '--max-log', '0', '--timeout', '10', '--quiet', '--no-index'], { timeoutMs: 600_000 });
    const wall = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, r.stderr);
    const m = (await Bundle.open(out)).manifest;
    assert.equal(m.recording.stopReason, 'timeout');
    assert.match(m.recording.stopDetail ?? '', /^after 10 s; the guest had panicked \(Kernel panic - not syncing: sysrq triggered crash\) and was spinning$/);
    assert.ok(m.recording.wallSeconds < 15, `recorded for ${m.recording.wallSeconds} s`);
    process.stderr.write(`record-disk: a guest spinning after a panic, stopped by --timeout 10: ${(m.stats.logBytesRaw / 2 ** 20).toFixed(1)} MiB of log, ${wall.toFixed(1)} s in all\n`);
    assertInitVerified(m, r.stderr);
    await fs.rm(out, { recursive: true, force: true });
  });
});
