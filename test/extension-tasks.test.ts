/**
 * The Tasks view's model (extension/novsc/tasks.ts), plain Node: rewind/tasks' answer as rows,
 * processes with their threads under them, what each row says. The answer itself is checked on
 * the real Linux fixture in linux.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RewindLinuxTask } from '@rewind/protocol';
import { taskFrameItem, taskRows, tasksSummary } from '../extension/novsc/tasks';

const task = (pid: number, comm: string, o: Partial<RewindLinuxTask> = {}): RewindLinuxTask => ({ task: `0xffff8880${pid.toString(16).padStart(8, '0')}`, pid, tgid: pid, comm, state: 'S (sleeping)', cpu: 0, running: false, kthread: false, ...o });

describe('the Tasks view (novsc/tasks.ts)', () => {
  const tasks = [
    task(0, 'swapper/0', { kthread: true, state: 'R (running)' }),
    task(1, 'init', { ppid: 0 }),
    task(2, 'kthreadd', { kthread: true, ppid: 0 }),
    task(80, 'busybox', { ppid: 1 }),
    task(81, 'worker', { tgid: 80, ppid: 1 }),
    task(84, 'dd', { ppid: 1, running: true, state: 'R (running)', cpu: 1 }),
    task(90, 'orphan', { tgid: 89 }),
  ];

  it('puts threads under their process, in the kernel\'s order', () => {
    const rows = taskRows({ tasks });
    assert.deepEqual(rows.map((r) => r.label), ['swapper/0', 'init', 'kthreadd', 'busybox', 'dd', 'orphan']);
    assert.deepEqual(rows[3]!.threads.map((r) => r.label), ['worker']);
    assert.match(rows[3]!.threads[0]!.tooltip, /thread of 80/);
  });

  it('says what ps would: pid, state, the CPU that runs it', () => {
    const rows = taskRows({ tasks });
    const dd = rows.find((r) => r.label === 'dd')!;
    assert.equal(dd.description, '84 · R · on CPU 1');
    assert.equal(dd.icon, 'running');
    assert.match(dd.tooltip, /^dd \[84\], process, parent 1: R \(running\), running on CPU 1/);
    assert.equal(rows[2]!.icon, 'kernel-thread');
    assert.equal(rows[1]!.description, '1 · S');
    assert.equal(tasksSummary({ icount: 1234, tasks, truncated: false }), '7 tasks at icount 1234; running: dd on CPU 1');
    assert.match(tasksSummary({ icount: 1, tasks, truncated: true }), /^7\+ tasks/);
  });

  it('shows a saved stack\'s frames with their source lines (or their address when there is none)', () => {
    assert.deepEqual(taskFrameItem({ address: '0xffffffff81c3f0a4', function: 'schedule', file: 'kernel/sched/core.c', fullname: '/src/kernel/sched/core.c', line: 6660 }, 1), {
      label: '#1 schedule',
      description: 'kernel/sched/core.c:6660',
      detail: '0xffffffff81c3f0a4',
    });
    assert.deepEqual(taskFrameItem({ address: '0xffffffff81000100' }, 4), { label: '#4 ??', description: '0xffffffff81000100' });
  });

  it('says which tasks have a saved stack to show (those not running) and by which task_struct', () => {
    const rows = taskRows({ tasks: [{ task: '0xffff1', pid: 2, tgid: 2, comm: 'kthreadd', state: 'S (sleeping)', cpu: 0, running: false, kthread: true }, { task: '0xffff2', pid: 80, tgid: 80, comm: 'dd', state: 'R (running)', cpu: 0, running: true, kthread: false }] });
    assert.deepEqual(rows.map((r) => [r.task, r.running]), [['0xffff1', false], ['0xffff2', true]]);
  });
});
