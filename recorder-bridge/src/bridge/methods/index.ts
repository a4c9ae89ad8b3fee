/**
 * The bridge's method table: every request but rewind/hello, by concern. A new request gets its
 * handler in the module of its concern (or a new one), and is added here.
 */
import type { MethodTable } from '../connection';
import { guestStateMethods } from './guest-state';
import { indexQueryMethods } from './index-queries';
import { queryMethods } from './queries';
import { recordingMethods } from './recording';
import { sessionMethods, type SessionHost } from './sessions';
import { snapshotMethods } from './snapshots';
import { timeTravelMethods } from './time-travel';

export type { SessionHost };

export function methodTable(host: SessionHost): MethodTable {
  return {
    ...sessionMethods(host),
    ...timeTravelMethods,
    ...guestStateMethods,
    ...snapshotMethods,
    ...recordingMethods,
    ...queryMethods,
    ...indexQueryMethods,
  };
}
