/** Unit tests of the recorder's small parts: input scripts, kernel probing, Linux defaults, console time points. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { UserError } from '../recorder-bridge/src/errors';
import { classifyKernel } from '../recorder-bridge/src/qemu/kernel-probe';
import { consoleLineTimepoints } from '../recorder-bridge/src/record/console-timepoints';
import { parseInputScript } from '../recorder-bridge/src/record/input-script';
import { withLinuxDefaults } from '../recorder-bridge/src/record/linux-defaults';
import type { ReplayEvent } from '../recorder-bridge/src/replay-log';
import { parseIcount } from '../recorder-bridge/src/timepoint';
import { DEMO_KERNEL, requireDemoKernel } from './helpers';

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
  it('adds console=ttyS0 nohz=off nokaslr unless the command line sets them', () => {
    assert.deepEqual(withLinuxDefaults('quiet'), { append: 'quiet console=ttyS0 nohz=off nokaslr', added: ['console=ttyS0', 'nohz=off', 'nokaslr'], warnings: [] });
    const r = withLinuxDefaults('console=ttyS1,115200 nohz=on');
    assert.deepEqual(r.added, ['nokaslr']);
    assert.equal(r.append, 'console=ttyS1,115200 nohz=on nokaslr');
    assert.match(r.warnings[0]!, /nohz=on; recording needs nohz=off/);
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
