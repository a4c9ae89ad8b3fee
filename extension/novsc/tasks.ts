/**
 * The Tasks view's model (Linux guests): rewind/tasks' answer as rows, processes first with their
 * threads under them, each with what ps would show. Never imports `vscode` (unit tests load it).
 */
import type { RewindLinuxTask, RewindTaskFrame, RewindTasksResponse } from '@rewind/protocol';

export interface TaskRow {
  id: string;
  label: string;
  description: string;
  tooltip: string;
  icon: 'running' | 'kernel-thread' | 'process';
  /** Its task_struct (hex): what rewind/taskStack asks for. */
  task: string;
  /** A CPU runs it at this time point: its stack is that vCPU's, not a saved one. */
  running: boolean;
  /** A process's other threads. */
  threads: TaskRow[];
}

function row(t: RewindLinuxTask): TaskRow {
  const kind = t.kthread ? 'kernel thread' : t.pid === t.tgid ? 'process' : `thread of ${t.tgid}`;
  return {
    id: `task-${t.task}`,
    label: t.comm === '' ? '(no name)' : t.comm,
    description: `${t.pid} · ${t.state.split(' ')[0]}${t.running ? ` · on CPU ${t.cpu}` : ''}`,
    tooltip: `${t.comm} [${t.pid}], ${kind}${t.ppid !== undefined ? `, parent ${t.ppid}` : ''}: ${t.state}, ${t.running ? `running on CPU ${t.cpu}` : `last on CPU ${t.cpu}`} (task_struct ${t.task})`,
    icon: t.running ? 'running' : t.kthread ? 'kernel-thread' : 'process',
    task: t.task,
    running: t.running,
    threads: [],
  };
}

/** Processes in the kernel's order, each with its other threads; a thread whose leader is missing stays at the top level. */
export function taskRows(r: Pick<RewindTasksResponse, 'tasks'>): TaskRow[] {
  const leaders = new Map<number, TaskRow>();
  const out: TaskRow[] = [];
  for (const t of r.tasks) {
    const leader = t.pid !== t.tgid ? leaders.get(t.tgid) : undefined;
    const x = row(t);
    if (leader) leader.threads.push(x);
    else {
      out.push(x);
      if (t.pid === t.tgid) leaders.set(t.pid, x);
    }
  }
  return out;
}

/** The view's message above the rows: how many, running where, at which time point. */
export function tasksSummary(r: RewindTasksResponse): string {
  const running = r.tasks.filter((t) => t.running).map((t) => `${t.comm} on CPU ${t.cpu}`);
  return `${r.tasks.length}${r.truncated ? '+' : ''} tasks at icount ${r.icount}${running.length ? `; running: ${running.join(', ')}` : ''}`;
}

/** A saved stack's frame as a pick: "schedule" with "kernel/sched/core.c:6660" beside it. */
export function taskFrameItem(f: RewindTaskFrame, index: number): { label: string; description: string; detail?: string } {
  return {
    label: `#${index} ${f.function ?? '??'}`,
    description: f.file !== undefined ? `${f.file}:${f.line ?? '?'}` : f.address,
    ...(f.file !== undefined ? { detail: f.address } : {}),
  };
}
