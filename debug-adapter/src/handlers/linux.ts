/**
 * Linux guests (kernel awareness in ../linux/): rewind/dmesg, rewind/tasks and rewind/kernelEvents, and the
 * hooks through which LinuxSupport runs its reads and shows its scans.
 */
import { AdapterError } from '../errors';
import { consoleLineOf } from '../linux/dmesg-console';
import type { LinuxSessionHooks, LinuxSupport } from '../linux/linux-support';
import { dapModule } from '../linux/module-symbols';
import type { HandlerTable } from '../requests';
import type { HandlerContext } from './context';

export function linuxHandlers(c: HandlerContext) {
  const requireLinux = (what: string): LinuxSupport => {
    c.requireDebuggee();
    if (!c.linux) throw new AdapterError(`${what} needs a Linux guest: these symbols have no linux_banner and init_task`);
    return c.linux;
  };

  return {
    'rewind/dmesg': async (args, ctx) => {
      const linux = requireLinux('rewind/dmesg');
      return c.inspect(ctx, (signal) => linux.dmesg(args.limit, signal));
    },

    /** A sleeping task's saved stack (the Tasks view's click on a task that is not running). */
    'rewind/taskStack': async (args, ctx) => {
      const linux = requireLinux('rewind/taskStack');
      if (typeof args.task !== 'string' || !/^0x[0-9a-f]+$/i.test(args.task)) throw new AdapterError(`"task" must be a task_struct's address in hex, as rewind/tasks lists it; got ${JSON.stringify(args.task)}`);
      const task = BigInt(args.task);
      return c.inspect(ctx, (signal) => linux.taskStack(task, signal));
    },

    'rewind/tasks': async (_args, ctx) => {
      const linux = requireLinux('rewind/tasks');
      return c.inspect(ctx, (signal) => linux.tasks(signal));
    },

    /**
     * When a record of the kernel log (by its sequence number, as rewind/dmesg lists it now) was
     * printed: the time point of its line on the serial console (linux/dmesg-console.ts).
     */
    'rewind/dmesgTime': async (args, ctx) => {
      const linux = requireLinux('rewind/dmesgTime');
      const d = c.requireDebuggee();
      const seq = args.seq;
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new AdapterError(`"seq" must be a record's sequence number (a non-negative whole number), got ${JSON.stringify(seq)}`);
      const log = await c.inspect(ctx, (signal) => linux.dmesg(undefined, signal));
      const record = log.lines.find((l) => l.seq === seq);
      if (!record) {
        const held = log.firstSeq !== undefined && log.nextSeq !== undefined ? `records ${log.firstSeq} to ${log.nextSeq - 1}` : 'no records';
        const why = log.nextSeq !== undefined && seq >= log.nextSeq ? 'it is logged later: go later in the recording and ask again' : 'it was overwritten or is still being written';
        throw new AdapterError(`record ${seq} is not in the kernel log at this time point (it holds ${held}): ${why}`);
      }
      const { lines } = await d.client.console(d.sessionId, { limit: Number.MAX_SAFE_INTEGER });
      const line = consoleLineOf(record, lines);
      if (!line) {
        throw new AdapterError(
          `record ${seq} ("${record.text.split('\n')[0]}", level ${record.level}) was not printed on the serial console, so its time point is not known: ` +
            'records above the console\'s loglevel (or all of them with "quiet") are only stored in the log; record with a higher loglevel (e.g. "loglevel=8") to see every one',
        );
      }
      return { seq, icount: line.icount, method: 'console' as const, consoleLine: line.line, text: line.text };
    },

    /**
     * The loadable modules at the current time point (a Linux guest's; none for other guests), as
     * the last move left them (linux/module-symbols.ts): the `module` events tell the changes.
     */
    modules: async (args) => {
      c.requireDebuggee();
      const all = (c.linux?.modules.current ?? []).map(dapModule);
      const start = args.startModule ?? 0;
      const modules = args.moduleCount ? all.slice(start, start + args.moduleCount) : all.slice(start);
      return { modules, totalModules: all.length };
    },

    /** Not an inspection: the scan runs in a bridge session of its own, whatever the user does meanwhile. */
    'rewind/kernelEvents': async (_args, ctx) => {
      const linux = requireLinux('rewind/kernelEvents');
      return c.ops.run(ctx.request.seq, 'Kernel events', { current: 'never' }, (op) => linux.kernelEvents(ctx.request.seq, op.signal));
    },
  } satisfies Partial<HandlerTable>;
}

export function linuxSessionHooks(c: HandlerContext, log: (line: string) => void): LinuxSessionHooks {
  return {
    inspect: (op) => c.inspectOutsideRequests(op),
    // A kernel-event scan: a cancellable progress notification of its own.
    progress: (title, requestSeq, cancel) => {
      const op = c.ops.begin(requestSeq, title, { current: 'never', showNow: true, onCancel: cancel });
      return { update: (done, total) => op.progress(done, total, 'of the recording scanned'), end: () => op.end() };
    },
    eventsChanged: (body) => c.sendCustomEvent('rewind/eventsChanged', body),
    log,
  };
}
