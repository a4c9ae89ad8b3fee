/**
 * The timeline's geometry: which part of the recording is in view, zooming around a point,
 * panning, and the ticks of the axis. Pure functions shared by the webview and unit tests.
 * Never imports `vscode` or anything of Node (the webview bundle runs it in the browser).
 */
import { shortIcount } from './format';

/** The part of the recording in view: [from, to] in icounts, inclusive. */
export interface Span {
  from: number;
  to: number;
}

/** The narrowest view: this many instructions (below that, pixels would be finer than instructions). */
export const MIN_SPAN = 50;

/** Keeps a view inside [0, end], at least MIN_SPAN wide (or the whole recording if shorter), same width when it can. */
export function clampSpan(s: Span, end: number): Span {
  const width = Math.min(Math.max(s.to - s.from, Math.min(MIN_SPAN, end)), end);
  let from = s.from;
  if (from < 0) from = 0;
  if (from + width > end) from = end - width;
  return { from: Math.round(from), to: Math.round(from + width) };
}

/** Zooms by `factor` (< 1 zooms in) keeping the icount under `anchor` where it is on screen. */
export function zoomAround(s: Span, anchor: number, factor: number, end: number): Span {
  const width = s.to - s.from;
  const newWidth = Math.max(Math.min(MIN_SPAN, end), Math.min(end, width * factor));
  const ratio = width > 0 ? (anchor - s.from) / width : 0.5;
  return clampSpan({ from: anchor - ratio * newWidth, to: anchor - ratio * newWidth + newWidth }, end);
}

/** Moves the view by `delta` instructions. */
export function pan(s: Span, delta: number, end: number): Span {
  return clampSpan({ from: s.from + delta, to: s.to + delta }, end);
}

/**
 * Keeps `icount` in view: the view stays put while `icount` is inside it, away from its edges by
 * `margin` (a fraction of its width), and is centred on it otherwise. The start and the end of
 * the recording need no margin. A click on the timeline uses margin 0: what was clicked stays put.
 */
export function follow(s: Span, icount: number, end: number, margin = 0.05): Span {
  const edge = (s.to - s.from) * margin;
  const leftOk = icount >= s.from + edge || (s.from === 0 && icount >= 0);
  const rightOk = icount <= s.to - edge || (s.to === end && icount <= end);
  if (leftOk && rightOk && icount >= s.from && icount <= s.to) return s;
  const width = s.to - s.from;
  return clampSpan({ from: icount - width / 2, to: icount + width / 2 }, end);
}

export function xOf(icount: number, s: Span, width: number): number {
  return s.to > s.from ? ((icount - s.from) / (s.to - s.from)) * width : 0;
}

export function icountAt(x: number, s: Span, width: number): number {
  return Math.round(s.from + (width > 0 ? (x / width) * (s.to - s.from) : 0));
}

export interface Tick {
  icount: number;
  label: string;
}

/** Axis ticks at 1, 2 or 5 x 10^k instructions, at most `maxTicks` of them. */
export function ticks(s: Span, maxTicks: number): Tick[] {
  const width = s.to - s.from;
  if (width <= 0 || maxTicks < 1) return [];
  const raw = width / maxTicks;
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((v) => v >= raw) ?? 10 * pow;
  const out: Tick[] = [];
  for (let v = Math.ceil(s.from / step) * step; v <= s.to; v += step) out.push({ icount: v, label: tickLabel(v, step) });
  return out;
}

/** Enough digits to tell neighbouring ticks apart: 5.25M next to 5.3M, not 5.3M twice. */
function tickLabel(v: number, step: number): string {
  if (v === 0) return '0';
  const unit = v >= 1e9 ? 1e9 : v >= 1e6 ? 1e6 : v >= 1e3 ? 1e3 : 1;
  const suffix = unit === 1e9 ? 'G' : unit === 1e6 ? 'M' : unit === 1e3 ? 'k' : '';
  if (unit === 1) return String(v);
  const digits = Math.max(0, Math.min(6, Math.ceil(-Math.log10(step / unit) - 1e-9)));
  const text = (v / unit).toFixed(digits).replace(/\.?0+$/, '');
  return text === '' ? shortIcount(v) : `${text}${suffix}`;
}
