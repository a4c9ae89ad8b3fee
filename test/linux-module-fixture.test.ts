/**
 * The second Linux fixture itself (test/linux-module-fixture.ts): its recording shows two loads of
 * our module with their section addresses, KASLR was on, the .ko has debug info and the kernel's
 * vermagic, and the module's code and data are in the recorded memory where the guest said.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InfoJson } from '@rewind/protocol';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { KASLR_ALIGN, KASLR_RANGE } from '../recorder-bridge/src/replay/kaslr-offset';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { runRewind } from './helpers';
import { elfSections, relocations, sectionBytes, symbolTable, type Relocation } from './support/elf';
import { qemuProcessesMentioning } from './support/procs';
import { FILLER_MODULE, koIdentity, linuxModuleFixtureOrSkip, MODULE_MARKER, MODULE_NAME, parseLoads, PRINTED_SECTIONS, type LinuxModuleFixture } from './linux-module-fixture';

/** Where the kernel puts modules on x86_64 (MODULES_VADDR .. MODULES_END). */
const MODULES_START = 0xffffffffa0000000n;
const MODULES_END = 0xfffffffffe000000n;

/**
 * The bytes of `.text` that loading leaves as they are in the file: all but those a relocation
 * fills, and the instruction byte before each one, which the kernel may patch too (the
 * `call __fentry__` becomes a nop, a `jmp __x86_return_thunk` a `ret`).
 */
function unpatchedBytes(size: number, relocs: Relocation[]): boolean[] {
  const keep = new Array<boolean>(size).fill(true);
  for (const r of relocs) {
    const width = r.type === 'R_X86_64_64' ? 8 : 4;
    for (let i = r.offset - 1; i < r.offset + width; i++) if (i >= 0 && i < size) keep[i] = false;
  }
  return keep;
}

describe('the Linux module fixture', { timeout: 1_200_000 }, () => {
  let fixture: LinuxModuleFixture | undefined;
  let skip: string | undefined;

  before(async () => {
    ({ fixture, skip } = await linuxModuleFixtureOrSkip());
  });
  after(async () => {
    if (fixture) assert.deepEqual(await qemuProcessesMentioning(dirname(fixture.bundle), { graceMs: 5000 }), [], 'QEMU processes left behind');
  });

  it('the console shows two loads of the module, each with its section addresses in the module area', async (t) => {
    if (skip) return t.skip(skip);
    const f = fixture!;
    const lines = await (await Bundle.open(f.bundle)).consoleLines();
    assert.ok(!lines.some((l) => new RegExp(`^${MODULE_MARKER}: (insmod|rmmod) .*failed`).test(l.text)), 'an insmod or rmmod failed');
    const loads = parseLoads(lines);
    assert.deepEqual(loads, f.module.loads, 'fixture.json has the loads the console shows');
    assert.deepEqual(loads.map((l) => l.load), [1, 2]);
    for (const load of loads) {
      assert.deepEqual(Object.keys(load.sections).sort(), [...PRINTED_SECTIONS].sort());
      for (const [name, address] of Object.entries(load.sections)) {
        const a = BigInt(address);
        assert.ok(a >= MODULES_START && a < MODULES_END, `load ${load.load}: ${name} at ${address} is outside the module area`);
      }
      assert.match(load.buffer ?? '', /^ffff[0-9a-f]{12}$/, `load ${load.load}: the module printed no buffer address`);
      t.diagnostic(`load ${load.load}: .text ${load.sections['.text']}, buffer ${load.buffer} (time point ${load.icount})`);
    }
    // The unload happened between the loads, and the buggy timer ran to its end in each.
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l.text));
    const unloaded = at(new RegExp(`^${MODULE_MARKER}: unloaded`));
    assert.ok(unloaded > at(new RegExp(`^${MODULE_MARKER}: load 1 `)) && unloaded < at(new RegExp(`^${MODULE_MARKER}: load 2 `)), 'the unload is not between the two loads');
    assert.equal(lines.filter((l) => l.text.includes(`${MODULE_NAME}: filled 24 bytes of 20`)).length, 2, 'the timer did not overflow the buffer in both loads');
    // The filler module took the first load's place, so that the loads differ by address.
    assert.notEqual(loads[1]!.sections['.text'], loads[0]!.sections['.text'], `${FILLER_MODULE} did not take the first load's place`);
  });

  it('rewind info says KASLR is on, with the offset the fixture found', async (t) => {
    if (skip) return t.skip(skip);
    const f = fixture!;
    const plain = await runRewind(['info', f.bundle, '--json']);
    assert.equal(plain.code, 0, plain.stderr);
    const info = JSON.parse(plain.stdout) as InfoJson;
    assert.deepEqual(info.kaslr, { on: true });
    assert.doesNotMatch(info.append, /nokaslr/);
    const found = await runRewind(['info', f.bundle, '--vmlinux', f.vmlinux], { timeoutMs: 300_000 });
    assert.equal(found.code, 0, found.stderr);
    const m = /^kaslr\s+on, offset (0x[0-9a-f]+):/m.exec(found.stdout);
    assert.ok(m, found.stdout);
    const offset = BigInt(m[1]!);
    assert.equal(offset, BigInt(f.kaslrOffset));
    assert.ok(offset > 0n && offset < KASLR_RANGE && offset % KASLR_ALIGN === 0n, `offset ${m[1]}`);
    t.diagnostic(`KASLR offset ${m[1]}`);
  });

  it('the .ko has debug info, its build-id, and the vermagic of the recorded kernel', async (t) => {
    if (skip) return t.skip(skip);
    const f = fixture!;
    const sections = elfSections(f.module.ko);
    for (const s of ['.debug_info', '.debug_line', '.text', '.data', '.bss']) assert.ok(sections.has(s), `${f.module.ko} has no ${s}`);
    assert.ok(sections.get('.debug_info')!.size > 1000, 'the .debug_info section is almost empty');
    const id = await koIdentity(f.module.ko);
    assert.deepEqual(id, { buildId: f.module.buildId, vermagic: f.module.vermagic });
    assert.match(id.buildId, /^[0-9a-f]{40}$/);
    assert.equal(id.vermagic.split(' ')[0], f.release);
    const manifest = (await Bundle.open(f.bundle)).manifest;
    assert.ok(manifest.guest.kernel.linuxVersion?.startsWith(`${f.release} `), `the recorded kernel is ${manifest.guest.kernel.linuxVersion}`);
    for (const sym of ['rewind_demo_fill', 'rewind_demo_tick', 'rewind_demo_ticks', 'rewind_demo_fill_size']) assert.ok(symbolTable(f.module.ko).has(sym), `no symbol ${sym}`);
  });

  it("in the recorded memory, each load's .text is the .ko's code, and its .data and .bss are where the guest printed them", async (t) => {
    if (skip) return t.skip(skip);
    const f = fixture!;
    const text = sectionBytes(f.module.ko, '.text');
    const relocs = relocations(f.module.ko, '.text');
    const keep = unpatchedBytes(text.length, relocs);
    assert.ok(keep.filter(Boolean).length > text.length / 2, 'relocations cover most of .text: the comparison would prove little');
    const symbols = symbolTable(f.module.ko);
    const engine = await ReplayEngine.open(f.bundle, { index: 'off' });
    try {
      for (const load of f.module.loads) {
        await engine.seek(load.icount);
        const base = BigInt(load.sections['.text']!);
        const mem = await engine.readMemory(base, text.length);
        assert.ok(mem.some((b) => b !== 0), `load ${load.load}: .text at ${load.sections['.text']} reads as zeros`);
        const differ = [...text.keys()].filter((i) => keep[i] && mem[i] !== text[i]);
        assert.deepEqual(differ, [], `load ${load.load}: .text bytes differ from the .ko's at offsets ${differ.join(', ')}`);
        // Each reference to module data holds the address where the guest said that data's
        // section is: S + A - P when rip-relative (PC32), S + A sign-extended when absolute (32S).
        let checked = 0;
        for (const r of relocs.filter((x) => x.type === 'R_X86_64_PC32' || x.type === 'R_X86_64_32S')) {
          const where = symbolSection(r.symbol, symbols);
          if (!where) continue;
          const at = base + BigInt(r.offset);
          const target = BigInt(load.sections[where.section]!) + where.offset + r.addend;
          const value = BigInt((await engine.readMemory(at, 4)).readInt32LE(0));
          const expected = r.type === 'R_X86_64_PC32' ? target - at : BigInt.asIntN(64, target);
          assert.equal(value, expected, `load ${load.load}: the ${r.type} reference to ${r.symbol} at .text+0x${r.offset.toString(16)} does not point into the printed ${where.section}`);
          checked++;
        }
        assert.ok(checked >= 6, `load ${load.load}: only ${checked} references to module data checked`);
      }
    } finally {
      await engine.close();
    }
  });
});

/** The section (.data or .bss) and offset in it of a relocation's symbol, or undefined for others. */
function symbolSection(symbol: string, symbols: Map<string, { address: bigint }>): { section: string; offset: bigint } | undefined {
  if (symbol === '.data' || symbol === '.bss') return { section: symbol, offset: 0n };
  const section = { rewind_demo_fill_size: '.data', rewind_demo_ticks: '.bss' }[symbol];
  const s = symbols.get(symbol);
  return section && s ? { section, offset: s.address } : undefined;
}
