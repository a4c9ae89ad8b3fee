/**
 * Whether an x86 instruction, as gdb disassembles it (AT&T syntax), writes memory: its
 * destination (the last operand) is a memory operand, or it pushes (push, call, enter) or is a
 * string store. A guess from the text, used to name the writing instruction of a value-history
 * write (handlers/history.ts); a false "yes" on an instruction that only reads its memory operand
 * (div, imul with one operand) is possible.
 */
export function writesMemory(inst: string): boolean {
  const m = /^(?:(?:lock|rep\w*|data16|addr32|notrack|bnd|cs|ds|es|fs|gs|ss)\s+)*([a-z][a-z0-9.]*)\s*(.*)$/i.exec(inst.trim());
  if (!m) return false;
  const mnemonic = m[1]!.toLowerCase();
  const text = m[2]!.replace(/\s+#.*$/, '').replace(/<[^>]*>/g, '').trim();
  if (/^(push|call|enter)/.test(mnemonic)) return true;
  // String stores (movsb, stosq; written with or without their implicit operands), not movsbl or movss.
  if (/^(stos|movs)[bwlq]?$/.test(mnemonic) && (text === '' || text.includes('%es:'))) return true;
  if (/^(l?j|l?ret|iret|sys|cmp(?!xchg)|test|lea|nop|bt$|prefetch|clflush|invlpg|lgdt|lidt|ltr|lldt)/.test(mnemonic)) return false;
  const operands = splitOperands(text);
  const last = operands[operands.length - 1];
  if (last === undefined) return false;
  return isMemoryOperand(last);
}

/** Operands separated by commas outside parentheses: "%cl,0x102840(%rdx,%rax,1)" -> ["%cl", "0x102840(%rdx,%rax,1)"]. */
function splitOperands(text: string): string[] {
  if (text === '') return [];
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** "0x8(%rbp)", "(%rax)", "%fs:0x28", "0x102850" (absolute): memory; "%eax", "$0x1": not. */
function isMemoryOperand(op: string): boolean {
  const o = op.replace(/^\*/, '');
  if (o.startsWith('$')) return false;
  if (o.includes('(')) return true;
  return /^(%[a-z]s:)?-?(0x[0-9a-f]+|\d+)$/i.test(o);
}
