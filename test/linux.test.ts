/**
 * Kernel awareness on a real Linux recording (test/linux-fixture.ts: Debian's cloud kernel booting
 * a busybox initramfs; dd writes 3 x WRITE_BYTES bytes, a line goes to /dev/kmsg, then sysrq-c
 * panics), through the real adapter, gdb and engine. One adapter session serves the tests in order
 * (each starts where the one before left off): syscall breakpoints forward and back, the current
 * task, reverse steps in kernel C code, a reverse watchpoint on jiffies_64, the task and CPU of
 * each write in jiffies_64's value history, dmesg at two time
 * points, the kernel-event scan that finds the panic, and a dmesg line's time point. Then the same workload recorded with
 * KPTI forced on: in user mode the task is unknown, and the adapter says so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { classifyKernelHits, mergeKernelEvents } from '../debug-adapter/src/linux/kernel-events';
import type { LinuxReportingFunction } from '../debug-adapter/src/linux/linux-kernel';
import { columns, valueHistoryTable } from '../extension/novsc/value-history';
import type { RewindDmesgResponse, RewindEventsResponse } from '@rewind/protocol';
import type { Stop } from './support/dap-client';
import { useLinuxSession, useLinuxVariant } from './linux-session';
import { KMSG_MARKER, WRITE_BYTES, WRITE_COUNT } from './linux-fixture';

describe('kernel events: classification of the reporting functions\' hits', () => {
  it('tells panics, oopses, BUG()s and warnings apart, and module loads and unloads, and task switches (named by the task read there)', () => {
    const h = (icount: number, fn: LinuxReportingFunction, task?: { pid: number; comm: string }) => ({ icount, function: fn, address: 0x1000n + BigInt(icount), ...(task ? { task } : {}) });
    const events = classifyKernelHits([
      h(100, 'report_bug'), h(110, '__warn'), // WARN(): report_bug, then __warn
      h(200, 'report_bug'), h(250, 'oops_begin'), // BUG(): report_bug, then the die path
      h(400, 'oops_begin'), // an oops (a fault)
      h(10_000_000, 'report_bug'), // a WARN_ONCE already warned: report_bug only
      h(30_000_000, 'oops_begin'), // far later: an oops, not that report_bug's BUG
      h(30_000_100, 'panic'),
      h(220, 'do_init_module'), // a module loads (between a BUG's report_bug and its oops: still that BUG)
      h(5_000_000, 'free_module'),
      h(6_000_000, 'finish_task_switch', { pid: 1, comm: 'init' }),
      h(7_000_000, 'finish_task_switch'), // no task read there
    ]);
    assert.deepEqual(
      events.map((e) => [e.icount, e.kind, e.function]),
      [
        [110, 'warning', '__warn'],
        [200, 'bug', 'report_bug'],
        [220, 'module-load', 'do_init_module'],
        [400, 'oops', 'oops_begin'],
        [5_000_000, 'module-unload', 'free_module'],
        [6_000_000, 'task-switch', 'finish_task_switch'],
        [7_000_000, 'task-switch', 'finish_task_switch'],
        [30_000_000, 'oops', 'oops_begin'],
        [30_000_100, 'panic', 'panic'],
      ],
    );
    assert.deepEqual(events.filter((e) => e.kind === 'task-switch').map((e) => e.message), ['init [1]', undefined]);
  });

  it('merges into rewind/events by time, under the same filter and limit', () => {
    const ev = (index: number, icount: number) => ({ index, icount, kind: 'interrupt' as const, offset: index * 10 });
    const bridge = { totalIcount: 1000, counts: { interrupt: 3 }, events: [ev(0, 10), ev(1, 20), ev(2, 30)], truncated: false };
    const kernel = [{ icount: 25, kind: 'panic' as const, function: 'panic', address: '0x1', eventIndex: 3, message: 'boom' }];
    const all = mergeKernelEvents(bridge, kernel, {}, 10_000);
    assert.deepEqual(all.events.map((e) => [e.index, e.kind]), [[0, 'interrupt'], [1, 'interrupt'], [3, 'kernel-panic'], [2, 'interrupt']]);
    assert.equal(all.events[2]!.detail, 'panic(): boom');
    assert.deepEqual(all.counts, { interrupt: 3, 'kernel-panic': 1 });
    assert.equal(mergeKernelEvents(bridge, kernel, { kinds: ['interrupt'] }, 10_000).events.length, 3);
    const cut = mergeKernelEvents(bridge, kernel, { limit: 3 }, 10_000);
    assert.deepEqual(cut.events.map((e) => e.index), [0, 1, 3]);
    assert.equal(cut.truncated, true);
    // The index's answer cut at icount 20: a kernel event after it is not known to come next.
    const early = mergeKernelEvents({ ...bridge, events: bridge.events.slice(0, 2), truncated: true }, kernel, { limit: 2 }, 10_000);
    assert.deepEqual(early.events.map((e) => e.index), [0, 1]);
  });
});

describe('Linux kernel awareness on a real Linux recording', { timeout: 1_500_000 }, () => {
  const session = useLinuxSession();
  const c = session.c;
  /** The dd writes, as the forward breakpoint found them. */
  const writes: Array<{ icount: number; pid: number }> = [];

  const next = () => c.run(() => c.dc.nextRequest({ threadId: 1 }));
  const stepBack = () => c.run(() => c.dc.stepBackRequest({ threadId: 1 }));
  const reverseContinue = () => c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
  const here = async () => ({ icount: (await c.position()).icount, frame: (await c.frames())[0]! });
  const threadName = async () => (await c.dc.threadsRequest()).body.threads[0]!.name;
  const args = async () => new Map([...(await c.scope('Arguments')).entries()].map(([k, v]) => [k, v.value]));
  const linux = async () => new Map([...(await c.scope('Linux')).entries()].map(([k, v]) => [k, v.value]));
  const infoAddress = async (symbol: string) => {
    const r = await c.dc.evaluateRequest({ expression: `-exec info address ${symbol}`, context: 'repl' });
    const m = /\bat (?:address )?(0x[0-9a-f]+)/.exec(r.body.result);
    assert.ok(m, r.body.result);
    return m[1]!;
  };

  it('a breakpoint on ksys_write finds dd\'s writes forward, then the same ones in reverse', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const f = session.fixture();
    // Opening the recording runs forward to the first write of WRITE_BYTES bytes.
    const first = await c.launch({ recording: f.bundle, symbols: [f.vmlinux] }, async () => {
      const bps = (await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'ksys_write', condition: `count == ${WRITE_BYTES}` }] })).body.breakpoints;
      assert.equal(bps[0]!.verified, true, bps[0]!.message);
    });
    const forward: Stop[] = [];
    for (let s = first; ; s = await c.run(() => c.dc.continueRequest({ threadId: 1 }))) {
      assert.equal(s.reason, 'function breakpoint', `write ${forward.length + 1}: ${s.description ?? ''}`);
      assert.match(s.frames[0]!, /^ksys_write read_write\.c:\d+$/);
      assert.equal((await args()).get('count'), String(WRITE_BYTES));
      if (forward.length > 0) assert.ok(s.position.icount > forward[forward.length - 1]!.position.icount, 'forward: later and later');
      forward.push(s);
      if (forward.length === WRITE_COUNT) break;
    }
    writes.push(...forward.map((s) => ({ icount: s.position.icount, pid: 0 })));
    // Back over the same writes, newest first, to exactly the same time points.
    const backward: number[] = [];
    for (let i = WRITE_COUNT - 2; i >= 0; i--) {
      const s = await reverseContinue();
      assert.equal(s.reason, 'function breakpoint', s.description);
      assert.match(s.frames[0]!, /^ksys_write read_write\.c:\d+$/);
      assert.equal((await args()).get('count'), String(WRITE_BYTES));
      backward.push(s.position.icount);
    }
    assert.deepEqual(backward, writes.slice(0, WRITE_COUNT - 1).map((w) => w.icount).reverse(), 'reverse: the forward time points, newest first');
  });

  it('shows the current task, dd, in the thread name and the Linux scope', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    // At the first write, in dd's ksys_write.
    const name = await threadName();
    const m = /^CPU 0 · dd \[(\d+)\] \(kernel\)$/.exec(name);
    assert.ok(m, `thread name: ${name}`);
    const pid = Number(m[1]);
    assert.ok(pid > 1 && pid < 32768, `a plausible pid: ${pid}`);
    const l = await linux();
    assert.equal(l.get('comm'), '"dd"');
    assert.equal(l.get('pid'), String(pid));
    assert.equal(l.get('tgid'), String(pid));
    assert.equal(l.get('state'), 'R (running)');
    assert.equal(l.get('cpu'), '0');
    assert.equal(l.get('mode'), 'kernel (ring 0)');
    assert.equal(l.get('kind'), 'user process');
    const jiffies = Number(l.get('jiffies'));
    assert.equal(Number(await c.evaluate('jiffies_64')), jiffies);
    // Well into the boot: seconds of uptime (HZ=250 on Debian), not 0 and not absurd.
    const uptime = Number(/^([\d.]+) s/.exec(l.get('uptime') ?? '')?.[1]);
    assert.ok(uptime > 1 && uptime < 60, `uptime ${l.get('uptime')}`);
    // The task_struct itself, expandable: the same task.
    const scope = await c.scope('Linux');
    const current = scope.get('current')!;
    assert.ok(current.variablesReference > 0, 'current (the task_struct) expands');
    assert.equal(current.type, 'struct task_struct *');
    const fields = new Map((await c.dc.variablesRequest({ variablesReference: current.variablesReference })).body.variables.map((v) => [v.name, v]));
    assert.equal(fields.get('pid')?.value, String(pid));
    assert.equal(fields.get('tgid')?.value, String(pid));
    assert.ok(fields.get('comm')?.evaluateName, 'comm has an expression');
    assert.match(await c.evaluate(`(char *)${fields.get('comm')!.evaluateName!}`), /^0x[0-9a-f]+ "dd"$/);
    for (const w of writes) w.pid = pid;

    // In user mode, the same task: the instruction before the system call's entry is dd's `syscall`.
    const entry = await infoAddress('entry_SYSCALL_64');
    await c.dc.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: entry }] });
    const atEntry = await reverseContinue();
    assert.equal(atEntry.reason, 'instruction breakpoint', atEntry.description);
    assert.match(await threadName(), new RegExp(`^CPU 0 · dd \\[${pid}\\] \\(kernel\\)$`));
    await c.dc.send('setInstructionBreakpoints', { breakpoints: [] });
    await c.run(() => c.dc.send('rewind/seek', { icount: atEntry.position.icount - 1 }));
    assert.match(await threadName(), new RegExp(`^CPU 0 · dd \\[${pid}\\] \\(user\\)$`));
    const u = await linux();
    assert.equal(u.get('mode'), 'user (ring 3)');
    assert.equal(u.get('comm'), '"dd"');
    // Back to the first write.
    await c.run(() => c.dc.send('rewind/seek', { icount: writes[0]!.icount }));
  });

  it('lists every task at the current time point: dd running on CPU 0, init, the idle task, kernel threads (rewind/tasks)', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    // At the first write, in dd's ksys_write (where the test before left the session).
    const pid = Number(/^CPU 0 · dd \[(\d+)\]/.exec(await threadName())?.[1]);
    const r = await c.custom('rewind/tasks', {});
    assert.equal(r.icount, writes[0]!.icount);
    assert.equal(r.truncated, false);
    const shown = r.tasks.map((x) => `${x.comm}[${x.pid}]${x.running ? '*' : ''}`).join(' ');
    t.diagnostic(`${r.tasks.length} tasks: ${shown}`);
    assert.equal(new Set(r.tasks.map((x) => x.pid)).size, r.tasks.length, `each pid once: ${shown}`);
    const dd = r.tasks.find((x) => x.pid === pid);
    assert.ok(dd, `dd [${pid}] is listed: ${shown}`);
    assert.deepEqual({ comm: dd.comm, tgid: dd.tgid, state: dd.state, cpu: dd.cpu, running: dd.running, kthread: dd.kthread }, { comm: 'dd', tgid: pid, state: 'R (running)', cpu: 0, running: true, kthread: false });
    assert.deepEqual(r.tasks.filter((x) => x.running).map((x) => x.pid), [pid], 'one vCPU: only dd runs');
    // The idle task first (the list starts at init_task), then init, then kthreadd and its kernel threads.
    assert.deepEqual({ pid: r.tasks[0]!.pid, comm: r.tasks[0]!.comm }, { pid: 0, comm: 'swapper/0' });
    const init = r.tasks.find((x) => x.pid === 1);
    assert.ok(init && !init.kthread, `init: ${JSON.stringify(init)}`);
    const kthreadd = r.tasks.find((x) => x.pid === 2);
    assert.ok(kthreadd?.kthread && kthreadd.comm === 'kthreadd', `kthreadd: ${JSON.stringify(kthreadd)}`);
    assert.ok(r.tasks.filter((x) => x.ppid === 2).every((x) => x.kthread), 'kthreadd\'s children are kernel threads');
    assert.ok(dd.ppid !== undefined && r.tasks.some((x) => x.pid === dd.ppid && !x.kthread), `dd's parent is a listed process: ${dd.ppid}`);
    // The task that runs is the one the thread name and the Linux scope show.
    assert.equal((await linux()).get('pid'), String(pid));
  });

  it('shows where a task that is not running sleeps: its saved stack, with functions and lines (rewind/taskStack)', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const r = await c.custom('rewind/tasks', {});
    const kthreadd = r.tasks.find((x) => x.pid === 2)!;
    const s = await c.custom('rewind/taskStack', { task: kthreadd.task });
    assert.equal(s.icount, r.icount);
    const names = s.frames.map((f) => f.function);
    t.diagnostic(`kthreadd sleeps in ${s.frames.map((f) => `${f.function}:${f.line}`).join(' < ')}`);
    // kthreadd waits for work in its loop: switched out by __schedule, called by schedule from kthreadd, started by ret_from_fork.
    assert.deepEqual(names.slice(names.indexOf('__schedule')), ['__schedule', 'schedule', 'kthreadd', 'ret_from_fork'], names.join(' < '));
    assert.ok(s.frames.every((f) => f.file && f.line && f.line > 0), 'every frame has its source line');
    const kthreaddFrame = s.frames.find((f) => f.function === 'kthreadd')!;
    assert.equal(kthreaddFrame.file, 'kernel/kthread.c');
    // A worker thread sleeps in worker_thread, under kthread.
    const worker = r.tasks.find((x) => x.comm.startsWith('kworker/') && !x.running)!;
    const w = (await c.custom('rewind/taskStack', { task: worker.task })).frames.map((f) => f.function);
    assert.ok(w.includes('schedule') && w.includes('worker_thread') && w[w.length - 1] === 'ret_from_fork', w.join(' < '));
    // The running task has no saved stack: its stack is its vCPU's.
    const dd = r.tasks.find((x) => x.running)!;
    await assert.rejects(c.custom('rewind/taskStack', { task: dd.task }), new RegExp(`dd \\[${dd.pid}\\] runs on CPU 0 at this time point: its stack is that vCPU's`));
    await assert.rejects(c.custom('rewind/taskStack', { task: 'init' }), /"task" must be a task_struct's address in hex/);
  });

  /** Forward `next`s through ksys_write from the first write: where each one stops. */
  async function forwardSteps(n: number): Promise<Array<{ icount: number; frame: string }>> {
    await c.run(() => c.dc.send('rewind/seek', { icount: writes[0]!.icount }));
    const at = [await here()];
    assert.match(at[0]!.frame, /^ksys_write read_write\.c:\d+$/);
    for (let i = 0; i < n; i++) {
      const s = await next();
      assert.equal(s.reason, 'step');
      at.push(await here());
    }
    assert.ok(at.every((a) => a.frame.startsWith('ksys_write read_write.c:')), at.map((a) => a.frame).join(', '));
    return at;
  }

  it('steps back over a call and out of a call in kernel C code, to where stepping forward went', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    await c.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    const at = await forwardSteps(7);
    assert.ok(new Set(at.map((a) => a.frame)).size >= 6, `forward steps visited several lines: ${at.map((a) => a.frame).join(', ')}`);
    // The step over the vfs_write call (thousands of instructions), from the call's line to the next.
    const k = at.findIndex((a, i) => i > 0 && a.icount - at[i - 1]!.icount > 1000);
    assert.ok(k > 0, `a step over the vfs_write call: ${JSON.stringify(at)}`);
    // Step back over it: the call's line, where stepping forward stopped on it.
    await c.run(() => c.dc.send('rewind/seek', { icount: at[k]!.icount }));
    const back = await stepBack();
    assert.equal(back.reason, 'step');
    assert.deepEqual(await here(), at[k - 1]);

    // Reverse step out: into vfs_write (stopped at its first instruction), two lines in, then out.
    await c.run(() => c.dc.send('rewind/seek', { icount: at[0]!.icount }));
    const vfsWrite = await infoAddress('vfs_write');
    await c.dc.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: vfsWrite }] });
    const entered = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
    await c.dc.send('setInstructionBreakpoints', { breakpoints: [] });
    assert.equal(entered.reason, 'instruction breakpoint');
    assert.match(entered.frames[0]!, /^vfs_write read_write\.c:\d+$/);
    // The caller's line, as gdb unwinds it at the entry: the call's line, which stepping forward stopped on.
    const callSite = entered.frames[1]!;
    assert.equal(callSite, at[k - 1]!.frame);
    await next();
    const inside = await next();
    assert.match(inside.frames[0]!, /^vfs_write read_write\.c:\d+$/);
    assert.ok(inside.position.icount > entered.position.icount);
    const out = await c.run(() => c.custom('rewind/reverseStepOut', { threadId: 1 }));
    assert.equal(out.frames[0], callSite);
    // The call instruction: the one just before vfs_write's first.
    assert.equal(out.position.icount, entered.position.icount - 1);
  });

  it('steps over a line that is one `rep stosb` of 5.5 MB (clear_bss) in one move, to the instruction after it', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const value = async (expression: string) => BigInt((await c.evaluate(expression)).split(' ')[0]!);
    try {
      await c.run(() => c.dc.send('rewind/seek', { icount: 0 }));
      await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'clear_bss' }] });
      const entry = await c.run(() => c.dc.continueRequest({ threadId: 1 }));
      await c.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
      assert.equal(entry.frames[0], 'clear_bss head64.c:430');
      // gdb range-steps the line (vCont;r, gdb/range-step.ts): the `rep stosb` runs as one continue.
      // Single steps took one per byte: 5.5 million, hours (the 1,000-operation soak found it).
      const over = await next();
      assert.equal(over.frames[0], 'clear_bss head64.c:432');
      assert.equal(await value('(unsigned long)$rcx'), 0n, 'the rep ran to its end');
      assert.equal(await value('(unsigned long)$rdi'), await value('(unsigned long)&__bss_stop'), 'it cleared up to the end of the bss');
      // Back by instructions: still the rep. QEMU counts its final test of rcx (0: done) as one more
      // execution of the instruction; before that, the last byte was stored (rcx 1).
      const stepBackInstruction = () => c.run(() => c.dc.stepBackRequest({ threadId: 1, granularity: 'instruction' }));
      const back = await stepBackInstruction();
      assert.equal(back.position.icount, over.position.icount - 1);
      assert.match((await c.dc.evaluateRequest({ expression: '-exec x/i $pc', context: 'repl' })).body.result, /rep stos %al,%es:\(%rdi\)/);
      assert.equal(await value('(unsigned long)$rcx'), 0n);
      await stepBackInstruction();
      assert.equal(await value('(unsigned long)$rcx'), 1n);
      assert.equal(await value('(unsigned long)$rdi'), (await value('(unsigned long)&__bss_stop')) - 1n);
    } finally {
      await c.dc.setFunctionBreakpointsRequest({ breakpoints: [] });
      await c.run(() => c.dc.send('rewind/seek', { icount: writes[0]!.icount }));
    }
  });

  it('refuses to step back out of boot code that has no symbols, says why, and stays where it was', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    // One million instructions in, the firmware and the boot loader run: no function of vmlinux.
    const at = 1_000_000;
    try {
      await c.run(() => c.dc.send('rewind/seek', { icount: at }));
      await assert.rejects(c.custom('rewind/reverseStepOut', { threadId: 1 }), (e: Error) => {
        assert.match(e.message, /^there is no function to step out of here: the code at 0x[0-9a-f]+ has no symbols or no caller gdb can find \(gdb: .+\); step back by instruction, or reverse continue to a breakpoint instead$/);
        return true;
      });
      assert.equal((await c.position()).icount, at, 'a refused step out does not move');
    } finally {
      await c.run(() => c.dc.send('rewind/seek', { icount: writes[0]!.icount }));
    }
  });

  it(
    'steps back over each line of ksys_write to the stops of stepping forward',
    async (t) => {
      if (session.skip()) return t.skip(session.skip());
      const at = await forwardSteps(7);
      try {
        for (let i = at.length - 2; i >= 0; i--) {
          const s = await stepBack();
          assert.equal(s.reason, 'step');
          assert.deepEqual(await here(), at[i], `step back #${at.length - 1 - i}`);
        }
      } finally {
        await c.run(() => c.dc.send('rewind/seek', { icount: writes[0]!.icount }));
      }
    },
  );

  it('a reverse watchpoint on jiffies_64 finds the tick that wrote it', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const from = writes[0]!.icount;
    await c.run(() => c.dc.send('rewind/seek', { icount: from }));
    const now = Number(await c.evaluate('jiffies_64'));
    const frame = (await c.stack())[0]!;
    const info = (await c.dc.dataBreakpointInfoRequest({ name: 'jiffies_64', frameId: frame.id })).body;
    assert.ok(info.dataId, info.description);
    const set = (await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId!, accessType: 'write' }] })).body.breakpoints;
    assert.equal(set[0]!.verified, true, set[0]!.message);
    const s = await reverseContinue();
    assert.equal(s.reason, 'data breakpoint', s.description);
    assert.ok(s.position.icount < from);
    // The writing code: the periodic tick (nohz=off) updating jiffies.
    assert.ok(
      s.frames.slice(0, 3).some((f) => /^(do_timer|tick_do_update_jiffies64|tick_periodic) /.test(f)),
      `the tick code writes jiffies_64: ${s.frames.join(' < ')}`,
    );
    // Going backward the watchpoint stops before the write: the old value, then one instruction writes the new one.
    const before = Number(await c.evaluate('jiffies_64'));
    await c.dc.setDataBreakpointsRequest({ breakpoints: [] });
    await c.run(() => c.dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
    const afterWrite = Number(await c.evaluate('jiffies_64'));
    assert.equal(afterWrite, before + 1, `${before} -> ${afterWrite}`);
    // The last write before where we came from: its value is the one we saw there.
    assert.equal(afterWrite, now);
    await c.run(() => c.dc.send('rewind/seek', { icount: from }));
  });

  it('the Value History of jiffies_64 says which task and CPU made each write, as the Linux scope shows them there', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const at = writes[0]!.icount;
    // The ticks around dd's first write: some interrupt dd, others the idle task or a kernel thread.
    const h = await c.custom('rewind/valueHistory', { expression: 'jiffies_64', from: Math.max(0, at - 40_000_000), to: at + 40_000_000 });
    const shown = h.writes.map((w) => `${w.icount}:${w.task ? `${w.task.comm}[${w.task.pid}]` : '?'}@${w.cpu ?? '?'}`).join(' ');
    assert.ok(h.writes.length >= 3, `writes: ${shown}`);
    t.diagnostic(`${h.writes.length} writes: ${shown}`);
    for (const w of h.writes) {
      assert.ok(w.task, `every tick's task is readable (kernel mode, per-CPU areas set up): ${shown}`);
      assert.equal(w.cpu, 0, `one vCPU: ${shown}`);
    }
    // The panel's rows: a Task column, and the CPU from the adapter.
    const table = valueHistoryTable('jiffies_64', h, { session: 'linux', end: 0, threadCount: 1 });
    assert.ok(table.hasTask && columns(table).includes('task'), columns(table).join(','));
    // Each task seen once, the first and the last write: at the write, the Linux scope shows the same task.
    const picks = new Map<string, (typeof h.writes)[number]>();
    for (const w of [h.writes[0]!, ...h.writes, h.writes[h.writes.length - 1]!]) {
      const key = w === h.writes[h.writes.length - 1] ? 'last' : w === h.writes[0] ? 'first' : `${w.task!.pid} ${w.task!.comm}`;
      if (!picks.has(key)) picks.set(key, w);
    }
    try {
      for (const w of picks.values()) {
        await c.run(() => c.dc.send('rewind/seek', { icount: w.icount }));
        const l = await linux();
        assert.equal(l.get('comm'), JSON.stringify(w.task!.comm), `at ${w.icount}: ${shown}`);
        assert.equal(l.get('pid'), String(w.task!.pid), `at ${w.icount}: ${shown}`);
        assert.equal(l.get('tgid'), String(w.task!.tgid), `at ${w.icount}: ${shown}`);
      }
    } finally {
      await c.run(() => c.dc.send('rewind/seek', { icount: at }));
    }
  });

  let dmesgAtWrite: RewindDmesgResponse;
  let dmesgEarly: RewindDmesgResponse;

  it('reads dmesg as it was at two time points of the boot', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    // The first read finds the ring's layout in the vmlinux's types; later ones only read memory.
    let t0 = Date.now();
    await c.custom('rewind/dmesg', {});
    const firstMs = Date.now() - t0;
    t0 = Date.now();
    dmesgAtWrite = await c.custom('rewind/dmesg', {});
    const ms = Date.now() - t0;
    t.diagnostic(`rewind/dmesg: ${dmesgAtWrite.lines.length} records in ${ms} ms (the first time ${firstMs} ms)`);
    assert.equal(dmesgAtWrite.icount, writes[0]!.icount);
    assert.match(dmesgAtWrite.lines[0]!.text, /^Linux version 6\./);
    assert.equal(dmesgAtWrite.lines[0]!.seq, 0);
    assert.ok(dmesgAtWrite.lines.every((l, i) => l.seq === i), 'no record lost in this short boot');
    assert.ok(dmesgAtWrite.lines.some((l) => l.text === 'Run /init as init process'));
    assert.ok(!dmesgAtWrite.lines.some((l) => l.text.includes(KMSG_MARKER)), 'the marker is not written yet');
    // The REPL prints the same log.
    const repl = (await c.dc.evaluateRequest({ expression: 'dmesg', context: 'repl' })).body.result.split('\n');
    assert.equal(repl.length, dmesgAtWrite.lines.reduce((n, l) => n + l.text.split('\n').length, 0));
    assert.match(repl[0]!, /^\[\s+0\.000000\] Linux version 6\./);
    assert.equal((await c.dc.evaluateRequest({ expression: '-exec rewind-dmesg', context: 'repl' })).body.result.split('\n').length, repl.length);

    // Earlier in the boot: fewer records, the same ones as far as they go.
    await c.run(() => c.dc.send('rewind/seek', { percent: 30 }));
    dmesgEarly = await c.custom('rewind/dmesg', {});
    assert.ok(dmesgEarly.lines.length > 10 && dmesgEarly.lines.length < dmesgAtWrite.lines.length, `${dmesgEarly.lines.length} then ${dmesgAtWrite.lines.length} records`);
    assert.deepEqual(
      dmesgEarly.lines.map((l) => [l.seq, l.timestampNs, l.text]),
      dmesgAtWrite.lines.slice(0, dmesgEarly.lines.length).map((l) => [l.seq, l.timestampNs, l.text]),
    );
    assert.ok(dmesgEarly.lines[dmesgEarly.lines.length - 1]!.timestampNs <= dmesgAtWrite.lines[dmesgAtWrite.lines.length - 1]!.timestampNs);
    const last = await c.custom('rewind/dmesg', { limit: 2 });
    assert.deepEqual(last.lines.map((l) => l.seq), dmesgEarly.lines.slice(-2).map((l) => l.seq));
  });

  it('finds the sysrq-c panic over the whole recording, one seek away', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const end = (await c.position()).end;
    // A cancelled scan stops (and its replay processes go); asked again, it runs to the end.
    const started = c.dc.waitForEvent('progressStart');
    const cancelled = c.dc.customRequest('rewind/kernelEvents', {}).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    const p = ((await started) as DebugProtocol.ProgressStartEvent).body;
    assert.equal(p.cancellable, true);
    await c.dc.send('cancel', { progressId: p.progressId });
    assert.equal(await cancelled, 'cancelled');

    // rewind/events answers at once and starts the scan in the background; rewind/eventsChanged tells when it is done.
    const t0 = Date.now();
    const head = await c.custom('rewind/events', { limit: 0 });
    assert.equal(head.kernelScan, 'scanning');
    assert.equal(head.counts['kernel-panic'], undefined);
    const told = await c.kernelScanReaches('done', 300_000);
    const news = told[told.length - 1]!;
    t.diagnostic(`kernel events: the whole recording scanned in ${Date.now() - t0} ms (announced: ${told.map((b) => b.kernelScan).join(', ')})`);
    assert.equal(news.reason, 'kernel-events');
    assert.equal(news.kernelScan, 'done');
    // With an index (a cache that keeps one) the problems come first, without the task switches.
    assert.ok(told.length === 1 || (told.length === 2 && told[0]!.kernelScan === 'partial'), JSON.stringify(told.map((b) => b.kernelScan)));
    if (told.length === 2) assert.ok(told[0]!.counts['kernel-panic'] === 1 && told[0]!.counts['kernel-task-switch'] === undefined, JSON.stringify(told[0]!.counts));
    assert.equal(news.counts['kernel-panic'], 1);
    assert.equal(news.counts['serial-input'], head.counts['serial-input']);
    // Then rewind/kernelEvents answers from the cache.
    const scans = () => c.events.filter((e) => e.event === 'progressStart').length;
    const scansBefore = scans();
    const r = await c.custom('rewind/kernelEvents', {});
    assert.equal(scans(), scansBefore, 'answered from the cache: no scan started, no progress shown');
    assert.deepEqual(r.functions.map((x) => x.name).sort(), ['__warn', 'do_init_module', 'finish_task_switch', 'free_module', 'oops_begin', 'panic', 'report_bug']);
    const panics = r.events.filter((e) => e.kind === 'panic');
    assert.equal(panics.length, 1, JSON.stringify(r.events));
    const panic = panics[0]!;
    assert.equal(panic.function, 'panic');
    assert.equal(panic.message, 'sysrq triggered crash');
    assert.ok(panic.icount > writes[WRITE_COUNT - 1]!.icount && panic.icount > end * 0.99, `near the end: ${panic.icount} of ${end}`);
    // Which task ran when: every switch names the task switched to; the last one before the panic is to init, which panics.
    const switches = r.events.filter((e) => e.kind === 'task-switch');
    t.diagnostic(`${switches.length} task switches`);
    assert.ok(switches.length > 100, `${switches.length} task switches`);
    assert.ok(switches.every((e) => /^\S.* \[\d+\]$/.test(e.message ?? '')), JSON.stringify(switches.filter((e) => !/^\S.* \[\d+\]$/.test(e.message ?? '')).slice(0, 3)));
    assert.equal(switches.filter((e) => e.icount < panic.icount).pop()?.message, 'init [1]');
    // The idle task when nothing runs, and kernel threads between.
    const names = new Set(switches.map((e) => e.message));
    assert.ok(names.has('swapper/0 [0]') && [...names].some((n) => /^kworker\/\S+ \[\d+\]$/.test(n ?? '')), [...names].join(', '));

    // Merged into rewind/events, where the Events view and the timeline find it.
    const events = (await c.custom('rewind/events', { kinds: ['kernel-panic', 'kernel-oops', 'kernel-bug', 'kernel-warning', 'serial-input'] })) as RewindEventsResponse;
    assert.equal(events.kernelScan, 'done');
    assert.equal(events.counts['kernel-panic'], 1);
    const listed = events.events.find((e) => e.kind === 'kernel-panic');
    assert.ok(listed, JSON.stringify(events.events));
    assert.equal(listed.icount, panic.icount);
    assert.equal(listed.index, panic.eventIndex);
    assert.ok(events.events.every((e, i) => i === 0 || e.icount >= events.events[i - 1]!.icount), 'in time order');
    assert.ok(events.events.some((e) => e.kind === 'serial-input' && e.icount < panic.icount));

    // One seek away: the panic on top of the stack, raised by init's sysrq write.
    const stop = await c.run(() => c.dc.send('rewind/seek', { eventIndex: panic.eventIndex }));
    assert.equal(stop.position.icount, panic.icount);
    assert.match(stop.description ?? '', /kernel panic/);
    const frames = stop.frames;
    assert.match(frames[0]!, /^panic panic\.c:\d+$/);
    assert.ok(frames.some((f) => f.startsWith('sysrq_handle_crash ')), frames.join(' < '));
    assert.equal(await threadName(), 'CPU 0 · init [1] (kernel)');

    // dmesg here: later than at dd's write, so more records, among them the workload's marker.
    const late = await c.custom('rewind/dmesg', {});
    assert.ok(late.lines.length > dmesgAtWrite.lines.length);
    assert.ok(late.lines.some((l) => l.text === KMSG_MARKER && l.facility === 1), 'the /dev/kmsg line (facility user)');
    assert.ok(late.lines.some((l) => l.text === 'sysrq: Trigger a crash'));
    assert.ok(!late.lines.some((l) => l.text.startsWith('Kernel panic')), 'panic() has not printed yet at its entry');
  });

  it('a dmesg line goes to where the serial console printed it (rewind/dmesgTime, the Events view\'s click)', async (t) => {
    if (session.skip()) return t.skip(session.skip());
    // From the panic: the log holds the boot's records; one of them, by its sequence number.
    const log = await c.custom('rewind/dmesg', {});
    const record = log.lines.find((l) => l.text === 'Run /init as init process');
    assert.ok(record, 'the record of init starting');
    const at = await c.custom('rewind/dmesgTime', { seq: record.seq });
    assert.equal(at.seq, record.seq);
    assert.equal(at.method, 'console');
    assert.match(at.text, /^\[\s*\d+\.\d{6}\] Run \/init as init process\s*$/);
    assert.ok(at.icount < (await c.position()).icount, `${at.icount} is before the panic`);
    // The bundle's console says the same line ended at that time point.
    const printed = await c.custom('rewind/console', { from: at.icount, limit: 1 });
    assert.equal(printed.lines[0]!.icount, at.icount);
    assert.equal(printed.lines[0]!.line, at.consoleLine);
    // The replay agrees: there the kernel is in its console path writing to the UART, and the record is in the log.
    const stop = await c.run(() => c.dc.send('rewind/seek', { icount: at.icount }));
    assert.equal(stop.position.icount, at.icount);
    assert.ok(stop.frames.some((f) => /^(serial8250_console_\w+|uart_console_write|console_\w+|call_console_driver|univ8250_console_write) /.test(f)), stop.frames.join(' < '));
    const there = await c.custom('rewind/dmesg', {});
    assert.ok(there.lines.some((l) => l.seq === record.seq && l.text === record.text));
    // A record that is not in the log at the position: the error says where to look.
    await assert.rejects(c.custom('rewind/dmesgTime', { seq: log.lines.at(-1)!.seq + 1000 }), /is not in the kernel log at this time point.*logged later/);
  });
});

describe('Linux kernel awareness under kernel page-table isolation (pti=on)', { timeout: 900_000 }, () => {
  // The same kernel and workload, with KPTI forced on (QEMU's default CPU is AMD's, which Linux does not isolate).
  const variant = useLinuxVariant('kpti', { append: 'panic=-1 pti=on' });
  const c = variant.c;

  it('says the task is unknown on the user page tables, rather than reading anything wrong', async (t) => {
    if (variant.skip()) return t.skip(variant.skip());
    const fixture = variant.fixture();
    const bundle = variant.bundle();
    const threadName = async () => (await c.dc.threadsRequest()).body.threads[0]!.name;
    const first = await c.launch({ recording: bundle, symbols: [fixture.vmlinux] }, async () => {
      await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'ksys_write', condition: `count == ${WRITE_BYTES}` }] });
    });
    assert.equal(first.reason, 'function breakpoint');
    const inSyscall = first.position.icount;
    const m = /^CPU 0 · dd \[(\d+)\] \(kernel\)$/.exec(await threadName());
    assert.ok(m, 'in the system call, on the kernel page tables: the task');
    // The entry's first instruction still runs on the user page tables; the instruction before it is dd's `syscall`.
    const r = await c.dc.evaluateRequest({ expression: '-exec info address entry_SYSCALL_64', context: 'repl' });
    const entry = /\bat (?:address )?(0x[0-9a-f]+)/.exec(r.body.result)![1]!;
    await c.dc.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: entry }] });
    const atEntry = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assert.equal(atEntry.reason, 'instruction breakpoint');
    assert.ok(atEntry.position.icount < inSyscall);
    assert.equal(await threadName(), 'CPU 0 · task unknown on the user page tables (KPTI)');
    await c.run(() => c.dc.send('rewind/seek', { icount: atEntry.position.icount - 1 }));
    assert.equal(await threadName(), 'CPU 0 · task unknown in user mode (KPTI)');
    const l = new Map([...(await c.scope('Linux')).entries()].map(([k, v]) => [k, v.value]));
    assert.equal(l.get('mode'), 'user (ring 3)');
    assert.equal(l.get('comm'), undefined);
    assert.match(l.get('note') ?? '', /KPTI/);
    await assert.rejects(c.custom('rewind/dmesg', {}), /not readable at this time point/);
  });
});
