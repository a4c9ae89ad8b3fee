/**
 * Unit tests of the recorder's small parts: input scripts, kernel probing, Linux defaults, console
 * time points, disk and snapshot-store arguments, sizes, manifest versions (no QEMU runs here).
 */
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { describe, it } from 'node:test';
import { UserError } from '../recorder-bridge/src/errors';
import { classifyKernel } from '../recorder-bridge/src/qemu/kernel-probe';
import { consoleLineTimepoints } from '../recorder-bridge/src/record/console-timepoints';
import { parseInputScript } from '../recorder-bridge/src/record/input-script';
import { kaslrOn, LINUX_RECORDING_DEFAULTS, withLinuxDefaults } from '../recorder-bridge/src/record/linux-defaults';
import { storeDriveArgs, qemuOptionValue } from '../recorder-bridge/src/bundle/drive';
import { validateManifest, type Manifest } from '../recorder-bridge/src/bundle/manifest';
import type { Bundle } from '../recorder-bridge/src/bundle/reader';
import { uniqueSnapshots } from '../recorder-bridge/src/record/snapshot-list';
import { guestStopFromLog, panicLine, rebootAfterPanic } from '../recorder-bridge/src/record/recording-run';
import { probeDisk } from '../recorder-bridge/src/record/disk';
import { QuietPoints } from '../recorder-bridge/src/replay/quiet-points';
import { SnapshotLadder } from '../recorder-bridge/src/replay/ladder';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { watchOf } from '../recorder-bridge/src/replay/stop-reply';
import { parseSize } from '../recorder-bridge/src/record/size';
import { parseLaunchArguments } from '../debug-adapter/src/launch-config';
import { parseRecordOptions, type RawRecordOptions } from '../recorder-bridge/src/record/options';
import type { ReplayEvent } from '../recorder-bridge/src/replay-log';
import { parseIcount } from '../recorder-bridge/src/timepoint';
import { DEMO_KERNEL, requireDemoKernel, runRewind, tempDir } from './helpers';

describe('input scripts', () => {
  it('parses expect, send with escapes, sleep, comments and blank lines', () => {
    const steps = parseInputScript('# boot\nexpect ready\n\nsend hello\\n\nsend a\\tb\\\\c\\x41\\r\nsleep 0.5\n  expect >  \n');
    assert.deepEqual(steps, [
      { op: 'expect', text: 'ready', line: 2 },
      { op: 'send', text: 'hello\n', line: 4 },
      { op: 'send', text: 'a\tb\\cA\r', line: 5 },
      { op: 'sleep', seconds: 0.5, line: 6 },
      { op: 'expect', text: '>  ', line: 7 },
    ]);
  });

  it('rejects unknown directives, bad escapes and empty arguments with the line number', () => {
    const err = (text: string) => {
      try {
        parseInputScript(text, 'in.txt');
      } catch (e) {
        assert.ok(e instanceof UserError);
        return e.message;
      }
      assert.fail('expected an error');
    };
    assert.match(err('expect ok\nwait 3\n'), /^in\.txt:2: unknown directive "wait"/);
    assert.match(err('send \\q\n'), /^in\.txt:1: unknown escape \\q/);
    assert.match(err('send \\x4\n'), /^in\.txt:1: bad escape/);
    assert.match(err('send\n'), /^in\.txt:1: "send" needs some text/);
    assert.match(err('sleep soon\n'), /^in\.txt:1: "sleep" needs a number of seconds/);
  });
});

describe('kernel probing', () => {
  it('recognises the demo guest as a 64-bit multiboot ELF with a build-id', () => {
    requireDemoKernel();
    const k = classifyKernel(readFileSync(DEMO_KERNEL), DEMO_KERNEL);
    assert.equal(k.format, 'multiboot-elf64');
    assert.equal(k.qemuBinary, 'qemu-system-x86_64');
    assert.match(k.buildId ?? '', /^[0-9a-f]{40}$/);
  });

  it('recognises a Linux bzImage header and reads its version string', () => {
    const img = Buffer.alloc(0x1000);
    img.writeUInt16LE(0xaa55, 0x1fe);
    img.write('HdrS', 0x202, 'latin1');
    img.writeUInt16LE(0x0400, 0x20e); // version string at 0x400 + 0x200
    img.write('6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP\0', 0x600, 'latin1');
    const k = classifyKernel(img, 'bzImage');
    assert.equal(k.format, 'linux-bzimage');
    assert.equal(k.qemuBinary, 'qemu-system-x86_64');
    assert.equal(k.linuxVersion, '6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP');
  });

  it('picks qemu-system-i386 for a 32-bit multiboot ELF', () => {
    const elf = Buffer.alloc(0x200);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 1; // ELFCLASS32
    elf.writeUInt16LE(3, 18); // EM_386
    elf.writeUInt32LE(0x1badb002, 0x100);
    elf.writeUInt32LE(0x3, 0x104);
    elf.writeUInt32LE((-(0x1badb002 + 0x3)) >>> 0, 0x108);
    assert.equal(classifyKernel(elf, 'k32').qemuBinary, 'qemu-system-i386');
  });

  it('refuses a 64-bit multiboot ELF without the a.out kludge, and multiboot2-only kernels', () => {
    const elf = Buffer.alloc(0x200);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2;
    elf.writeUInt16LE(62, 18);
    elf.writeUInt32LE(0x1badb002, 0x100);
    elf.writeUInt32LE(0x3, 0x104);
    elf.writeUInt32LE((-(0x1badb002 + 0x3)) >>> 0, 0x108);
    assert.throws(() => classifyKernel(elf, 'k64'), /without the a\.out kludge/);
    const mb2 = Buffer.alloc(0x200);
    mb2.writeUInt32BE(0x7f454c46, 0);
    mb2[4] = 2;
    mb2.writeUInt16LE(62, 18);
    mb2.writeUInt32LE(0xe85250d6, 0x100);
    assert.throws(() => classifyKernel(mb2, 'mb2'), /only a multiboot2 header/);
  });
});

describe('Linux recording defaults', () => {
  it('adds console=ttyS0 nohz=off nokaslr panic=-1 unless the command line sets them', () => {
    assert.deepEqual(withLinuxDefaults('quiet'), {
      append: 'quiet console=ttyS0 nohz=off nokaslr panic=-1',
      added: ['console=ttyS0', 'nohz=off', 'nokaslr', 'panic=-1'],
      warnings: [],
    });
    const r = withLinuxDefaults('console=ttyS1,115200 nohz=on panic=-1');
    assert.deepEqual(r.added, ['nokaslr']);
    assert.equal(r.append, 'console=ttyS1,115200 nohz=on panic=-1 nokaslr');
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /nohz=on; recording needs nohz=off/);
  });

  it('with --kaslr, leaves nokaslr out; a recording is randomized when its command line has no nokaslr', () => {
    assert.deepEqual(withLinuxDefaults('quiet', { kaslr: true }).added, ['console=ttyS0', 'nohz=off', 'panic=-1']);
    assert.equal(kaslrOn({ kernel: { format: 'linux-bzimage' }, append: 'quiet console=ttyS0 nohz=off panic=-1' }), true);
    assert.equal(kaslrOn({ kernel: { format: 'linux-bzimage' }, append: withLinuxDefaults('quiet').append }), false);
    assert.equal(kaslrOn({ kernel: { format: 'linux-bzimage' }, append: 'nokaslrx' }), true, 'a word, not a prefix');
    assert.equal(kaslrOn({ kernel: { format: 'multiboot-elf64' }, append: '' }), undefined, 'not Linux');
    const opts = { kernel: '/k', linux: true };
    assert.equal(parseRecordOptions({ ...opts, kaslr: true }, 'launch').kaslr, true);
    assert.throws(() => parseRecordOptions({ ...opts, kaslr: true, append: 'quiet nokaslr' }, 'cli'), /--kaslr keeps KASLR on, but --append says nokaslr/);
    assert.throws(() => parseRecordOptions({ kernel: '/k', kaslr: true, linuxDefaults: false }, 'cli'), /--kaslr leaves nokaslr out of the Linux recording defaults, which --no-linux-defaults turns off/);
    assert.throws(() => parseRecordOptions({ ...opts, kaslr: 'yes' }, 'launch'), /"record.kaslr" must be true or false/);
  });

  it('warns when the command line lets a panicking guest spin', () => {
    assert.match(withLinuxDefaults('panic=0').warnings[0]!, /sets panic=0; after a panic the guest will spin until --timeout or --max-log stops the recording/);
    assert.match(withLinuxDefaults('panic=30').warnings[0]!, /sets panic=30; after a panic the guest will spin until it reboots/);
    assert.deepEqual(withLinuxDefaults('panic=-5').warnings, []);
    assert.deepEqual(withLinuxDefaults('oops=panic').added, ['console=ttyS0', 'nohz=off', 'nokaslr', 'panic=-1']);
  });

  it('every default says why, and rewind help record lists them', async () => {
    assert.ok(LINUX_RECORDING_DEFAULTS.every((d) => d.why.length > 20));
    const help = await runRewind(['help', 'record']);
    for (const d of LINUX_RECORDING_DEFAULTS) assert.match(help.stdout, new RegExp(`^  ${d.param}\\s+${d.why.slice(0, 30).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
    assert.match(help.stdout, /--linux /);
    assert.match(help.stdout, /--disk FILE /);
    assert.match(help.stdout, /--max-log SIZE /);
  });

  it('finds the panic line in a console transcript', () => {
    assert.equal(panicLine('boot\r\n[    4.5] Kernel panic - not syncing: sysrq triggered crash\r\n[    4.6] CPU: 0'), 'Kernel panic - not syncing: sysrq triggered crash');
    assert.equal(panicLine('all fine\n'), undefined);
  });

  it('reads the guest\'s shutdown from the replay log when QMP\'s SHUTDOWN event was lost', () => {
    const ev = (index: number, kind: 'shutdown' | 'clock', detail: string) => ({ index, offset: 14 + index, icount: 100 + index, kind, detail });
    const panicked = 'boot\r\n[    4.5] Kernel panic - not syncing: sysrq triggered crash\r\n';
    assert.deepEqual(guestStopFromLog([ev(0, 'clock', 'host'), ev(1, 'shutdown', 'guest-reset'), ev(2, 'shutdown', 'host-qmp-quit')], panicked), {
      stopReason: 'guest-poweroff',
      stopDetail: 'guest-reset after a kernel panic (Kernel panic - not syncing: sysrq triggered crash)',
    });
    assert.deepEqual(guestStopFromLog([ev(0, 'shutdown', 'guest-shutdown')], 'Power off.\n'), { stopReason: 'guest-poweroff', stopDetail: 'guest-shutdown' });
    assert.equal(guestStopFromLog([ev(0, 'shutdown', 'host-signal'), ev(1, 'shutdown', 'host-qmp-quit')], panicked), undefined, 'QEMU stopped by its host is not the guest\'s doing');
    // A clean exit after a panic, with the QMP event lost: the guest's reboot after it (-no-reboot ends the run).
    assert.deepEqual(rebootAfterPanic(panicLine(panicked)), { stopReason: 'guest-poweroff', stopDetail: 'guest-reset after a kernel panic (Kernel panic - not syncing: sysrq triggered crash)' });
    assert.equal(rebootAfterPanic(panicLine('Power off.\n')), undefined, 'no panic: nothing to say');
  });
});

describe('--linux and --max-log on the command line', () => {
  it('refuses a kernel that is not a bzImage, and --linux with --no-linux-defaults', async () => {
    requireDemoKernel();
    const r = await runRewind(['record', '--linux', '--kernel', DEMO_KERNEL, '--out', '/nonexistent/x.rewind']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--linux records a Linux bzImage .* but .*kernel\.elf is a multiboot-elf64 kernel; pass the bzImage, or drop --linux for other kernels/);
    const both = await runRewind(['record', '--linux', '--no-linux-defaults', '--kernel', DEMO_KERNEL, '--out', '/nonexistent/x.rewind']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /the Linux preset \(--linux\) always adds the Linux recording defaults; drop --no-linux-defaults/);
    const size = await runRewind(['record', '--kernel', DEMO_KERNEL, '--max-log', 'lots', '--out', '/nonexistent/x.rewind']);
    assert.equal(size.code, 2);
    assert.match(size.stderr, /--max-log needs a size such as 512M or 2G \(0: no limit\), got "lots"/);
  });

  it('parses sizes in powers of 1024', () => {
    assert.equal(parseSize('0'), 0);
    assert.equal(parseSize('65536'), 65536);
    assert.equal(parseSize('512M'), 512 * 2 ** 20);
    assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
    assert.equal(parseSize('64k'), 65536);
    assert.equal(parseSize('2GiB'), 2 * 2 ** 30);
    assert.equal(parseSize('lots'), undefined);
    assert.equal(parseSize('-1M'), undefined);
  });
});

describe('disk and snapshot-store arguments', () => {
  it('attaches the store alone, or the store as the disk through blkreplay', () => {
    assert.deepEqual(storeDriveArgs('/tmp/w/snapshots.qcow2'), ['-drive', 'file=/tmp/w/snapshots.qcow2,if=none,id=rr']);
    assert.deepEqual(storeDriveArgs('/tmp/w/snapshots.qcow2', { device: 'virtio-blk-pci' }), [
      '-drive', 'file=/tmp/w/snapshots.qcow2,if=none,id=rr',
      '-drive', 'driver=blkreplay,if=none,image=rr,id=disk0',
      '-device', 'virtio-blk-pci,drive=disk0',
    ]);
    assert.equal(qemuOptionValue('/a,b/c'), '/a,,b/c');
    assert.deepEqual(storeDriveArgs('/x,y.qcow2'), ['-drive', 'file=/x,,y.qcow2,if=none,id=rr']);
  });

  it('replays a bundle with a disk with the same drives as its recording', () => {
    const fake = (disk?: Manifest['guest']['disk']) =>
      ({
        dir: '/b',
        manifest: { qemu: { machineArgs: ['-kernel', '${bundle}/guest/kernel'], icountShift: 'auto' }, guest: { ...(disk ? { disk } : {}) } },
      }) as unknown as Bundle;
    const ws = Object.create(ReplayWorkspace.prototype) as ReplayWorkspace;
    Object.assign(ws, { dir: '/w', log: '/w/replay.log', snapshots: '/w/snapshots.qcow2' });
    // The workspace's own copies are throwaway (no flushes); another image (the store itself) is not.
    assert.deepEqual(ws.replayArgs(fake(), 's3', '/w/image-1.qcow2'), [
      '-kernel', '/b/guest/kernel',
      '-icount', 'shift=auto,rr=replay,rrfile=/w/replay.log,rrsnapshot=s3',
      '-drive', 'file=/w/image-1.qcow2,if=none,id=rr,cache=unsafe',
    ]);
    assert.deepEqual(ws.replayArgs(fake(), 'init', '/b/snapshots.qcow2').slice(-2), ['-drive', 'file=/b/snapshots.qcow2,if=none,id=rr']);
    const disk = { file: 'snapshots.qcow2', originalPath: '/d.img', format: 'raw', sha256: 'ab', size: 1, virtualSize: 1, device: 'virtio-blk-pci' as const };
    assert.deepEqual(ws.replayArgs(fake(disk), 'init', '/w/image-2.qcow2').slice(4), [
      '-drive', 'file=/w/image-2.qcow2,if=none,id=rr,cache=unsafe',
      '-drive', 'driver=blkreplay,if=none,image=rr,id=disk0',
      '-device', 'virtio-blk-pci,drive=disk0',
    ]);
  });

  it('lists each snapshot once: the entry holding the machine state', () => {
    const q = (name: string, icount: number, size: number) => ({ name, icount, 'vm-clock-sec': 1, 'vm-clock-nsec': 5, 'vm-state-size': size });
    assert.deepEqual(uniqueSnapshots([q('init', 0, 900), q('init', 0, 0), q('s1', 200, 0), q('s1', 200, 7000), q('s2', 150, 10)]), [
      { name: 'init', icount: 0, vmClockNs: 1e9 + 5, vmStateBytes: 900 },
      { name: 's2', icount: 150, vmClockNs: 1e9 + 5, vmStateBytes: 10 },
      { name: 's1', icount: 200, vmClockNs: 1e9 + 5, vmStateBytes: 7000 },
    ]);
  });

  it('checks a --disk before anything is recorded', async () => {
    const dir = tempDir(after, 'rewind-disk-units-');
    const img = join(dir, 'd.img');
    await fs.writeFile(img, Buffer.alloc(1 << 20, 0x5a));
    const d = await probeDisk(img, 'qemu-img');
    assert.deepEqual({ ...d, mtimeMs: 0 }, { path: img, format: 'raw', size: 1 << 20, virtualSize: 1 << 20, device: 'virtio-blk-pci', mtimeMs: 0 });
    await assert.rejects(probeDisk(join(dir, 'missing.img'), 'qemu-img'), /disk image not found: .*missing\.img; check the path/);
    await assert.rejects(probeDisk(dir, 'qemu-img'), /is a directory, not a disk image/);
  });
});

describe('bundle format versions', () => {
  const base = () => ({
    format: 'rewind-recording',
    formatVersion: 1,
    qemu: { binary: 'qemu-system-x86_64', machineArgs: [] },
    guest: { kernel: { file: 'guest/kernel' }, memoryMiB: 256 } as Record<string, unknown>,
    recording: { totalIcount: 1, replayLog: { file: 'replay.log.gz', rawSha256: 'x' } },
    snapshots: { list: [] },
    stats: { eventCounts: {} },
    files: {},
  });
  const disk = { file: 'snapshots.qcow2', originalPath: '/d.img', format: 'raw', sha256: 'ab', size: 1, virtualSize: 1, device: 'virtio-blk-pci' };

  it('reads version 1, and version 2 with a disk', () => {
    assert.equal(validateManifest(base(), 'm').formatVersion, 1);
    const v2 = base();
    v2.formatVersion = 2;
    v2.guest.disk = disk;
    assert.equal(validateManifest(v2, 'm').guest.disk?.device, 'virtio-blk-pci');
  });

  it('reads version 3 only with a verdict on every snapshot and the verification summary', () => {
    const v3: Record<string, unknown> = base();
    v3.formatVersion = 3;
    v3.snapshots = { list: [{ name: 'init', icount: 0, vmClockNs: 0, vmStateBytes: 1 }] };
    assert.throws(() => validateManifest(v3, 'm'), /a version 3 bundle has a snapshot without "verified"/);
    v3.snapshots = { list: [{ name: 'init', icount: 0, vmClockNs: 0, vmStateBytes: 1, verified: true }] };
    assert.throws(() => validateManifest(v3, 'm'), /"snapshots.verification" is missing/);
    v3.snapshots = { list: [{ name: 'init', icount: 0, vmClockNs: 0, vmStateBytes: 1, verified: true }], verification: { method: 'qemu-rrsnapshot', seconds: 1, replaced: [], dropped: [], added: [], complete: true } };
    assert.equal(validateManifest(v3, 'm').snapshots.list[0]!.verified, true);
  });

  it('refuses a future version, an unknown disk device, and a disk in a version 1 bundle', () => {
    const v4 = base();
    v4.formatVersion = 4;
    assert.throws(() => validateManifest(v4, 'm'), /bundle format version 4 is not supported \(this Rewind reads versions 1 to 3\); upgrade Rewind/);
    const odd = base();
    odd.formatVersion = 2;
    odd.guest.disk = { ...disk, device: 'nvme' };
    assert.throws(() => validateManifest(odd, 'm'), /the recording's disk was attached as "nvme", a device this Rewind cannot replay; upgrade Rewind/);
    const v1 = base();
    v1.guest.disk = disk;
    assert.throws(() => validateManifest(v1, 'm'), /a version 1 bundle has a "guest.disk"/);
  });
});

describe('console time points', () => {
  const write = (icount: number, n = 1): ReplayEvent => ({ index: 0, icount, kind: 'char-write', value: String(n), detail: 'offset 1', offset: 0 });
  it('gives each line the icounts of the writes of its first and last byte', () => {
    const raw = 'ab\r\ncd\nef';
    const evs = [write(10), write(11), write(12, 2), write(20), write(21), write(22), write(30, 2)];
    assert.deepEqual(consoleLineTimepoints(raw, evs), [
      { text: 'ab', start: 10, icount: 12 },
      { text: 'cd', start: 20, icount: 22 },
      { text: 'ef', start: 30, icount: 30 },
    ]);
  });
  it('gives up when the writes do not add up to the transcript', () => {
    assert.equal(consoleLineTimepoints('abc\n', [write(1), write(2)]), undefined);
    assert.equal(consoleLineTimepoints('a\n', [write(1), write(2), write(3)]), undefined);
  });
});

describe('instruction counts', () => {
  it('parses plain numbers, exponents and k/M/G suffixes', () => {
    assert.equal(parseIcount('1500'), 1500);
    assert.equal(parseIcount('5e8'), 500_000_000);
    assert.equal(parseIcount('250M'), 250_000_000);
    assert.equal(parseIcount('1.5G'), 1_500_000_000);
    assert.equal(parseIcount('2k'), 2000);
    assert.equal(parseIcount('soon'), undefined);
    assert.equal(parseIcount('-5'), undefined);
  });
});

describe('the launch configuration\'s record object', () => {
  it('carries linux, disk and maxLog to the recorder, and checks them', async () => {
    requireDemoKernel();
    const dir = tempDir(after, 'rewind-launch-units-');
    const img = join(dir, 'd.img');
    await fs.writeFile(img, Buffer.alloc(4096));
    const cfg = parseLaunchArguments({ record: { kernel: DEMO_KERNEL, linux: true, disk: 'd.img', maxLog: '64M' } }, dir);
    assert.equal(cfg.kind, 'record');
    if (cfg.kind !== 'record') return;
    assert.equal(cfg.record.linux, true);
    assert.equal(cfg.record.disk, img);
    assert.equal(cfg.record.maxLogBytes, 64 * 2 ** 20);
    const plain = parseLaunchArguments({ record: { kernel: DEMO_KERNEL } }, dir);
    assert.ok(plain.kind === 'record' && plain.record.linux === undefined && plain.record.disk === undefined && plain.record.maxLogBytes === undefined);
    assert.throws(() => parseLaunchArguments({ record: { kernel: DEMO_KERNEL, linux: 'yes' } }, dir), /"record\.linux" must be true or false/);
    assert.throws(() => parseLaunchArguments({ record: { kernel: DEMO_KERNEL, disk: 'missing.img' } }, dir), /"record\.disk" \(a raw or qcow2 disk image\): missing\.img does not exist/);
    assert.throws(() => parseLaunchArguments({ record: { kernel: DEMO_KERNEL, maxLog: 'huge' } }, dir), /"record\.maxLog" needs a size such as 512M or 2G \(0: no limit\), got "huge"/);
    // The user's gdb set-up: an init file that exists, and commands one line each.
    await fs.writeFile(join(dir, 'gdbinit'), 'set $x = 1\n');
    const setup = parseLaunchArguments({ record: { kernel: DEMO_KERNEL }, gdbInit: 'gdbinit', setupCommands: ['source vmlinux-gdb.py', 'lx-ps'] }, dir);
    assert.equal(setup.gdbInit, join(dir, 'gdbinit'));
    assert.deepEqual(setup.setupCommands, ['source vmlinux-gdb.py', 'lx-ps']);
    assert.deepEqual(plain.setupCommands, []);
    assert.equal(plain.gdbInit, undefined);
    assert.throws(() => parseLaunchArguments({ record: { kernel: DEMO_KERNEL }, gdbInit: 'nope' }, dir), /"gdbInit": nope does not exist/);
    assert.throws(() => parseLaunchArguments({ record: { kernel: DEMO_KERNEL }, setupCommands: 'lx-ps' }, dir), /"setupCommands" must be a list of gdb commands, one line each/);
    assert.throws(() => parseLaunchArguments({ record: { kernel: DEMO_KERNEL }, setupCommands: ['print 1\nprint 2'] }, dir), /"setupCommands" must be a list of gdb commands, one line each/);
  });
});

describe('record options: one set of limits and messages for the command line, launch configurations, the extension and the API', () => {
  const cases: Array<[RawRecordOptions, RegExp]> = [
    [{ memory: '3' }, /: --memory needs a whole number of MiB from 8 to 65536, got "3"$/],
    [{ memory: 65537 }, /: --memory needs a whole number of MiB from 8 to 65536, got 65537$/],
    [{ snapshotEvery: 'often' }, /: --snapshot-every needs an instruction count such as 200M \(0: only the initial snapshot\), got "often"$/],
    [{ maxLog: '-1' }, /: --max-log needs a size such as 512M or 2G \(0: no limit\), got "-1"$/],
    [{ timeout: 'soon' }, /: --timeout needs a number of seconds \(0: no limit\), got "soon"$/],
    [{ expectTimeout: '0' }, /: --expect-timeout needs a number of seconds greater than 0, got "0"$/],
    [{ disk: '' }, /: --disk needs a disk image file/],
    [{ linux: true, linuxDefaults: false }, /: the Linux preset \(--linux\) always adds the Linux recording defaults; drop --no-linux-defaults/],
  ];

  it('the same check, named as each origin spells the option', () => {
    for (const [raw, message] of cases) {
      assert.throws(() => parseRecordOptions({ kernel: 'k', ...raw }, 'cli'), message);
    }
    assert.throws(() => parseRecordOptions({ kernel: 'k', memory: 3 }, 'launch'), /: "record\.memory" needs a whole number of MiB from 8 to 65536, got 3$/);
    assert.throws(() => parseRecordOptions({ kernel: 'k', snapshotEvery: 'often' }, 'extension'), /: the setting rewind\.record\.snapshotEvery needs an instruction count such as 200M/);
    assert.throws(() => parseRecordOptions({ kernel: 'k', memory: 3 }, 'api'), /: memoryMiB needs a whole number of MiB from 8 to 65536, got 3$/);
    assert.throws(() => parseRecordOptions({}, 'cli'), /: --kernel is required/);
    for (const origin of ['cli', 'launch', 'extension', 'api'] as const) {
      assert.throws(() => parseRecordOptions({ kernel: 'k', memory: 'x' }, origin), (e: Error) => e instanceof UserError && e.code === 'bad-option');
    }
  });

  it('reads strings and numbers alike, resolves files against the working folder, and keeps what was not given out', () => {
    assert.deepEqual(parseRecordOptions({ kernel: 'k.elf', snapshotEvery: '2M', maxLog: '64M', memory: '128', timeout: '0', input: 'in.txt', out: '/tmp/x.rewind', linux: false }, 'cli', '/w'), {
      kernel: '/w/k.elf',
      linux: false,
      maxLogBytes: 64 * 2 ** 20,
      memoryMiB: 128,
      input: '/w/in.txt',
      out: '/tmp/x.rewind',
      timeoutSeconds: 0,
      snapshotEvery: 2_000_000,
    });
    assert.deepEqual(parseRecordOptions({ kernel: '/k', snapshotEvery: 2_000_000, memory: 256, append: '' }, 'launch', '/w'), { kernel: '/k', append: '', memoryMiB: 256, snapshotEvery: 2_000_000 });
  });
});

describe('quiet time points', () => {
  it('are the time points at which no event of the log happens', () => {
    const q = new QuietPoints([5, 3, 3, 4, 10, 0]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10, 11].map((t) => q.isQuiet(t)), [false, true, true, false, false, false, true, false, true]);
    assert.equal(q.after(2), 6, 'past a run of busy time points');
    assert.equal(q.after(6), 7);
    assert.equal(q.atOrBefore(5), 2);
    assert.equal(q.atOrBefore(5, 4), 4, 'never below min');
    assert.equal(q.atOrBefore(0), 0);
  });

  it('hold more event time points than a Set can (a guest spinning after a panic logged 17M)', () => {
    const n = 2 ** 24 + 1000;
    // Two events at each even time point: 2^24 + 1000 distinct ones among twice as many.
    const icounts = (function* () {
      for (let i = 0; i < n; i++) {
        yield 2 * i;
        yield 2 * i;
      }
    })();
    const q = new QuietPoints(icounts);
    assert.equal(q.isQuiet(2 * (n - 1)), false);
    assert.equal(q.isQuiet(2 * (n - 1) + 1), true);
    assert.equal(q.after(2 * (n - 1)), 2 * (n - 1) + 1);
    assert.equal(q.after(2 * n), 2 * n + 1);
  });
});

describe('watchpoint stop replies', () => {
  it('reads the data address, and whether Rewind\'s QEMU marked an interrupt frame', () => {
    assert.deepEqual(watchOf('T05thread:01;watch:0000000000109fb8;'), { address: 0x109fb8n, delivery: false });
    assert.deepEqual(watchOf('T05thread:01;watch:0000000000109fb8;rewind-delivery:1;'), { address: 0x109fb8n, delivery: true });
    assert.deepEqual(watchOf('T05awatch:10;thread:01;'), { address: 0x10n, delivery: false });
    assert.equal(watchOf('T05thread:01;'), undefined, 'a breakpoint');
    assert.equal(watchOf('T05thread:01;xrewind-delivery:1;'), undefined);
  });
});

describe("where a scan starts and cuts its slices (replay/ladder.ts)", () => {
  const M = 1_000_000;
  // No events: every time point is quiet, so each snapshot's start is its icount.
  const ladder = new SnapshotLadder(
    [0, 200, 400].map((m) => ({ name: m === 0 ? 'init' : `s${m}`, icount: m * M, vmClockNs: 0, vmStateBytes: 0 })),
    'store.qcow2',
    1000 * M,
    new QuietPoints([]),
    8,
  );
  const added = (m: number) => ({ name: ladder.nextName(), icount: m * M, vmClockNs: 0, vmStateBytes: 0, image: `rw${m}.qcow2`, source: 'replay' as const });
  ladder.add(added(230), 0);
  ladder.add(added(390), 0);
  ladder.add(added(700), 0);

  it('starts at an added snapshot only where it saves a cold start (50M instructions) over a recorded one', () => {
    assert.equal(ladder.nearest(235 * M).name, 'rw1');
    assert.equal(ladder.scanStart(235 * M).name, 's200', '30M past s200: the warm start');
    assert.equal(ladder.scanStart(395 * M).name, 'rw2', '190M past s200');
    assert.equal(ladder.scanStart(705 * M).name, 'rw3', '300M past s400');
    assert.equal(ladder.scanStart(450 * M).name, 's400', 'a recorded one is always taken');
  });

  it('cuts at recorded snapshots always, and at added ones only inside long stretches', () => {
    const named = (name: string) => ladder.all().find((p) => p.name === name)!;
    assert.ok(ladder.cutsScan(named('s400'), named('rw2'), 1000 * M), 'a recorded one, 10M past the last cut');
    assert.ok(!ladder.cutsScan(named('rw1'), named('s200'), 1000 * M), '30M past the last cut is no cut');
    assert.ok(!ladder.cutsScan(named('rw2'), named('init'), 1000 * M), '10M before s400 is no cut');
    assert.ok(ladder.cutsScan(named('rw3'), named('s400'), 1000 * M), '300M on both sides (the end at 1000M)');
    assert.ok(!ladder.cutsScan(named('rw3'), named('s400'), 850 * M), 'a scan ending at 850M: 150M after it');
  });
});
