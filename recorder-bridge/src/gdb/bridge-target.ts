/**
 * The gdb relay's target over a bridge session: the debug adapter runs a GdbRelay in its own
 * process, on a private Unix socket, and gdb sees the session's current time point as a remote
 * target. Execution goes through the bridge's requests (so the bridge's progress and
 * positionChanged notifications follow), reads through rewind/gdbPacket.
 *
 *   const relay = new GdbRelay(new BridgeRelayTarget(client, sessionId), { onExecution });
 *   await relay.listenUnix('/run/user/1000/rewind-gdb-1.sock');   // gdb: target remote PATH
 */
import { BridgeRequestError, type BridgeClient } from '../bridge/client';
import { CancelledError } from '../errors';
import type { BridgeBreakpoint, BridgeStop, BridgeWatchpoint, HexAddress } from '@rewind/protocol';
import type { TimePoint } from '../timepoint';
import type { RelayPoints, RelaySnapshot, RelayStop, RelayTarget } from './relay-target';

export class BridgeRelayTarget implements RelayTarget {
  /** Forward continues in flight, for interrupt(). */
  private readonly running = new Set<AbortController>();

  constructor(
    readonly client: BridgeClient,
    readonly sessionId: string,
  ) {}

  position(): Promise<{ icount: TimePoint; end: TimePoint }> {
    return this.client.position(this.sessionId);
  }

  async continueForward(points: RelayPoints, signal?: AbortSignal): Promise<RelayStop> {
    // Cancelling rewind/continue interrupts it where it is: the bridge answers with a 'time' stop.
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    if (signal?.aborted) ac.abort();
    signal?.addEventListener('abort', onAbort);
    this.running.add(ac);
    try {
      return stopOf(await this.client.continue(this.sessionId, { ...wirePoints(points), signal: ac.signal }));
    } finally {
      this.running.delete(ac);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async stepi(): Promise<TimePoint> {
    return (await this.client.stepi(this.sessionId)).icount;
  }

  async reverseStepi(): Promise<TimePoint> {
    return (await this.client.reverseStepi(this.sessionId)).icount;
  }

  async reverseContinue(points: RelayPoints, signal?: AbortSignal): Promise<RelayStop> {
    try {
      return stopOf(await this.client.reverseContinue(this.sessionId, { ...wirePoints(points), ...(signal ? { signal } : {}) }));
    } catch (e) {
      if (e instanceof BridgeRequestError && e.code === 'cancelled') throw new CancelledError('reverse continue');
      throw e;
    }
  }

  async seek(icount: TimePoint): Promise<TimePoint> {
    return (await this.client.seek(this.sessionId, icount)).icount;
  }

  async gdbPacket(packet: string, thread?: string): Promise<string> {
    return (await this.client.gdbPacket(this.sessionId, packet, thread !== undefined ? { thread } : {})).reply;
  }

  async snapshots(): Promise<RelaySnapshot[]> {
    return (await this.client.snapshots(this.sessionId)).snapshots;
  }

  interrupt(): void {
    for (const ac of this.running) ac.abort();
  }
}

function hexOf(v: bigint): HexAddress {
  return '0x' + v.toString(16);
}

function wirePoints(p: RelayPoints): { breakpoints: BridgeBreakpoint[]; watchpoints: BridgeWatchpoint[] } {
  return {
    breakpoints: p.breakpoints.map((b) => ({
      address: hexOf(b.address),
      ...(b.stack ? { stack: { ...(b.stack.min !== undefined ? { min: hexOf(b.stack.min) } : {}), ...(b.stack.max !== undefined ? { max: hexOf(b.stack.max) } : {}) } } : {}),
    })),
    watchpoints: p.watchpoints.map((w) => ({ address: hexOf(w.address), size: w.size, access: w.access, ...(w.changes ? { changes: true } : {}) })),
  };
}

/** A bridge stop with bigint addresses. */
export function stopOf(s: BridgeStop): RelayStop {
  const address = s.address !== undefined ? BigInt(s.address) : 0n;
  switch (s.kind) {
    case 'breakpoint':
      return { kind: 'breakpoint', icount: s.icount, address };
    case 'watchpoint':
      return { kind: 'watchpoint', icount: s.icount, address, dataAddress: s.dataAddress !== undefined ? BigInt(s.dataAddress) : 0n };
    default:
      return { kind: s.kind, icount: s.icount };
  }
}
