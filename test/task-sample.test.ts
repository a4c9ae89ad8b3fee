/**
 * replay/task-sample.ts against a fake guest: which per-CPU base it takes (GS base in kernel mode,
 * KernelGSBase in user mode), the pointer it follows, the fields it decodes, and that it gives
 * up (undefined) rather than guess when memory is unreadable. The real engine's side is in
 * test/linux.test.ts (each Value History row's task against the Linux scope at that write).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleTask, type GuestReader, type TaskProbe } from '../recorder-bridge/src/replay/task-sample';

const PROBE: TaskProbe = { currentTask: 0x1fbc0n, cpuNumber: 0x1f00cn, pid: 0x598, tgid: 0x59c, comm: 0x758 };
const KERNEL_BASE = 0xffff88800f600000n;
const USER_GS = 0x7f0000001000n;
const TASK = 0xffff888003a94000n;

function guest(o: { cs: bigint; gs: bigint; kgs: bigint; memory: Map<bigint, Buffer> }): GuestReader & { reads: bigint[] } {
  const reads: bigint[] = [];
  return {
    reads,
    registers: async () => ({ cs: o.cs, gs_base: o.gs, k_gs_base: o.kgs }),
    readMemory: async (address, length) => {
      reads.push(address);
      for (const [at, bytes] of o.memory) if (address >= at && address + BigInt(length) <= at + BigInt(bytes.length)) return bytes.subarray(Number(address - at), Number(address - at) + length);
      throw new Error(`cannot read guest memory at 0x${address.toString(16)}`);
    },
  };
}

function taskStruct(pid: number, tgid: number, comm: string): Buffer {
  const b = Buffer.alloc(0x800);
  b.writeInt32LE(pid, PROBE.pid);
  b.writeInt32LE(tgid, PROBE.tgid);
  b.write(comm, PROBE.comm, 'utf8');
  return b;
}

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

const memory = new Map<bigint, Buffer>([
  [KERNEL_BASE + PROBE.currentTask, u64(TASK)],
  [KERNEL_BASE + PROBE.cpuNumber!, i32(1)],
  [TASK, taskStruct(813, 812, 'dd')],
]);

describe('the task of a write (replay/task-sample.ts)', () => {
  it('follows the per-CPU current_task at the GS base in kernel mode', async () => {
    const g = guest({ cs: 0x10n, gs: KERNEL_BASE, kgs: USER_GS, memory });
    assert.deepEqual(await sampleTask(g, PROBE), { task: TASK, pid: 813, tgid: 812, comm: 'dd', cpu: 1 });
    assert.equal(g.reads[0], KERNEL_BASE + PROBE.currentTask);
  });

  it('takes the kernel GS base from KernelGSBase in user mode (swapgs swapped it out)', async () => {
    const g = guest({ cs: 0x33n, gs: USER_GS, kgs: KERNEL_BASE, memory });
    assert.equal((await sampleTask(g, PROBE))?.comm, 'dd');
    assert.equal(g.reads[0], KERNEL_BASE + PROBE.currentTask);
  });

  it('reads a comm of all 16 bytes whole, and leaves the CPU out without a cpu_number', async () => {
    const full = new Map(memory).set(TASK, taskStruct(7, 7, 'kworker/u8:0-ev'));
    const s = await sampleTask(guest({ cs: 0x10n, gs: KERNEL_BASE, kgs: 0n, memory: full }), { ...PROBE, cpuNumber: undefined });
    assert.deepEqual(s, { task: TASK, pid: 7, tgid: 7, comm: 'kworker/u8:0-ev' });
  });

  it('says nothing rather than guess: no per-CPU base yet, a null current_task, unreadable memory', async () => {
    assert.equal(await sampleTask(guest({ cs: 0x10n, gs: 0n, kgs: 0n, memory }), PROBE), undefined);
    const none = new Map(memory).set(KERNEL_BASE + PROBE.currentTask, u64(0n));
    assert.equal(await sampleTask(guest({ cs: 0x10n, gs: KERNEL_BASE, kgs: 0n, memory: none }), PROBE), undefined);
    // KPTI: on the user page tables the kernel's per-CPU area does not read.
    assert.equal(await sampleTask(guest({ cs: 0x33n, gs: USER_GS, kgs: KERNEL_BASE, memory: new Map() }), PROBE), undefined);
  });
});
