// Turning the log of a killed recording into one QEMU replays and Rewind reads (see parser.ts for
// how a log ends).
//
// QEMU writes the log through stdio, so a killed QEMU leaves what its last 4 KiB buffer flush
// wrote: a zero version dword (written only at exit), no end event, usually a cut last event, and
// possibly a complete EVENT_INSTRUCTION whose event was cut. That instruction count is dropped too:
// the instructions it counts may end in one that asks the log for its event (a console write, for
// one), which QEMU would then not find and exit with "Missing character write event". After the
// last complete event the cut log gets what replay_finish() writes at exit: EVENT_SHUTDOWN +
// host-signal, EVENT_END, and the version dword. A replay then stops at that shutdown request, as
// it does at the end of any finished recording.

import { FORMAT_QEMU_7_2, type ReplayLogFormat } from './format';
import { findFormat, parseReplayLog, type ParseReplayLogOptions, type ReplayLogIndex } from './parser';

export interface CutLog {
  /** The log to keep: the input itself when QEMU had finished it. */
  log: Buffer;
  /** True when QEMU had finished the log (nothing was cut or added). */
  wasComplete: boolean;
  /** The index of the kept log. */
  index: ReplayLogIndex;
  /** Bytes of the input after the last complete event (a cut event, a dangling instruction count). */
  droppedBytes: number;
  /** Events kept from the input (without the added shutdown and end). */
  keptEvents: number;
}

/**
 * Cuts an unfinished log after its last complete event and finishes it the way QEMU does at exit.
 * Returns undefined when the log holds no complete event. Throws ReplayLogError for a log that is
 * corrupt (not just cut) or of an unknown version.
 */
export function cutAtLastEvent(raw: Buffer, opts: Pick<ParseReplayLogOptions, 'signal' | 'onProgress'> = {}): CutLog | undefined {
  const parsed = parseReplayLog(raw, { ...opts, allowIncomplete: true });
  if (parsed.complete) return { log: raw, wasComplete: true, index: parsed, droppedBytes: 0, keptEvents: parsed.events.length };
  if (parsed.events.length === 0) return undefined;
  const fmt: ReplayLogFormat = findFormat(parsed.formatVersion) ?? FORMAT_QEMU_7_2;
  const trailer = Buffer.from([shutdownCode(fmt, 'host-signal'), fmt.endCode]);
  const log = Buffer.concat([raw.subarray(0, parsed.eventsEnd), trailer]);
  log.writeUInt32BE(fmt.version, 0);
  const index = parseReplayLog(log);
  return { log, wasComplete: false, index, droppedBytes: raw.length - parsed.eventsEnd, keptEvents: parsed.events.length };
}

function shutdownCode(fmt: ReplayLogFormat, cause: string): number {
  const code = fmt.codes.findIndex((c) => c.kind === 'shutdown' && c.detail === cause);
  if (code < 0) throw new Error(`${fmt.name} has no shutdown event for ${cause}`);
  return code;
}
