/**
 * The Tasks view's model (Linux guests): rewind/tasks' answer as rows, processes first with their
 * threads under them, each with what ps would show. Never imports `vscode` (unit tests load it).
 */
import type { RewindLinuxTask, RewindTasksResponse } from '@rewind/protocol';

export interface TaskRow {
  id: string;
  label: string;
  description: string;
  tooltip: string;
  icon: 'running' | 'kernel-thread' | 'process';
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
