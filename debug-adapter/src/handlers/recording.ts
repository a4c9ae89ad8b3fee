/**
 * Questions about the whole recording, answered by the bridge: its events (rewind/events; merged
 * with the kernel's on a Linux guest), its snapshots, and every hit of a line, function or
 * address (rewind/hits, a query).
 */
import type { SnapshotSource } from '@rewind/protocol';
import { AdapterError } from '../errors';
import type { HandlerTable } from '../requests';
import { parseAddress } from './arguments';
import type { HandlerContext } from './context';
import { lineAddresses } from './history';

export function recordingHandlers(c: HandlerContext) {
  return {
    'rewind/events': async (args, ctx) => {
      const d = c.requireDebuggee();
      if (c.linux) return c.linux.events(args, ctx.request.seq);
      return d.client.events(d.sessionId, {
        ...(args.from !== undefined ? { from: args.from } : {}),
        ...(args.to !== undefined ? { to: args.to } : {}),
        ...(args.kinds !== undefined ? { kinds: args.kinds } : {}),
        ...(args.limit !== undefined ? { limit: args.limit } : {}),
      });
    },

    'rewind/snapshots': async () => {
      const d = c.requireDebuggee();
      const r = await d.client.snapshots(d.sessionId);
      return { snapshots: r.snapshots.map((s) => ({ name: s.name, icount: s.icount, source: (s as { source?: SnapshotSource }).source ?? 'record' })) };
    },

    'rewind/takeSnapshot': async () => {
      const d = c.requireDebuggee();
      const r = await d.client.createSnapshot(d.sessionId);
      return { snapshot: r.snapshot };
    },

    'rewind/hits': async (args, ctx) => {
      const d = c.requireDebuggee();
      let spec: string;
      if (args.address !== undefined) spec = `*${parseAddress(args.address).toString()}`;
      else if (args.function !== undefined) spec = args.function;
      else if (args.source?.path && typeof args.line === 'number') spec = `${args.source.path}:${args.line}`;
      else throw new AdapterError('rewind/hits needs "source" and "line", "function", or "address"');
      const addresses = await c.inspect(ctx, async () => {
        if (args.address !== undefined) return [parseAddress(args.address)];
        const r = await lineAddresses(d, spec);
        if (r.error) throw new AdapterError(`no code for ${spec}: ${r.error}`);
        return r.addresses;
      });
      if (addresses.length === 0) throw new AdapterError(`no code for ${spec}`);
      const r = await c.query(ctx, `All hits of ${spec}`, (signal) =>
        d.client.hits(d.sessionId, addresses, { ...(args.from !== undefined ? { from: args.from } : {}), ...(args.to !== undefined ? { to: args.to } : {}), signal }),
      );
      return { addresses: addresses.map((a) => `0x${a.toString(16)}`), hits: r.hits.map((h) => ({ icount: h.icount, address: h.address })) };
    },
  } satisfies Partial<HandlerTable>;
}
