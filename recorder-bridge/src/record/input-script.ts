import { promises as fs } from 'node:fs';
import { UserError } from '../errors';

/**
 * An input script drives the guest's serial console during recording. One directive a line:
 *   expect TEXT    wait until the console prints TEXT (after whatever the previous expect matched)
 *   send TEXT      type TEXT; escapes: \n (Enter), \r, \t, \\, \xHH
 *   sleep SECONDS  let the guest run for a while before the next directive
 * Blank lines and lines starting with # are ignored.
 */
export type InputStep =
  | { op: 'expect'; text: string; line: number }
  | { op: 'send'; text: string; line: number }
  | { op: 'sleep'; seconds: number; line: number };

export async function readInputScript(path: string): Promise<InputStep[]> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw new UserError(`input script not found or unreadable: ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'input-missing');
  }
  return parseInputScript(text, path);
}

export function parseInputScript(text: string, name = 'input script'): InputStep[] {
  const steps: InputStep[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = /^(expect|send|sleep)(?:\s(.*))?$/.exec(raw.replace(/^\s+/, ''));
    if (!m) {
      throw new UserError(`${name}:${lineNo}: unknown directive "${trimmed.split(/\s/)[0]}"; use "expect TEXT", "send TEXT" or "sleep SECONDS"`, 'input-invalid');
    }
    const op = m[1] as InputStep['op'];
    const arg = m[2] ?? '';
    if (op === 'sleep') {
      const seconds = Number(arg.trim());
      if (!Number.isFinite(seconds) || seconds < 0 || arg.trim() === '') {
        throw new UserError(`${name}:${lineNo}: "sleep" needs a number of seconds, got "${arg.trim()}"`, 'input-invalid');
      }
      steps.push({ op, seconds, line: lineNo });
      continue;
    }
    const value = unescape(arg, name, lineNo);
    if (value === '') throw new UserError(`${name}:${lineNo}: "${op}" needs some text`, 'input-invalid');
    steps.push({ op, text: value, line: lineNo });
  }
  return steps;
}

function unescape(s: string, name: string, lineNo: number): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++i];
    switch (n) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case 'x': {
        const hex = s.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new UserError(`${name}:${lineNo}: bad escape \\x${hex}; use \\xHH with two hex digits`, 'input-invalid');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 2;
        break;
      }
      default:
        throw new UserError(`${name}:${lineNo}: unknown escape \\${n ?? ''}; use \\n, \\r, \\t, \\\\ or \\xHH`, 'input-invalid');
    }
  }
  return out;
}
