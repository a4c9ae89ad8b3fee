// Event tables of QEMU's record/replay log (`-icount rr=record,rrfile=LOG`), as data.
//
// Everything here was read from QEMU's own source (Debian's qemu 1:7.2+dfsg-7+deb12u18, and the
// upstream 10.0.2 tarball from bookworm-backports), not from documentation:
//
//   header        replay/replay.c          REPLAY_VERSION, HEADER_SIZE = sizeof(uint32_t) + sizeof(uint64_t).
//                                          replay_enable() seeks past the header when recording;
//                                          replay_finish() writes the version dword last, at exit.
//   integers      replay/replay-internal.c replay_put_word/dword/qword: BIG-ENDIAN, high half first.
//                                          replay_put_array: dword length, then the bytes.
//   event bytes   replay/replay-internal.h enum ReplayEvents, enum ReplayAsyncEventKind.
//   clocks        include/sysemu/replay.h  enum ReplayClockKind (10.0: include/system/replay.h).
//   checkpoints   include/sysemu/replay.h  enum ReplayCheckpoint.
//   shutdown      qapi/run-state.json      enum ShutdownCause (EVENT_SHUTDOWN + cause).
//   input events  replay/replay-input.c + qapi/ui.json (InputEventKind, KeyValueKind).
//   payloads      replay/replay-events.c (async), replay-time.c (clock), replay-char.c,
//                 replay-net.c, replay-audio.c, replay-random.c.
//
// QEMU 10.0 did not bump REPLAY_VERSION (still 0xe0200c) and kept every enum above identical; the
// only format difference is a new input event kind, 'mtt' (multi-touch, QEMU 8.1+), which a 7.2
// log never contains. So one table serves both; the parser accepts 'mtt' for every log.

/** Byte layouts of the event payloads (what follows the event byte). */
export type PayloadLayout =
  | 'none'            // nothing
  | 'instruction'     // dword: instructions executed since the previous EVENT_INSTRUCTION
  | 'qword'           // one qword (clock value, bh/block id, audio-out count)
  | 'input'           // InputEvent, variable: see replay-input.c
  | 'char-read'       // byte char-driver index, array (dword length + bytes)
  | 'net'             // byte net-filter index, dword flags, array (packet)
  | 'char-write'      // dword result, dword offset
  | 'array'           // array (dword length + bytes)
  | 'dword'           // one dword
  | 'audio-in'        // qword recorded, qword wpos, then `recorded` pairs of qwords (left, right)
  | 'random';         // dword result, array (the random bytes)

/** One event byte value (or one range of them) of the log. */
export interface EventCodeSpec {
  /** Public kind name reported in ReplayEvent.kind (kebab-case); '' for EVENT_INSTRUCTION. */
  kind: string;
  /** QEMU's name, for diagnostics. */
  qemuName: string;
  layout: PayloadLayout;
  /** ReplayEvent.detail for this code (clock name, checkpoint name, shutdown cause, ...). */
  detail?: string;
}

export interface ReplayLogFormat {
  /** The raw version dword in the log header. */
  version: number;
  /** ReplayLogIndex.formatName. */
  name: string;
  /** Human description of which QEMU versions write it (for error messages). */
  qemuVersions: string;
  /** Size of the header in bytes (version dword + reserved qword). */
  headerSize: number;
  /** Event byte -> spec; the array length is EVENT_COUNT (bytes >= it are corrupt). */
  codes: readonly EventCodeSpec[];
  /** Event byte of EVENT_INSTRUCTION and EVENT_END. */
  instructionCode: number;
  endCode: number;
}

// ---- enums of QEMU 7.2 (identical in 10.0) ----

/** enum ReplayAsyncEventKind, replay/replay-internal.h. */
const ASYNC_KINDS_7_2: readonly EventCodeSpec[] = [
  { kind: 'bh', qemuName: 'EVENT_ASYNC+REPLAY_ASYNC_EVENT_BH', layout: 'qword' },
  { kind: 'bh', qemuName: 'EVENT_ASYNC+REPLAY_ASYNC_EVENT_BH_ONESHOT', layout: 'qword', detail: 'oneshot' },
  { kind: 'input', qemuName: 'EVENT_ASYNC+REPLAY_ASYNC_EVENT_INPUT', layout: 'input' },
  { kind: 'input', qemuName: 'EVENT_ASYNC+REPLAY_ASYNC_EVENT_INPUT_SYNC', layout: 'none', detail: 'sync' },
  { kind: 'serial-input', qemuName: 'EVENT_ASYNC+REPLAY_ASYNC_EVENT_CHAR_READ', layout: 'char-read' },
  { kind: 'block', qemuName: 'EVENT_ASYNC+REPLAY_ASYNC_EVENT_BLOCK', layout: 'qword' },
  { kind: 'network', qemuName: 'EVENT_ASYNC+REPLAY_ASYNC_EVENT_NET', layout: 'net' },
];

/** enum ShutdownCause, qapi/run-state.json (order matters; EVENT_SHUTDOWN_LAST = + SHUTDOWN_CAUSE__MAX). */
export const SHUTDOWN_CAUSES_7_2: readonly string[] = [
  'none', 'host-error', 'host-qmp-quit', 'host-qmp-system-reset', 'host-signal', 'host-ui',
  'guest-shutdown', 'guest-reset', 'guest-panic', 'subsystem-reset', 'snapshot-load',
];

/** enum ReplayClockKind, include/sysemu/replay.h. */
export const CLOCK_KINDS_7_2: readonly string[] = ['host', 'virtual-rt'];

/** enum ReplayCheckpoint, include/sysemu/replay.h. */
export const CHECKPOINTS_7_2: readonly string[] = [
  'clock-warp-start', 'clock-warp-account', 'reset-requested', 'suspend-requested',
  'clock-virtual', 'clock-host', 'clock-virtual-rt', 'init', 'reset',
];

/** enum InputEventKind, qapi/ui.json ('mtt' since QEMU 8.1). */
export const INPUT_EVENT_KINDS: readonly string[] = ['key', 'btn', 'rel', 'abs', 'mtt'];
/** enum KeyValueKind, qapi/ui.json. */
export const KEY_VALUE_KINDS: readonly string[] = ['number', 'qcode'];

/** enum ReplayEvents of replay/replay-internal.h (7.2 and 10.0), expanded to one entry per byte. */
function buildCodes72(): EventCodeSpec[] {
  const c: EventCodeSpec[] = [];
  c.push({ kind: '', qemuName: 'EVENT_INSTRUCTION', layout: 'instruction' });              // 0
  c.push({ kind: 'interrupt', qemuName: 'EVENT_INTERRUPT', layout: 'none' });              // 1
  c.push({ kind: 'exception', qemuName: 'EVENT_EXCEPTION', layout: 'none' });              // 2
  c.push(...ASYNC_KINDS_7_2);                                                               // 3..9
  // EVENT_SHUTDOWN .. EVENT_SHUTDOWN + SHUTDOWN_CAUSE__MAX (inclusive: 12 codes)           // 10..21
  for (let i = 0; i <= SHUTDOWN_CAUSES_7_2.length; i++) {
    const cause = SHUTDOWN_CAUSES_7_2[i] ?? `cause-${i}`;
    c.push({ kind: 'shutdown', qemuName: `EVENT_SHUTDOWN+${i}`, layout: 'none', detail: cause });
  }
  c.push({ kind: 'char-write', qemuName: 'EVENT_CHAR_WRITE', layout: 'char-write' });       // 22
  c.push({ kind: 'char-read-all', qemuName: 'EVENT_CHAR_READ_ALL', layout: 'array' });      // 23
  c.push({ kind: 'char-read-all', qemuName: 'EVENT_CHAR_READ_ALL_ERROR', layout: 'dword', detail: 'error' }); // 24
  c.push({ kind: 'audio', qemuName: 'EVENT_AUDIO_OUT', layout: 'qword', detail: 'out' });   // 25
  c.push({ kind: 'audio', qemuName: 'EVENT_AUDIO_IN', layout: 'audio-in', detail: 'in' });  // 26
  c.push({ kind: 'random', qemuName: 'EVENT_RANDOM', layout: 'random' });                  // 27
  for (const k of CLOCK_KINDS_7_2) {                                                        // 28..29
    c.push({ kind: 'clock', qemuName: `EVENT_CLOCK+${k}`, layout: 'qword', detail: k });
  }
  for (const k of CHECKPOINTS_7_2) {                                                        // 30..38
    c.push({ kind: 'checkpoint', qemuName: `EVENT_CHECKPOINT+${k}`, layout: 'none', detail: k });
  }
  c.push({ kind: 'end', qemuName: 'EVENT_END', layout: 'none' });                           // 39
  return c;                                                                                  // EVENT_COUNT = 40
}

const CODES_7_2 = buildCodes72();

/** QEMU 7.2 .. 10.0 (REPLAY_VERSION 0xe0200c in both replay/replay.c). */
export const FORMAT_QEMU_7_2: ReplayLogFormat = {
  version: 0xe0200c,
  name: 'qemu-7.2',
  qemuVersions: 'QEMU 7.2 to 10.0',
  headerSize: 12,
  codes: CODES_7_2,
  instructionCode: 0,
  endCode: CODES_7_2.length - 1,
};

/** Every format this Rewind reads, keyed by version dword. */
export const SUPPORTED_FORMATS: readonly ReplayLogFormat[] = [FORMAT_QEMU_7_2];

// The public event kinds are part of every wire: they live in protocol/recording.ts.
export { EVENT_KINDS, type EventKind } from '@rewind/protocol';
