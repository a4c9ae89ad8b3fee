/**
 * The "Linux" scope of the top frame: the vCPU's current task (comm, pid, tgid, state, the
 * task_struct itself as `current`, expandable), the CPU, kernel or user mode, and jiffies with the uptime they
 * mean, all at the current time point.
 */
import { Variable } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { ScopeHelpers, ScopeProvider } from '../inspector';
import type { FrameRef } from '../mi/commands';
import type { LinuxKernel } from './linux-kernel';

export const LINUX_SCOPE = 'Linux';

export function linuxScope(kernel: LinuxKernel): ScopeProvider {
  return {
    name: LINUX_SCOPE,
    applies: (_frame: FrameRef, top: boolean) => top,
    async variables(frame: FrameRef, signal?: AbortSignal, helpers?: ScopeHelpers): Promise<DebugProtocol.Variable[]> {
      const info = await kernel.tasks(signal);
      const t = info.cpus.find((c) => c.thread === frame.thread) ?? info.cpus[0];
      const out: DebugProtocol.Variable[] = [];
      const add = (name: string, value: string, type?: string) => {
        const v = new Variable(name, value) as DebugProtocol.Variable;
        if (type) v.type = type;
        out.push(v);
      };
      if (t) {
        if (t.comm !== undefined) add('comm', JSON.stringify(t.comm), 'char [16]');
        if (t.pid !== undefined) add('pid', String(t.pid), 'pid_t');
        if (t.tgid !== undefined) add('tgid', String(t.tgid), 'pid_t');
        if (t.state !== undefined) add('state', t.state);
        add('cpu', String(t.cpu));
        if (t.mode) add('mode', t.mode === 'user' ? 'user (ring 3)' : 'kernel (ring 0)');
        if (t.kthread !== undefined) add('kind', t.kthread ? 'kernel thread' : 'user process');
        if (t.error) add('note', t.error);
      }
      if (info.uptimeSeconds !== undefined) add('uptime', `${info.uptimeSeconds.toFixed(3)} s (from jiffies, HZ=${info.hz})`);
      if (info.jiffies !== undefined) add('jiffies', String(info.jiffies), 'u64');
      if (t?.task && t.task !== '0x0') {
        // Typed after init_task, not by the name "struct task_struct": gdb would look that name up
        // in every compilation unit that defines it. Its variable object is made only when expanded:
        // gdb's first one of a struct type costs seconds (see ScopeHelpers.expandable).
        const expression = `((__typeof__(&init_task))${t.task})`;
        out.push(helpers ? helpers.expandable('current', t.task, 'struct task_struct *', expression) : new Variable('current', t.task));
      }
      return out;
    },
  };
}
