// The TimePoint type is part of every wire: it lives (with why it is a number) in protocol/recording.ts.
import type { TimePoint } from '@rewind/protocol';
export type { TimePoint };

export function formatIcount(n: TimePoint): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** Parses "500000", "5e8", "250M", "1.5G" into an instruction count. */
export function parseIcount(text: string): TimePoint | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([kKmMgG]?)\s*$/.exec(text);
  if (!m) return undefined;
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const v = Math.round(Number(m[1]) * scale);
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
