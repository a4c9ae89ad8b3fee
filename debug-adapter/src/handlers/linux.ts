/**
 * Linux guests (kernel awareness in ../linux/): rewind/dmesg and rewind/kernelEvents, and the
 * hooks through which LinuxSupport runs its reads and shows its scans.
 */
import { AdapterError } from '../errors';
import type { LinuxSessionHooks, LinuxSupport } from '../linux/linux-support';
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
