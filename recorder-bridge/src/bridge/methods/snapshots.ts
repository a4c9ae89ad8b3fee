/** rewind/snapshots, createSnapshot: the snapshots a session lists and the ones it adds. */
import { UserError } from '../../errors';
import { sessionOf, type MethodTable } from '../connection';

export const snapshotMethods: Pick<MethodTable, 'rewind/snapshots' | 'rewind/createSnapshot'> = {
  'rewind/snapshots': async (conn, p) => {
    const s = sessionOf(conn, p);
    return { snapshots: s.engine.listSnapshots() };
  },
  'rewind/createSnapshot': async (conn, p) => {
    const s = sessionOf(conn, p);
    return s.run(async (e) => {
      const snap = await e.createSnapshot();
      if (!snap) throw new UserError(`QEMU could not save a snapshot at icount ${e.icount}; try another time point`, 'snapshot-failed');
      const { name, icount, vmClockNs, vmStateBytes, source } = snap;
      return { snapshot: { name, icount, vmClockNs, vmStateBytes, source } };
    });
  },
};
