// QEMU record/replay log -> event index. See parser.ts for the rules (time, how logs end) and
// format.ts for the byte layout and the QEMU sources it comes from.
export {
  parseReplayLog,
  findFormat,
  ReplayLogError,
} from './parser';
export type {
  ReplayEvent,
  ReplayLogIndex,
  ParseReplayLogOptions,
  ReplayLogErrorCode,
} from './parser';
export {
  EVENT_KINDS,
  FORMAT_QEMU_7_2,
  SUPPORTED_FORMATS,
  SHUTDOWN_CAUSES_7_2,
  CLOCK_KINDS_7_2,
  CHECKPOINTS_7_2,
  INPUT_EVENT_KINDS,
  KEY_VALUE_KINDS,
} from './format';
export type { EventKind, ReplayLogFormat, EventCodeSpec, PayloadLayout } from './format';
export { cutAtLastEvent, type CutLog } from './cut';
