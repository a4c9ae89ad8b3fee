/**
 * What a person types into "Go to Time…": an icount (5700000, 5,700,000, 5.7M), a percentage
 * (42%), an event of the index (#123), "start" / "end", or a move relative to now (+1M, -500k).
 * Never imports `vscode`.
 */
import { parseIcount } from '@rewind/core';
import { describePosition, groupDigits } from './format';

export type TimeTarget = { kind: 'icount'; icount: number } | { kind: 'percent'; percent: number } | { kind: 'event'; eventIndex: number };

export type TimeInput = { ok: true; target: TimeTarget; label: string } | { ok: false; error: string };

export const TIME_INPUT_HELP = 'an icount (5700000 or 5.7M), a percentage (42%), an event (#123), "start", "end", or +/- to move from now (-500k)';

/** Parses the text; undefined for empty input. `end` is the recording's last time point. */
export function parseTimeInput(text: string, ctx: { end: number; current?: number }): TimeInput | undefined {
  const t = text.trim().toLowerCase().replace(/^icount\s+/, '');
  if (t === '') return undefined;
  const bad = (why?: string): TimeInput => ({ ok: false, error: `${why ?? `"${text.trim()}" is not a time point`}: type ${TIME_INPUT_HELP}` });
  if (t === 'start' || t === 'beginning') return at(0, ctx.end);
  if (t === 'end') return at(ctx.end, ctx.end);

  const event = /^(?:#|event\s*#?)\s*(\d+)$/.exec(t);
  if (event) {
    const eventIndex = Number(event[1]);
    if (!Number.isSafeInteger(eventIndex)) return bad();
    return { ok: true, target: { kind: 'event', eventIndex }, label: `Go to event #${eventIndex}` };
  }

  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (percent) {
    const p = Number(percent[1]);
    if (p > 100) return bad(`${p}% is past the end of the recording`);
    return { ok: true, target: { kind: 'percent', percent: p }, label: `Go to ${p}% of the recording (icount ${groupDigits(Math.round((ctx.end * p) / 100))})` };
  }

  const relative = /^([+-])\s*(.+)$/.exec(t);
  if (relative) {
    if (ctx.current === undefined) return bad('the current position is not known yet, so a relative move cannot be computed');
    const n = icountOf(relative[2]!);
    if (n === undefined) return bad();
    const target = ctx.current + (relative[1] === '-' ? -n : n);
    if (target < 0) return bad(`${relative[1]}${groupDigits(n)} from icount ${groupDigits(ctx.current)} is before the start of the recording`);
    if (target > ctx.end) return bad(`${relative[1]}${groupDigits(n)} from icount ${groupDigits(ctx.current)} is after the end of the recording (${groupDigits(ctx.end)})`);
    return at(target, ctx.end);
  }

  const n = icountOf(t);
  if (n === undefined) return bad();
  if (n > ctx.end) return bad(`icount ${groupDigits(n)} is after the end of the recording (${groupDigits(ctx.end)})`);
  return at(n, ctx.end);
}

function icountOf(text: string): number | undefined {
  return parseIcount(text.replace(/[,_\s]/g, ''));
}

function at(icount: number, end: number): TimeInput {
  return { ok: true, target: { kind: 'icount', icount }, label: `Go to ${describePosition(icount, end)}` };
}
