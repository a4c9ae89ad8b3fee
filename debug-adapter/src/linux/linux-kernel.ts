/**
 * A Linux guest as the adapter sees it: detected from the vmlinux's symbols (`linux_banner` and
 * `init_task`), read through the gdb-side helpers of linux-gdb-python.ts at the current time point.
 * Nothing here changes anything for a guest that is not Linux: detect() answers undefined.
 */
import type { BridgeTaskProbe, RewindDmesgResponse, RewindTaskFrame, RewindTasksResponse, RewindTaskStackResponse } from '@rewind/protocol';
import { AdapterError } from '../errors';
import type { Gdb } from '../mi/gdb';

/** One vCPU's current task, or why it is unknown. */
export interface LinuxCpuTask {
  /** gdb's thread id (one thread per vCPU). */
  thread: number;
  cpu: number;
  /** From the code segment's privilege level: ring 3 is user mode. */
  mode?: 'kernel' | 'user';
  /** The task_struct's address (hex). */
  task?: string;
  comm?: string;
  pid?: number;
  tgid?: number;
  /** e.g. "R (running)", "S (sleeping)", as ps shows it. */
  state?: string;
  /** PF_KTHREAD: a kernel thread (no user address space). */
  kthread?: boolean;
  /** Why the task is unknown here (early boot; user mode under KPTI). */
  error?: string;
  /** Kernel memory is unmapped: this CPU is on the user page tables of kernel page-table isolation (user code, or the first instructions of an entry). */
  kpti?: boolean;
}

export interface LinuxTasks {
  cpus: LinuxCpuTask[];
  jiffies?: number;
  hz?: number;
  /** From jiffies: (jiffies_64 - INITIAL_JIFFIES) / HZ. */
  uptimeSeconds?: number;
}

/** The kernel's functions the kernel-event scan puts breakpoints on: its reporting functions, where modules load and go, where a CPU switches tasks. */
export type LinuxReportingFunction = 'panic' | 'oops_begin' | '__warn' | 'report_bug' | 'do_init_module' | 'free_module' | 'finish_task_switch';

export class LinuxKernel {
  private probe?: Promise<{ probe?: BridgeTaskProbe; error?: string }>;

  private constructor(
    private readonly gdb: Gdb,
    /** Addresses of the reporting functions this vmlinux has. */
    readonly functions: ReadonlyMap<LinuxReportingFunction, bigint>,
  ) {}

  /** A Linux kernel when the symbols say so (cheap: symbol lookups only); otherwise undefined. */
  static async detect(gdb: Gdb): Promise<LinuxKernel | undefined> {
    const probe = await runJson<{ linux: boolean; functions?: Record<string, string> }>(gdb, 'rewind-linux-probe').catch(() => undefined);
    if (!probe?.linux) return undefined;
    const functions = new Map<LinuxReportingFunction, bigint>();
    for (const [name, address] of Object.entries(probe.functions ?? {})) functions.set(name as LinuxReportingFunction, BigInt(address));
    return new LinuxKernel(gdb, functions);
  }

  /** Every vCPU's current task, kernel or user mode, and jiffies, at the current time point. */
  tasks(signal?: AbortSignal): Promise<LinuxTasks> {
    return runJson<LinuxTasks>(this.gdb, 'rewind-linux-tasks', signal);
  }

  /**
   * What the bridge follows to tell which task made a write (rewind/writes' `task`), read once
   * (types of init_task); or why not (not x86_64; no task_struct layout).
   */
  taskProbe(): Promise<{ probe?: BridgeTaskProbe; error?: string }> {
    // Without a signal: the answer is kept for the session, so no one request's cancellation may cut it short.
    this.probe ??= runJson<{ probe?: BridgeTaskProbe; error?: string }>(this.gdb, 'rewind-linux-task-probe').catch((e: Error) => ({ error: e.message }));
    return this.probe;
  }

  /** Where a task that is not running sleeps: its saved stack, unwound by gdb (linux-task-stack-python.ts). */
  async taskStack(task: bigint, signal?: AbortSignal): Promise<Pick<RewindTaskStackResponse, 'frames'>> {
    const r = await runJson<{ frames?: RewindTaskFrame[]; error?: string }>(this.gdb, `rewind-linux-task-stack 0x${task.toString(16)}`, signal);
    if (r.error !== undefined || !r.frames) throw new AdapterError(r.error ?? 'no stack');
    return { frames: r.frames };
  }

  /** Every task in the kernel's task list at the current time point. */
  async taskList(signal?: AbortSignal): Promise<Omit<RewindTasksResponse, 'icount'>> {
    const r = await runJson<Omit<RewindTasksResponse, 'icount'> & { error?: string }>(this.gdb, 'rewind-linux-task-list', signal);
    if (r.error) throw new AdapterError(`no task list here: ${r.error}`);
    return { tasks: r.tasks, truncated: r.truncated };
  }

  /** The kernel log as it is at the current time point (`limit`: only the last records). */
  async dmesg(limit?: number, signal?: AbortSignal): Promise<Omit<RewindDmesgResponse, 'icount'>> {
    const r = await runJson<Omit<RewindDmesgResponse, 'icount'> & { error?: string }>(this.gdb, `rewind-dmesg --json${limit !== undefined ? ` --max ${limit}` : ''}`, signal);
    if (r.error) throw new AdapterError(`no kernel log here: ${r.error}`);
    return r;
  }

  /** The kernel log as text, as `dmesg` prints it. */
  dmesgText(signal?: AbortSignal): Promise<string> {
    return this.gdb.console('rewind-dmesg', signal ? { signal } : {});
  }
}

/** "CPU 0 · dd [1234] (kernel)"; undefined when the task is unknown and the CPU's mode says nothing useful. */
export function linuxThreadName(t: LinuxCpuTask): string | undefined {
  if (t.comm !== undefined && t.pid !== undefined) return `CPU ${t.cpu} · ${t.comm} [${t.pid}]${t.mode ? ` (${t.mode})` : ''}`;
  if (t.kpti) return `CPU ${t.cpu} · task unknown${t.mode === 'user' ? ' in user mode' : ' on the user page tables'} (KPTI)`;
  return undefined;
}

/** Runs a gdb-side helper that prints one line of JSON, and parses it. */
export async function runJson<T>(gdb: Gdb, command: string, signal?: AbortSignal): Promise<T> {
  const out = await gdb.console(command, signal ? { signal } : {});
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new AdapterError(`${command} gave no answer${out.trim() ? `: ${out.trim().split('\n').pop()}` : ''}`);
  return JSON.parse(line) as T;
}
