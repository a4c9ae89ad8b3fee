/**
 * What every wire says about a recording's time and events: time points and the event index's
 * events (`rewind events --json`, rewind/events on the bridge and in DAP, the timeline).
 */

/**
 * A time point is a retired-instruction count of the guest CPU (QEMU's icount). It is kept as a
 * plain number: 2^53 instructions are centuries of guest time. Every module that talks about
 * time uses this type, so that another backend (PMU counters on hardware) can sit behind the same
 * interface.
 */
export type TimePoint = number;

/** Public event kinds, one line each (recorder-bridge/src/replay-log/ reads them from QEMU's log). */
export const EVENT_KINDS = {
  interrupt: 'EVENT_INTERRUPT: the vCPU took a hardware interrupt at this icount',
  exception: 'EVENT_EXCEPTION: the vCPU raised an emulated exception at this icount',
  bh: 'async bottom half ran (detail "oneshot" for BH_ONESHOT); value = event id (icount when scheduled)',
  input: 'async UI input event: detail "key qcode=N down", "btn N up", "rel axis=N value=V", "abs ...", "mtt ...", or "sync"',
  'serial-input': 'async char-device read: bytes delivered to the guest (bytes = latin1 string, device = char driver index)',
  block: 'async block-layer completion (blkreplay); value = request id',
  network: 'async packet through a filter-replay (device = filter index, value = flags, size = packet length)',
  shutdown: 'EVENT_SHUTDOWN + cause: a shutdown request; detail = ShutdownCause (host-qmp-quit, host-signal, guest-shutdown, ...)',
  'char-write': 'result of a chardev write by the guest; value = bytes written (signed), detail = "offset N"',
  'char-read-all': 'result of a synchronous chardev read_all; size = bytes read, or detail "error" with value = errno result',
  audio: 'audio backend: detail "out" (value = samples played) or "in" (value = samples recorded, size = payload bytes)',
  random: 'qemu_guest_getrandom result; value = return code, size = number of random bytes',
  clock: 'a host clock read; detail = "host" or "virtual-rt", value = the clock value (ns, decimal)',
  checkpoint: 'a replay checkpoint; detail = checkpoint name (clock-warp-start, init, reset, ...)',
  end: 'EVENT_END: written by replay_finish() when QEMU exits, always the last byte of a finished log',
} as const;

export type EventKind = keyof typeof EVENT_KINDS;

/** One event of the index (recorder-bridge/src/replay-log/parser.ts reads them from QEMU's log). */
export interface ReplayEvent {
  /** Position in the event index, 0-based. */
  index: number;
  /** Instruction count at which the event happens. */
  icount: TimePoint;
  kind: EventKind;
  /** Sub-kind: clock kind, checkpoint name, shutdown cause, input description, 'oneshot', ... */
  detail?: string;
  /** serial-input only: the bytes delivered to the guest, as a latin1 string. */
  bytes?: string;
  /** Numeric payload as a decimal string: clock value, bh/block id, net flags, results, ... */
  value?: string;
  /** serial-input: char driver index (order of -serial/-chardev); network: filter index. */
  device?: number;
  /** Payload length in bytes of an array payload (serial-input, network, char-read-all, random, audio in). */
  size?: number;
  /** Byte offset of the event (its event byte) in the log. */
  offset: number;
}
