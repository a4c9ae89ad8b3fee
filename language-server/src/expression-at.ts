/**
 * The C expression under the cursor for a hover: an identifier with the members before it
 * (`cfg.heartbeat_interval`, `dev->stats.rx`), cut after the part the cursor is on, so that a hover
 * on `cfg` in `cfg.heartbeat_interval` shows `cfg`. Keywords and numbers are no expression.
 */
const KEYWORDS = new Set([
  'auto', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else', 'enum', 'extern', 'float', 'for', 'goto', 'if',
  'inline', 'int', 'long', 'register', 'restrict', 'return', 'short', 'signed', 'sizeof', 'static', 'struct', 'switch', 'typedef', 'union',
  'unsigned', 'void', 'volatile', 'while', 'bool', 'true', 'false', 'NULL',
]);

export interface ExpressionAt {
  expression: string;
  /** Columns [start, end) of the expression on the line. */
  start: number;
  end: number;
}

export function expressionAt(lineText: string, character: number): ExpressionAt | undefined {
  const chain = /[A-Za-z_]\w*(?:\s*(?:\.|->)\s*[A-Za-z_]\w*)*/g;
  for (let m = chain.exec(lineText); m; m = chain.exec(lineText)) {
    const start = m.index;
    const end = start + m[0].length;
    if (character < start || character > end) continue;
    // Cut after the identifier the cursor is on.
    const word = /[A-Za-z_]\w*/g;
    word.lastIndex = start;
    let cut = end;
    for (let w = word.exec(lineText); w && w.index < end; w = word.exec(lineText)) {
      if (character >= w.index && character <= w.index + w[0].length) {
        cut = w.index + w[0].length;
        break;
      }
    }
    const expression = lineText.slice(start, cut).replace(/\s+/g, '');
    const first = expression.split(/\.|->/)[0]!;
    if (KEYWORDS.has(first) || /^\d/.test(first)) return undefined;
    // A member access without its object in front (".x" after a cast or a call) is not evaluable alone.
    if (start > 0 && /(\.|->|\))\s*$/.test(lineText.slice(0, start))) return undefined;
    return { expression, start, end: cut };
  }
  return undefined;
}
