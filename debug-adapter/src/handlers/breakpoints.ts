/**
 * Breakpoints of every kind DAP has: source, function, instruction, exception (the `panic`
 * filter) and data (by expression or by address). BreakpointManager (../breakpoints.ts) keeps
 * them in gdb; these check the requests and run them as inspections.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { DataId } from '../breakpoints';
import { AdapterError, messageOf } from '../errors';
import type { HandlerTable } from '../requests';
import { isListOfObjects, optionalInteger, parseAddress } from './arguments';
import type { HandlerContext } from './context';
import { dataIdOf } from './memory';

export function breakpointHandlers(c: HandlerContext) {
  return {
    setBreakpoints: async (args, ctx) => {
      const path = args.source?.path;
      if (!path) throw new AdapterError('setBreakpoints needs a source with a path');
      if (!isListOfObjects(args.breakpoints ?? [])) throw new AdapterError('"breakpoints" must be a list of source breakpoints ({"line": N, ...})');
      if (!Array.isArray(args.lines ?? []) || (args.lines ?? []).some((l) => typeof l !== 'number')) throw new AdapterError('"lines" must be a list of line numbers');
      const bps = args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }));
      return c.inspect(ctx, async (_signal, r) => ({ breakpoints: await r.breakpoints.setSourceBreakpoints(path, bps) }));
    },

    setFunctionBreakpoints: async (args, ctx) => {
      if (!isListOfObjects(args.breakpoints)) throw new AdapterError('setFunctionBreakpoints needs "breakpoints", a list of {"name": FUNCTION, ...}');
      return c.inspect(ctx, async (_signal, r) => ({ breakpoints: await r.breakpoints.setFunctionBreakpoints(args.breakpoints) }));
    },

    setInstructionBreakpoints: async (args, ctx) => {
      if (!Array.isArray(args.breakpoints)) throw new AdapterError('setInstructionBreakpoints needs "breakpoints"');
      return c.inspect(ctx, async (_signal, r) => ({ breakpoints: await r.breakpoints.setInstructionBreakpoints(args.breakpoints) }));
    },

    /** The filters are kept: configurationDone applies them to a recording opened after them. */
    setExceptionBreakpoints: async (args, ctx) => {
      c.exceptionFilters = Array.isArray(args.filters) ? args.filters.filter((f) => typeof f === 'string') : [];
      if (c.debuggee) await c.inspect(ctx, (_signal, r) => r.breakpoints.setExceptionFilters(c.exceptionFilters));
    },

    setDataBreakpoints: async (args, ctx) => {
      if (!Array.isArray(args.breakpoints)) throw new AdapterError('setDataBreakpoints needs "breakpoints"');
      return c.inspect(ctx, async (_signal, r) => ({ breakpoints: await r.breakpoints.setDataBreakpoints(args.breakpoints) }));
    },

    dataBreakpointInfo: async (args, ctx) => {
      const d = c.requireDebuggee();
      if (typeof args.name !== 'string' || args.name === '') throw new AdapterError('dataBreakpointInfo needs "name"');
      const bytes = args.bytes === undefined ? undefined : optionalInteger(args.bytes, 'bytes', 1, 4096);
      const access: DebugProtocol.DataBreakpointAccessType[] = ['write', 'read', 'readWrite'];
      if (args.asAddress === true) {
        // Memory by address (a Memory view selection, a pointer's value): no expression, no type.
        let address: bigint;
        try {
          address = parseAddress(args.name);
        } catch (e) {
          return { dataId: null, description: messageOf(e) };
        }
        const size = bytes ?? 1;
        const hex = `0x${address.toString(16)}`;
        const id: DataId = { address: hex, size, expression: `${size} byte${size === 1 ? '' : 's'} at ${hex}` };
        return { dataId: JSON.stringify(id), description: id.expression, accessTypes: access, canPersist: true };
      }
      return c.inspect(ctx, async (_signal, r) => {
        let expression = args.name;
        let frame = r.inspector.frame(args.frameId);
        if (args.variablesReference !== undefined && args.variablesReference > 0) {
          const e = await r.inspector.expressionOf(args.variablesReference, args.name);
          expression = e.expression;
          frame = e.frame ?? frame;
        }
        if (expression.startsWith('$')) return { dataId: null, description: `${expression} is a register, not memory` };
        try {
          const found = await dataIdOf(d, expression, frame);
          // `bytes`: that many bytes from the variable's address (its type then no longer describes them).
          const id: DataId = bytes === undefined ? found : { address: found.address, size: bytes, expression: found.expression };
          return { dataId: JSON.stringify(id), description: `${expression} (${id.size} bytes at ${id.address})`, accessTypes: access, canPersist: false };
        } catch (e) {
          return { dataId: null, description: `no data breakpoint for ${expression}: ${messageOf(e)}` };
        }
      });
    },
  } satisfies Partial<HandlerTable>;
}
