/**
 * Which gdb remote-protocol packets may reach a replay process's gdbstub from outside the engine:
 * reads only. A recording is history: writing registers or memory would make the replay diverge
 * from it, and execution belongs to the engine (it keeps the current time point), so both are
 * refused with a message that says what to use instead.
 */
import { UserError } from '../errors';

const THREAD = '(?:-1|[0-9a-fA-F]+|p(?:-1|[0-9a-fA-F]+)\\.(?:-1|[0-9a-fA-F]+))';

const READS: RegExp[] = [
  /^g$/,
  /^p[0-9a-fA-F]+$/,
  /^m[0-9a-fA-F]+,[0-9a-fA-F]+$/,
  /^qXfer:features:read:[^:]+:[0-9a-fA-F]+,[0-9a-fA-F]+$/,
  /^q[fs]ThreadInfo$/,
  new RegExp(`^qThreadExtraInfo,${THREAD}$`),
  /^qC$/,
  /^qAttached(?::[0-9a-fA-F]+)?$/,
  /^qOffsets$/,
  /^qSymbol:[0-9a-fA-F]*:[0-9a-fA-F]*$/,
  /^qTStatus$/,
  new RegExp(`^T${THREAD}$`),
  /^\?$/,
  new RegExp(`^H[gc]${THREAD}$`),
];

/** A thread id as gdb writes it: "1", "-1", "0", "p1.2". */
export const THREAD_ID = new RegExp(`^${THREAD}$`);

/** True for the packets a replay process may be asked (reads of registers, memory, threads, target description). */
export function isReadPacket(packet: string): boolean {
  return READS.some((r) => r.test(packet));
}

/** Why a packet is refused, or undefined when it is a read. */
export function refusal(packet: string): string | undefined {
  if (isReadPacket(packet)) return undefined;
  const shown = JSON.stringify(packet.length > 40 ? packet.slice(0, 40) + '...' : packet);
  const reads = 'only reads are passed on (g, p, m, qXfer:features:read, qfThreadInfo/qsThreadInfo, qThreadExtraInfo, qC, qAttached, qOffsets, qSymbol, qTStatus, T, ?, Hg/Hc)';
  if (/^[GPMX]/.test(packet)) return `packet ${shown} writes ${packet[0] === 'G' || packet[0] === 'P' ? 'registers' : 'memory'}: a recording is history and cannot be changed (the replay would diverge); ${reads}`;
  if (/^(?:[cCsSiI]|vCont|bc|bs|[Zz]|R|r|k|D|vKill|vRun|vAttach)/.test(packet)) {
    return `packet ${shown} controls execution: a recording is history, time moves only through the bridge's own requests (rewind/seek, rewind/continue, rewind/stepi, rewind/reverseContinue...); ${reads}`;
  }
  return `packet ${shown} is not a read; ${reads}`;
}

/** Throws a UserError 'packet-refused' unless the packet is a read (and `thread`, if given, a thread id). */
export function checkReadPacket(packet: string, thread?: string): void {
  if (thread !== undefined && !THREAD_ID.test(thread)) throw new UserError(`"thread" must be a gdb thread id such as "1" or "p1.1", got ${JSON.stringify(thread)}`, 'bad-params');
  const why = refusal(packet);
  if (why) throw new UserError(why, 'packet-refused');
}
