/** The Linux kernel's task layout as the adapter passes it to the bridge (replay/task-sample.ts), read from a vmlinux: per-CPU symbols, struct offsets from gdb's reading of its DWARF. */
import { execFileSync } from 'node:child_process';
import type { TaskProbe } from '../../recorder-bridge/src/replay/task-sample';
import { symbolTable } from './elf';

/** Undefined when the vmlinux has no current_task or gdb cannot give the offsets. */
export function linuxTaskProbe(vmlinux: string): TaskProbe | undefined {
  const symbols = symbolTable(vmlinux);
  const current = symbols.get('current_task');
  if (!current) return undefined;
  const out = execFileSync('gdb', ['-batch', '-nx', ...['pid', 'tgid', 'comm'].flatMap((f) => ['-ex', `p/d &((struct task_struct *)0)->${f}`]), vmlinux], { encoding: 'utf8', timeout: 120_000 });
  const o = [...out.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]));
  if (o.length !== 3) return undefined;
  const cpu = symbols.get('cpu_number');
  return { currentTask: current.address, ...(cpu ? { cpuNumber: cpu.address } : {}), pid: o[0]!, tgid: o[1]!, comm: o[2]! };
}
