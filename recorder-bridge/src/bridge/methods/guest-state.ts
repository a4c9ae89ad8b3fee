/** rewind/registers, readMemory, gdbPacket: reads of the guest at a session's current time. */
import { UserError } from '../../errors';
import { checkReadPacket } from '../../gdb/read-packets';
import { sessionOf, type MethodTable } from '../connection';
import { hex, parseHex } from '../wire';

/** The largest memory read a request may ask for. */
const MAX_READ = 1 << 20;

export const guestStateMethods: Pick<MethodTable, 'rewind/registers' | 'rewind/readMemory' | 'rewind/gdbPacket'> = {
  'rewind/registers': async (conn, p) => {
    const s = sessionOf(conn, p);
    const regs = await s.run((e) => e.registers());
    return Object.fromEntries(Object.entries(regs).map(([k, v]) => [k, hex(v)]));
  },
  'rewind/readMemory': async (conn, p) => {
    const s = sessionOf(conn, p);
    const address = parseHex(p.address, 'address');
    const length = p.length;
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > MAX_READ) {
      throw new UserError(`"length" must be a whole number of bytes from 0 to ${MAX_READ}`, 'bad-params');
    }
    const data = await s.run((e) => e.readMemory(address, length));
    return { data: data.toString('base64') };
  },
  'rewind/gdbPacket': async (conn, p) => {
    const s = sessionOf(conn, p);
    if (typeof p.packet !== 'string' || p.packet.length === 0 || p.packet.length > 4096) throw new UserError('"packet" must be a gdb remote-protocol packet payload such as "g" or "m100a9a,10"', 'bad-params');
    const packet = p.packet;
    const thread = p.thread === undefined || p.thread === null ? undefined : String(p.thread);
    checkReadPacket(packet, thread); // refused before it waits in the queue
    return { reply: await s.run((e) => e.gdbPacket(packet, thread)) };
  },
};
