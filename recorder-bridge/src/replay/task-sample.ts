/**
 * Which Linux task (and CPU) made a write, read by the replay process at the write itself: value
 * history's task column (issue 13). The adapter knows the kernel's layout (symbols, DWARF) and
 * passes it as a TaskProbe; the bridge only follows pointers, so it stays kernel-agnostic.
 *
 * x86_64 only: the per-CPU area of the CPU that wrote is at its kernel GS base (GS base in kernel
 * mode, the swapped-out KernelGSBase MSR in user mode). A per-CPU variable's symbol is its offset
 * in that area; `current_task` there points at the task_struct. Reads that fail (early boot, a
 * user page table under KPTI) leave the task unknown: the write still counts.
 */
import type { X86Registers } from '../gdb/x86-registers';

/** The kernel layout a task sample follows (addresses and offsets from the vmlinux). */
export interface TaskProbe {
  /** Per-CPU offset of `current_task` (a task_struct pointer). */
  currentTask: bigint;
  /** Per-CPU offset of `cpu_number` (an int), when the kernel has one. */
  cpuNumber?: bigint;
  /** Offsets in struct task_struct. */
  pid: number;
  tgid: number;
  comm: number;
}

export interface SampledTask {
  /** The task_struct's address. */
  task: bigint;
  pid: number;
  tgid: number;
  comm: string;
  cpu?: number;
}

/** What a sample reads through: a paused replay process (ReplayWorker). */
export interface GuestReader {
  registers(): Promise<X86Registers>;
  readMemory(address: bigint, length: number): Promise<Buffer>;
}

const COMM_LENGTH = 16;
const MASK64 = (1n << 64n) - 1n;

/** A run's `sample` (worker-types.ts MemoryRange) read at a trigger: nothing of what is unreadable (the hit still counts). */
export async function sampleAtTrigger(g: GuestReader, sample: { address: bigint; length: number; task?: TaskProbe } | undefined): Promise<{ value?: Buffer; task?: SampledTask }> {
  if (!sample) return {};
  const value = sample.length > 0 ? await g.readMemory(sample.address, sample.length).catch(() => undefined) : undefined;
  const task = sample.task ? await sampleTask(g, sample.task) : undefined;
  return { ...(value ? { value } : {}), ...(task ? { task } : {}) };
}

export async function sampleTask(g: GuestReader, p: TaskProbe): Promise<SampledTask | undefined> {
  try {
    const regs = await g.registers();
    const user = ((regs.cs ?? 0n) & 3n) === 3n;
    const base = (user ? regs.k_gs_base : regs.gs_base) ?? 0n;
    if (base === 0n) return undefined; // before the per-CPU areas exist
    const task = (await g.readMemory((base + p.currentTask) & MASK64, 8)).readBigUInt64LE(0);
    if (task === 0n) return undefined;
    const lo = Math.min(p.pid, p.tgid, p.comm);
    const hi = Math.max(p.pid + 4, p.tgid + 4, p.comm + COMM_LENGTH);
    const b = await g.readMemory((task + BigInt(lo)) & MASK64, hi - lo);
    const comm = b.subarray(p.comm - lo, p.comm - lo + COMM_LENGTH);
    const nul = comm.indexOf(0);
    const cpu = p.cpuNumber !== undefined ? await g.readMemory((base + p.cpuNumber) & MASK64, 4).then((c) => c.readInt32LE(0), () => undefined) : undefined;
    return {
      task,
      pid: b.readInt32LE(p.pid - lo),
      tgid: b.readInt32LE(p.tgid - lo),
      comm: comm.subarray(0, nul < 0 ? COMM_LENGTH : nul).toString('utf8'),
      ...(cpu !== undefined ? { cpu } : {}),
    };
  } catch {
    return undefined;
  }
}
