/**
 * Looking at the current time point: threads (vCPUs), stacks, scopes, variables, expressions
 * (watch, hover, the REPL; `-exec` goes to console.ts), sources, and the panic a stop is on.
 * Each runs as an inspection (HandlerContext.inspect).
 */
import { Source } from '@vscode/debugadapter';
import { promises as fs } from 'node:fs';
import { basename } from 'node:path';
import { AdapterError } from '../errors';
import { listSourceFiles } from '../mi/commands';
import type { HandlerTable } from '../requests';
import { panicMessage } from '../stops';
import { optionalInteger, requireNumber } from './arguments';
import { gdbCommand } from './console';
import type { HandlerContext } from './context';

export function inspectionHandlers(c: HandlerContext) {
  return {
    threads: async (_args, ctx) => {
      if (!c.debuggee) return { threads: c.threads };
      const threads = await c.inspect(ctx, (_signal, r) => r.inspector.threads());
      c.threads = threads;
      return { threads };
    },

    stackTrace: async (args, ctx) => {
      requireNumber(args.threadId, 'threadId');
      optionalInteger(args.startFrame, 'startFrame', 0);
      optionalInteger(args.levels, 'levels', 0);
      return c.inspect(ctx, (signal, r) => r.inspector.stackTrace(args, signal));
    },

    scopes: async (args, ctx) => {
      requireNumber(args.frameId, 'frameId');
      return c.inspect(ctx, async (_signal, r) => ({ scopes: r.inspector.scopes(args.frameId) }));
    },

    variables: async (args, ctx) => {
      requireNumber(args.variablesReference, 'variablesReference');
      return c.inspect(ctx, async (signal, r) => ({ variables: await r.inspector.variables(args, signal) }));
    },

    evaluate: async (args, ctx) => {
      if (typeof args.expression !== 'string') throw new AdapterError('evaluate needs "expression"');
      const text = args.expression.trim();
      if (text.startsWith('-exec ') || text === '-exec') return gdbCommand(c, text.slice(5).trim(), ctx);
      if (text === '') throw new AdapterError('nothing to evaluate');
      // Linux: `dmesg` in the Debug Console prints the kernel log at this time point.
      if (text === 'dmesg' && c.linux && (args.context === 'repl' || args.context === undefined)) {
        const linux = c.linux;
        return { result: (await c.inspect(ctx, (signal) => linux.dmesgText(signal))).replace(/\n$/, ''), variablesReference: 0 };
      }
      return c.inspect(ctx, (signal, r) => r.inspector.evaluate(text, r.inspector.frame(args.frameId), signal, args.format));
    },

    source: async (args) => {
      const path = args.source?.path;
      if (!path) throw new AdapterError('this source has no path; Rewind only serves source files that exist on disk (map build paths with "sourceMap")');
      try {
        return { content: await fs.readFile(path, 'utf8'), mimeType: 'text/x-c' };
      } catch {
        throw new AdapterError(`cannot read ${path}: map the build's source paths to this machine with "sourceMap" in the launch configuration`);
      }
    },

    loadedSources: async (_args, ctx) => {
      const d = c.requireDebuggee();
      const files = await c.inspect(ctx, (signal) => listSourceFiles(d.gdb, { signal }));
      return { sources: files.map((f) => new Source(basename(f.fullname), f.fullname)) };
    },

    /**
     * At a stop on the panic filter: the panic's message. A recording knows what the kernel printed
     * next: the first panic line of the console at or after this time point (the demo guest's
     * "PANIC: ...", Linux's "Kernel panic - not syncing: ...").
     */
    exceptionInfo: async (_args, ctx) => {
      const d = c.requireDebuggee();
      if (c.lastStopReason !== 'exception') throw new AdapterError('exceptionInfo: the debuggee is not stopped on a kernel panic');
      const { icount } = await d.position();
      const { lines } = await c.inspect(ctx, () => d.client.console(d.sessionId, { from: icount, limit: 200 }));
      const message = panicMessage(lines.map((l) => l.text));
      return {
        exceptionId: 'panic',
        description: message ?? 'The kernel panicked (the recording ends before it printed why)',
        breakMode: 'always',
        details: { typeName: 'Kernel panic', ...(message ? { message } : {}) },
      };
    },
  } satisfies Partial<HandlerTable>;
}
