/** The server's settings, read leniently: what is missing or of the wrong type is left at its default. */
import type { RewindLspSettings } from '@rewind/protocol';

/** The `rewind` section of initializationOptions or of didChangeConfiguration's settings. */
export function settingsOf(raw: unknown): RewindLspSettings {
  if (raw === null || typeof raw !== 'object') return {};
  const r = raw as { rewind?: unknown };
  const s = (r.rewind !== null && typeof r.rewind === 'object' ? r.rewind : raw) as Record<string, unknown>;
  const str = (k: string) => (typeof s[k] === 'string' && s[k] !== '' ? (s[k] as string) : undefined);
  const out: RewindLspSettings = {};
  for (const k of ['bridge', 'token', 'tokenFile', 'recording', 'gdbPath'] as const) {
    const v = str(k);
    if (v !== undefined) out[k] = v;
  }
  if (Array.isArray(s.symbols) && s.symbols.every((x) => typeof x === 'string')) out.symbols = s.symbols as string[];
  if (s.sourceMap !== null && typeof s.sourceMap === 'object' && !Array.isArray(s.sourceMap)) out.sourceMap = s.sourceMap as Record<string, string>;
  if (s.lineCounts === 'off' || s.lineCounts === 'inlay') out.lineCounts = s.lineCounts;
  if (typeof s.coverage === 'boolean') out.coverage = s.coverage;
  return out;
}
