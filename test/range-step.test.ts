/**
 * Range stepping (recorder-bridge/src/gdb/range-step.ts) on a scripted target: the REP decoder on
 * real encodings, and the loop's stops. The real engine: test/linux.test.ts steps over clear_bss's
 * 5.5 MB `rep stosb` with gdb's `next`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rangeStep, repStringLength, type RangeStepTarget } from '../recorder-bridge/src/gdb/range-step';
import type { RelayStop } from '../recorder-bridge/src/gdb/relay';

describe('repStringLength', () => {
  it('finds REP string instructions with their prefixes, and nothing else', () => {
    const len = (bytes: number[], is64 = true) => repStringLength(Buffer.from(bytes), is64);
    assert.equal(len([0xf3, 0xaa]), 2); // rep stosb
    assert.equal(len([0xf3, 0x48, 0xab]), 3); // rep stosq
    assert.equal(len([0xf3, 0xa4, 0x90]), 2); // rep movsb, then a nop
    assert.equal(len([0x66, 0xf3, 0xa5]), 3); // rep movsw
    assert.equal(len([0xf2, 0xae]), 2); // repne scasb
    assert.equal(len([0xf3, 0x6c]), 2); // rep insb
    assert.equal(len([0xaa]), undefined); // stosb without rep: one instruction anyway
    assert.equal(len([0xf3, 0x90]), undefined); // pause
    assert.equal(len([0xf3, 0x0f, 0xb8, 0xc0]), undefined); // popcnt
    assert.equal(len([0xf3, 0x48, 0xab], false), undefined); // 32-bit: 0x48 is dec eax, not a REX prefix
    assert.equal(len([0xf3]), undefined); // cut short
    assert.equal(len([]), undefined);
  });
});

/**
 * A scripted machine: `program` maps a pc to its instruction (length, and for a REP string one how
 * many iterations), stepping one instruction (or iteration) per stepi, as QEMU does.
 */
class Machine implements RangeStepTarget {
  readonly is64 = true;
  at = 0;
  pcNow: bigint;
  repLeft = -1;
  continues: bigint[] = [];
  steps = 0;
  constructor(
    start: bigint,
    private readonly program: Map<bigint, { len: number; rep?: number; jump?: bigint }>,
    private readonly breakpoints: bigint[] = [],
    private readonly end = 1_000_000,
  ) {
    this.pcNow = start;
  }
  async icount() {
    return this.at;
  }
  async pc() {
    return this.pcNow;
  }
  async code(address: bigint) {
    const insn = this.program.get(address);
    return Buffer.from(insn?.rep !== undefined ? [0xf3, 0xaa] : [0x90]);
  }
  private step(): void {
    const insn = this.program.get(this.pcNow)!;
    this.at++;
    if (insn.rep !== undefined) {
      if (this.repLeft < 0) this.repLeft = insn.rep;
      if (--this.repLeft > 0) return;
      this.repLeft = -1;
    }
    this.pcNow = insn.jump ?? this.pcNow + BigInt(insn.len);
  }
  async stepi() {
    if (this.at >= this.end) return this.at;
    this.steps++;
    this.step();
    return this.at;
  }
  async continueTo(address: bigint): Promise<RelayStop> {
    this.continues.push(address);
    for (;;) {
      if (this.at >= this.end) return { kind: 'end', icount: this.at };
      this.step();
      if (this.pcNow === address || this.breakpoints.includes(this.pcNow)) return { kind: 'breakpoint', icount: this.at, address: this.pcNow };
    }
  }
  hasBreakpoint(address: bigint) {
    return this.breakpoints.includes(address);
  }
}

const signal = new AbortController().signal;

describe('rangeStep', () => {
  it('runs a REP string instruction in one continue and stops where the range is left', async () => {
    // 0x10: nop; 0x11: rep stosb x 1,000,000; 0x13: nop (still in range); 0x14: out of range.
    const m = new Machine(0x10n, new Map([[0x10n, { len: 1 }], [0x11n, { len: 2, rep: 1_000_000 }], [0x13n, { len: 1 }], [0x14n, { len: 1 }]]), [], 10_000_000);
    const stop = await rangeStep(m, 0x10n, 0x14n, signal);
    assert.deepEqual(stop, { kind: 'time', icount: 1_000_002 });
    assert.equal(m.pcNow, 0x14n);
    assert.deepEqual(m.continues, [0x13n]);
    assert.equal(m.steps, 2, 'the nops were stepped, the rep was not');
  });

  it('steps at least once, and leaves at a jump out of the range', async () => {
    const m = new Machine(0x20n, new Map([[0x20n, { len: 1, jump: 0x100n }]]));
    assert.deepEqual(await rangeStep(m, 0x20n, 0x30n, signal), { kind: 'time', icount: 1 });
    assert.equal(m.pcNow, 0x100n);
  });

  it("stops at gdb's breakpoint inside the range, also one right after a REP", async () => {
    const prog = new Map([[0x10n, { len: 1 }], [0x11n, { len: 1 }], [0x12n, { len: 1 }]]);
    assert.deepEqual(await rangeStep(new Machine(0x10n, prog, [0x12n]), 0x10n, 0x20n, signal), { kind: 'breakpoint', icount: 2, address: 0x12n });
    const rep = new Map([[0x10n, { len: 2, rep: 50 }], [0x12n, { len: 1 }]]);
    assert.deepEqual(await rangeStep(new Machine(0x10n, rep, [0x12n]), 0x10n, 0x20n, signal), { kind: 'breakpoint', icount: 50, address: 0x12n });
  });

  it('reports the end of the recording, inside a REP or between steps', async () => {
    const rep = new Map([[0x10n, { len: 2, rep: 500 }]]);
    assert.deepEqual(await rangeStep(new Machine(0x10n, rep, [], 100), 0x10n, 0x20n, signal), { kind: 'end', icount: 100 });
    const loop = new Map([[0x10n, { len: 1, jump: 0x10n }]]);
    assert.deepEqual(await rangeStep(new Machine(0x10n, loop, [], 7), 0x10n, 0x20n, signal), { kind: 'end', icount: 7 });
  });

  it('stops where it is when the signal is aborted (gdb ^C)', async () => {
    const ac = new AbortController();
    const loop = new Map([[0x10n, { len: 1, jump: 0x10n }]]);
    const m = new Machine(0x10n, loop);
    const origStep = m.stepi.bind(m);
    m.stepi = async () => {
      const at = await origStep();
      if (at === 5) ac.abort();
      return at;
    };
    assert.deepEqual(await rangeStep(m, 0x10n, 0x20n, ac.signal), { kind: 'time', icount: 5 });
  });
});
