/**
 * How the recording's facts look in an editor, as plain LSP values: a function's lenses, a line's
 * count, a line that never ran, a hover. Pure functions of the facts (unit-tested without a server).
 */
import { GOTO_COMMAND, type RewindGotoArguments, type TimePoint } from '@rewind/protocol';
import { CodeLens, Diagnostic, DiagnosticSeverity, DiagnosticTag, InlayHint, MarkupKind, type Hover, type Range } from 'vscode-languageserver';
import type { CountedSpot, HitWhich, ValueAt } from './linked-recording';

/** What an unresolved navigation lens carries to codeLens/resolve. */
export interface NavLensData {
  uri: string;
  function: string;
  /** The function's breakpoint addresses (hex): its entry and inlined copies. */
  addresses: string[];
  which: HitWhich;
}

export const NAV_ORDER: readonly HitWhich[] = ['first', 'previous', 'next', 'last'];

const NAV_TITLES: Record<HitWhich, string> = { first: '⏮ first', previous: '◀ previous', next: 'next ▶', last: 'last ⏭' };

/** "1,234" */
export function grouped(n: number): string {
  return n.toLocaleString('en-US');
}

/** The lenses above one function: its count, then first / previous / next / last (resolved later). */
export function functionLenses(uri: string, f: CountedSpot, lineText: string): CodeLens[] {
  const range = lineRange(f.line, lineText);
  const title = f.count === 0 ? 'never ran in this recording' : `ran ${grouped(f.count)}× in this recording`;
  const lenses = [CodeLens.create(range)];
  lenses[0]!.command = { title, command: '' };
  if (f.count === 0 || f.name === undefined) return lenses;
  const addresses = f.addresses.map((a) => `0x${a.toString(16)}`);
  for (const which of NAV_ORDER) lenses.push(CodeLens.create(range, { uri, function: f.name, addresses, which } satisfies NavLensData));
  return lenses;
}

/** A navigation lens, resolved: a goto command, or its title without one where there is no such call. */
export function resolvedNavLens(lens: CodeLens, data: NavLensData, icount: TimePoint | undefined): CodeLens {
  if (icount === undefined) {
    lens.command = { title: `no ${data.which === 'previous' ? 'earlier' : data.which === 'next' ? 'later' : data.which} call`, command: '' };
  } else {
    const args: RewindGotoArguments = { icount, label: `${data.which} call of ${data.function}` };
    lens.command = { title: NAV_TITLES[data.which], command: GOTO_COMMAND, arguments: [args] };
  }
  return lens;
}

/** A line's count, at the end of the line. */
export function lineHint(l: CountedSpot, lineText: string): InlayHint {
  const hint = InlayHint.create({ line: l.line - 1, character: lineText.length }, `${grouped(l.count)}×`);
  hint.paddingLeft = true;
  hint.tooltip = l.count === 0 ? 'This line never ran in the recording' : `This line ran ${grouped(l.count)} times in the recording`;
  return hint;
}

/** A line with code that never ran: shown faded (the "unnecessary" tag), as editors show dead code. */
export function neverRan(l: CountedSpot, lineText: string): Diagnostic {
  const d = Diagnostic.create(lineRange(l.line, lineText), 'never ran in this recording', DiagnosticSeverity.Hint, undefined, 'rewind');
  d.tags = [DiagnosticTag.Unnecessary];
  return d;
}

/** A command link for a hover (VS Code runs it; other clients show the text). */
export function gotoLink(text: string, args: RewindGotoArguments): string {
  return `[${text}](command:${GOTO_COMMAND}?${encodeURIComponent(JSON.stringify([args]))})`;
}

/** A hover: the value now, then the most recent writes before now, each a link there. */
export function valueHover(v: ValueAt, now: TimePoint, range: Range, shown = 5): Hover {
  const lines = [`**${v.expression}** = \`${v.value}\` at icount ${grouped(now)}`, ''];
  if (v.writes.length === 0) {
    lines.push(`No write to it between icount ${grouped(v.from)} and now.`);
  } else {
    const recent = v.writes.slice(-shown).reverse();
    lines.push(`Writes before now (${recent.length === v.writes.length ? v.writes.length : `the last ${recent.length} of ${v.writes.length}`} since icount ${grouped(v.from)}):`, '');
    for (const w of recent) {
      const where = `${w.function ?? '??'}${w.line !== undefined ? ` (${(w.path ?? '').split('/').pop()}:${w.line})` : ''}`;
      const change = w.before !== undefined || w.after !== undefined ? `: \`${bytesValue(w.before)}\` → \`${bytesValue(w.after)}\`` : '';
      lines.push(`- ${gotoLink(`icount ${grouped(w.icount)}`, { icount: w.icount, label: `write to ${v.expression}` })} in ${where}${change}`);
    }
  }
  return { contents: { kind: MarkupKind.Markdown, value: lines.join('\n') }, range };
}

/** Little-endian bytes (hex) as a number where they fit one, else as hex bytes. */
export function bytesValue(hex: string | undefined): string {
  if (hex === undefined) return '?';
  if (hex.length > 16 || hex.length % 2 !== 0) return `0x${hex}`;
  const bytes = hex.match(/../g) ?? [];
  return BigInt(`0x${bytes.reverse().join('') || '0'}`).toString();
}

function lineRange(line: number, lineText: string): Range {
  return { start: { line: line - 1, character: 0 }, end: { line: line - 1, character: lineText.length } };
}
