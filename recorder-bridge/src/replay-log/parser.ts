// Parser of QEMU's record/replay log into an event index. The byte layout is in format.ts, with
// the QEMU source files each part was read from.
//
// Time: EVENT_INSTRUCTION (byte 0 + dword N) is not an event of the index. QEMU writes it from
// replay_advance_current_icount() in record mode just before any other event, with N = the number
// of instructions executed since the previous EVENT_INSTRUCTION (only when N > 0); in replay it
// counts N down (replay_account_executed_instructions) and only then lets the next event happen.
// So the icount of an event is the sum of all EVENT_INSTRUCTION counts before it; several events
// can share one icount. EVENT_INSTRUCTION only advances the clock; totalIcount is the sum of all.
//
// How a log ends (replay/replay.c, replay_finish(), run from atexit): it writes the pending
// EVENT_INSTRUCTION, then EVENT_SHUTDOWN+host-signal (always, whatever the real cause: "add
// shutdown event here for the case of Ctrl-C"), then EVENT_END, and only THEN seeks back and
// writes the version dword into the header, which stays zero while recording. Consequences:
//   - a finished log has a valid version and ends with EVENT_END as its very last byte;
//   - a log whose QEMU was killed (SIGKILL, crash) has a zero version dword, no end event, and
//     usually a partial last event (stdio buffering); QEMU itself refuses to replay it
//     ("invalid input log file version");
//   - a log with a valid version but no EVENT_END was cut after QEMU finished it (a bad copy).
// Rule: by default both incomplete shapes are errors ('truncated'); with `allowIncomplete` (for
// indexing a live or crashed recording) a zero header is read as the newest format, the events up
// to the last complete one are returned and `complete` is false. Bytes after EVENT_END: 'corrupt'.

import {
  EventKind,
  FORMAT_QEMU_7_2,
  INPUT_EVENT_KINDS,
  KEY_VALUE_KINDS,
  PayloadLayout,
  ReplayLogFormat,
  SUPPORTED_FORMATS,
} from './format';

// An event of the index is part of every wire: its shape lives in protocol/recording.ts.
import type { ReplayEvent } from '@rewind/protocol';
export type { ReplayEvent };

export interface ReplayLogIndex {
  /** The raw version dword of the header (0 for an unfinished log read with allowIncomplete). */
  formatVersion: number;
  /** e.g. 'qemu-7.2'. */
  formatName: string;
  /** icount at the end of the log. */
  totalIcount: number;
  /** Every event except the EVENT_INSTRUCTION bookkeeping. */
  events: ReplayEvent[];
  /** Events per kind (only kinds that occur). */
  counts: Record<string, number>;
  /** True when the log was finished by QEMU (valid header, ends with EVENT_END). */
  complete: boolean;
  /** Bytes covered by complete events (the whole buffer when complete). */
  parsedBytes: number;
  /**
   * Byte offset just after the last complete event other than EVENT_INSTRUCTION (the header size
   * when there is none). An unfinished log can end with an EVENT_INSTRUCTION whose event was cut:
   * salvaging cuts here (record/salvage.ts).
   */
  eventsEnd: number;
}

export interface ParseReplayLogOptions {
  /** Called about every MiB and once at the end. */
  onProgress?(bytesDone: number, bytesTotal: number): void;
  /** Checked about every MiB; an aborted signal stops the parse with signal.reason. */
  signal?: AbortSignal;
  /** Index an unfinished log (zero header, no end event, partial last event) instead of failing. */
  allowIncomplete?: boolean;
}

export type ReplayLogErrorCode = 'unknown-version' | 'truncated' | 'corrupt';

export class ReplayLogError extends Error {
  constructor(
    readonly code: ReplayLogErrorCode,
    message: string,
    /** Byte offset the problem was found at, when there is one. */
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'ReplayLogError';
  }
}

const hex = (n: number): string => '0x' + n.toString(16);
const INCOMPLETE_ADVICE = 'the recording is incomplete; re-record it or restore the bundle from a copy';
const PROGRESS_STEP = 1 << 20;
const TWO_32 = 4294967296;

function supportedList(): string {
  return SUPPORTED_FORMATS.map((f) => `${hex(f.version)} from ${f.qemuVersions}`).join(', ');
}

/** Formats by version dword; the newest is used for a zero header under allowIncomplete. */
export function findFormat(version: number): ReplayLogFormat | undefined {
  return SUPPORTED_FORMATS.find((f) => f.version === version);
}

/** Decimal string of the unsigned 64-bit integer hi * 2^32 + lo, without BigInt. */
function u64String(hi: number, lo: number): string {
  if (hi < 0x200000) return String(hi * TWO_32 + lo); // < 2^53: exact as a double
  // Long division by 1e7 over 16-bit limbs: every intermediate stays below 2^53.
  let cur = hi >>> 16;
  const q0 = Math.floor(cur / 1e7);
  cur = (cur - q0 * 1e7) * 65536 + (hi & 0xffff);
  const q1 = Math.floor(cur / 1e7);
  cur = (cur - q1 * 1e7) * 65536 + (lo >>> 16);
  const q2 = Math.floor(cur / 1e7);
  cur = (cur - q2 * 1e7) * 65536 + (lo & 0xffff);
  const q3 = Math.floor(cur / 1e7);
  const rem = cur - q3 * 1e7;
  const q = ((q0 * 65536 + q1) * 65536 + q2) * 65536 + q3; // < 2^64 / 1e7 < 2^53
  return String(q) + String(rem).padStart(7, '0');
}

/** Decimal string of the big-endian 64-bit integer at p (two's complement when signed). */
function qwordString(b: Buffer, p: number, signed: boolean): string {
  const hi = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
  if (signed && hi >= 0x80000000) {
    let nlo = (~lo >>> 0) + 1;
    let nhi = ~hi >>> 0;
    if (nlo === TWO_32) { nlo = 0; nhi += 1; }
    return '-' + u64String(nhi, nlo);
  }
  return u64String(hi, lo);
}

/**
 * Parse a whole QEMU replay log (uncompressed) into an event index.
 * Throws ReplayLogError ('unknown-version' | 'truncated' | 'corrupt').
 */
export function parseReplayLog(buf: Buffer, opts: ParseReplayLogOptions = {}): ReplayLogIndex {
  const len = buf.length;
  const allowIncomplete = opts.allowIncomplete === true;
  const incomplete = (offset: number, what: string): never => {
    throw new ReplayLogError('truncated', `replay log ${what}; ${INCOMPLETE_ADVICE}`, offset);
  };

  // ---- header: dword version (big-endian), qword reserved (zero) ----
  if (len < 4) incomplete(0, `is ${len} bytes long, shorter than its header`);
  const version = buf.readUInt32BE(0);
  let format = findFormat(version);
  if (!format) {
    if (version === 0 && allowIncomplete) {
      format = FORMAT_QEMU_7_2;
    } else if (version === 0) {
      incomplete(0, 'has no version in its header: QEMU did not finish writing it (killed, crashed or still recording)');
    } else {
      throw new ReplayLogError(
        'unknown-version',
        `replay log format version ${hex(version)} is not supported (this Rewind reads ${supportedList()}); ` +
          'record with a supported QEMU or upgrade Rewind',
        0,
      );
    }
  }
  const fmt = format!;
  if (len < fmt.headerSize) incomplete(len, `is ${len} bytes long, shorter than its ${fmt.headerSize}-byte header`);

  const codes = fmt.codes;
  const ncodes = codes.length;
  // Per-code tables for the hot loop: numeric layout, kind and detail strings.
  const layoutOf = new Uint8Array(ncodes);
  const kindOf: EventKind[] = [];
  const detailOf: (string | undefined)[] = [];
  for (let c = 0; c < ncodes; c++) {
    layoutOf[c] = LAYOUT_IDS[codes[c]!.layout];
    kindOf.push(codes[c]!.kind as EventKind);
    detailOf.push(codes[c]!.detail);
  }
  const endCode = fmt.endCode;
  const perCode = new Float64Array(ncodes);
  const events: ReplayEvent[] = [];
  const onProgress = opts.onProgress;
  const signal = opts.signal;

  let pos = fmt.headerSize;
  let icount = 0;
  let complete = false;
  let parsedBytes = pos;
  let eventsEnd = pos;
  let nextCheck = pos + PROGRESS_STEP;

  // Reads without bounds checks: every read below is preceded by a length check.
  const u32 = (p: number): number =>
    ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;

  outer: while (pos < len) {
    if (pos >= nextCheck) {
      nextCheck = pos + PROGRESS_STEP;
      if (signal?.aborted) throw signal.reason ?? new Error('replay log parse aborted');
      onProgress?.(pos, len);
    }
    const off = pos;
    const code = buf[pos]!;
    if (code >= ncodes) {
      throw new ReplayLogError(
        'corrupt',
        `replay log is corrupt: unknown event byte ${hex(code)} at byte offset ${off} (${fmt.name} has ${ncodes} event kinds); ` +
          'restore the bundle from a copy or re-record it',
        off,
      );
    }
    pos++;
    const layout = layoutOf[code]!;
    // Hot path: EVENT_INSTRUCTION and payload-less events (checkpoints) are most of a log.
    if (layout === L_INSTRUCTION && pos + 4 <= len) {
      icount += ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
      pos += 4;
      perCode[code]!++;
      parsedBytes = pos;
      continue;
    }
    const kind = kindOf[code]!;
    const detail = detailOf[code];
    if (layout === L_NONE && code !== endCode) {
      events.push(detail === undefined
        ? { index: events.length, icount, kind, offset: off }
        : { index: events.length, icount, kind, detail, offset: off });
      perCode[code]!++;
      parsedBytes = pos;
      eventsEnd = pos;
      continue;
    }
    let ev: ReplayEvent | undefined;
    // Each layout checks that its bytes are there before reading them; if not, the event is cut.
    let cut = false;
    switch (layout) {
      case L_INSTRUCTION: {
        if (pos + 4 > len) { cut = true; break; }
        icount += u32(pos);
        pos += 4;
        break;
      }
      case L_NONE:
        ev = detail === undefined
          ? { index: events.length, icount, kind, offset: off }
          : { index: events.length, icount, kind, detail, offset: off };
        break;
      case L_QWORD: {
        if (pos + 8 > len) { cut = true; break; }
        // clock values are int64_t; ids and audio counts are unsigned
        ev = {
          index: events.length, icount, kind,
          value: qwordString(buf, pos, kind === 'clock'), offset: off,
        };
        if (detail !== undefined) ev.detail = detail;
        pos += 8;
        break;
      }
      case L_DWORD: {
        if (pos + 4 > len) { cut = true; break; }
        ev = { index: events.length, icount, kind, value: String(u32(pos) | 0), offset: off };
        if (detail !== undefined) ev.detail = detail;
        pos += 4;
        break;
      }
      case L_CHAR_WRITE: {
        if (pos + 8 > len) { cut = true; break; }
        ev = {
          index: events.length, icount, kind,
          detail: `offset ${u32(pos + 4) | 0}`, value: String(u32(pos) | 0), offset: off,
        };
        pos += 8;
        break;
      }
      case L_ARRAY: {
        if (pos + 4 > len) { cut = true; break; }
        const n = u32(pos);
        if (pos + 4 + n > len) { cut = true; break; }
        ev = { index: events.length, icount, kind, size: n, offset: off };
        pos += 4 + n;
        break;
      }
      case L_CHAR_READ: {
        if (pos + 5 > len) { cut = true; break; }
        const dev = buf[pos]!;
        const n = u32(pos + 1);
        if (pos + 5 + n > len) { cut = true; break; }
        ev = {
          index: events.length, icount, kind,
          bytes: buf.toString('latin1', pos + 5, pos + 5 + n), device: dev, size: n, offset: off,
        };
        pos += 5 + n;
        break;
      }
      case L_NET: {
        if (pos + 9 > len) { cut = true; break; }
        const dev = buf[pos]!;
        const flags = u32(pos + 1);
        const n = u32(pos + 5);
        if (pos + 9 + n > len) { cut = true; break; }
        ev = {
          index: events.length, icount, kind,
          value: String(flags), device: dev, size: n, offset: off,
        };
        pos += 9 + n;
        break;
      }
      case L_RANDOM: {
        if (pos + 8 > len) { cut = true; break; }
        const ret = u32(pos) | 0;
        const n = u32(pos + 4);
        if (pos + 8 + n > len) { cut = true; break; }
        ev = { index: events.length, icount, kind, value: String(ret), size: n, offset: off };
        pos += 8 + n;
        break;
      }
      case L_AUDIO_IN: {
        // qword recorded, qword wpos, then one (left, right) qword pair per recorded sample. QEMU
        // loops pos from (wpos - recorded) mod size to wpos, which is `recorded` pairs whenever
        // recorded < size (the ring size, not in the log); audio.c captures at most size - live.
        if (pos + 16 > len) { cut = true; break; }
        const recHi = u32(pos);
        const rec = recHi * TWO_32 + u32(pos + 4);
        const payload = 16 + rec * 16;
        if (recHi >= 0x100000 || pos + payload > len) { cut = true; break; }
        ev = {
          index: events.length, icount, kind, detail: detail!,
          value: String(rec), size: payload, offset: off,
        };
        pos += payload;
        break;
      }
      case L_INPUT: {
        const r = parseInput(buf, pos, len);
        if (r === CUT) { cut = true; break; }
        if (typeof r === 'number') {
          throw new ReplayLogError(
            'corrupt',
            `replay log is corrupt: input event at byte offset ${off} has unknown ${r < 0 ? 'key value' : 'event'} kind ` +
              `${Math.abs(r) - 1}; restore the bundle from a copy or re-record it`,
            off,
          );
        }
        ev = { index: events.length, icount, kind, detail: r.detail, offset: off };
        pos = r.end;
        break;
      }
    }
    if (cut) {
      if (allowIncomplete) break outer;
      incomplete(
        off,
        `ends in the middle of an event at byte offset ${off} (${codes[code]!.qemuName}, ${len - off} of its bytes present)`,
      );
    }
    perCode[code]!++;
    if (ev) events.push(ev);
    parsedBytes = pos;
    if (layout !== L_INSTRUCTION) eventsEnd = pos;
    if (code === endCode) {
      complete = true;
      if (pos !== len) {
        throw new ReplayLogError(
          'corrupt',
          `replay log is corrupt: ${len - pos} bytes after the end event at byte offset ${off}; ` +
            'restore the bundle from a copy or re-record it',
          pos,
        );
      }
      break;
    }
  }
  if (!complete && !allowIncomplete) {
    incomplete(parsedBytes, `ends at byte offset ${parsedBytes} without the end event QEMU writes when it exits`);
  }
  if (version === 0) complete = false;

  const counts: Record<string, number> = {};
  for (let c = 0; c < ncodes; c++) {
    const n = perCode[c]!;
    const kind = codes[c]!.kind;
    if (n > 0 && kind !== '') counts[kind] = (counts[kind] ?? 0) + n;
  }
  onProgress?.(len, len);
  return {
    formatVersion: version,
    formatName: fmt.name,
    totalIcount: icount,
    events,
    counts,
    complete,
    parsedBytes,
    eventsEnd,
  };
}

const CUT = 'cut' as const;

// Numeric ids of the payload layouts (a switch on small integers in the hot loop).
const L_INSTRUCTION = 0, L_NONE = 1, L_QWORD = 2, L_DWORD = 3, L_CHAR_WRITE = 4, L_ARRAY = 5,
  L_CHAR_READ = 6, L_NET = 7, L_RANDOM = 8, L_AUDIO_IN = 9, L_INPUT = 10;
const LAYOUT_IDS: Record<PayloadLayout, number> = {
  instruction: L_INSTRUCTION, none: L_NONE, qword: L_QWORD, dword: L_DWORD, 'char-write': L_CHAR_WRITE,
  array: L_ARRAY, 'char-read': L_CHAR_READ, net: L_NET, random: L_RANDOM, 'audio-in': L_AUDIO_IN, input: L_INPUT,
};

/**
 * InputEvent payload (replay/replay-input.c replay_save_input_event):
 *   dword type; key: dword KeyValueKind, then number: qword + byte down | qcode: dword + byte down;
 *   btn: dword button + byte down; rel/abs: dword axis + qword value;
 *   mtt (QEMU >= 8.1): dword type, qword slot, qword tracking_id, dword axis, qword value.
 * Returns the description and end offset, CUT, or a number for an unknown kind
 * (type + 1, or -(key kind + 1)).
 */
function parseInput(b: Buffer, p: number, len: number): { detail: string; end: number } | typeof CUT | number {
  const u32 = (q: number): number => ((b[q]! << 24) | (b[q + 1]! << 16) | (b[q + 2]! << 8) | b[q + 3]!) >>> 0;
  if (p + 4 > len) return CUT;
  const type = u32(p);
  p += 4;
  const name = INPUT_EVENT_KINDS[type];
  switch (name) {
    case 'key': {
      if (p + 4 > len) return CUT;
      const kk = u32(p);
      p += 4;
      const kname = KEY_VALUE_KINDS[kk];
      if (kname === 'number') {
        if (p + 9 > len) return CUT;
        return { detail: `key number=${qwordString(b, p, true)} ${b[p + 8] ? 'down' : 'up'}`, end: p + 9 };
      }
      if (kname === 'qcode') {
        if (p + 5 > len) return CUT;
        return { detail: `key qcode=${u32(p)} ${b[p + 4] ? 'down' : 'up'}`, end: p + 5 };
      }
      return -(kk + 1);
    }
    case 'btn':
      if (p + 5 > len) return CUT;
      return { detail: `btn ${u32(p)} ${b[p + 4] ? 'down' : 'up'}`, end: p + 5 };
    case 'rel':
    case 'abs':
      if (p + 12 > len) return CUT;
      return { detail: `${name} axis=${u32(p)} value=${qwordString(b, p + 4, true)}`, end: p + 12 };
    case 'mtt':
      if (p + 32 > len) return CUT;
      return {
        detail:
          `mtt type=${u32(p)} slot=${qwordString(b, p + 4, true)} tracking-id=${qwordString(b, p + 12, true)} ` +
          `axis=${u32(p + 20)} value=${qwordString(b, p + 24, true)}`,
        end: p + 32,
      };
    default:
      return type + 1;
  }
}
