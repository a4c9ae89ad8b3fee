/**
 * GDB/MI output parser: one line of gdb's stdout in, one typed record out.
 *
 * Grammar (gdb manual, "GDB/MI Output Syntax"):
 *   result-record  = [token] "^" class ("," result)*
 *   async-record   = [token] ("*" | "+" | "=") class ("," result)*
 *   stream-record  = ("~" | "@" | "&") c-string
 *   result         = variable "=" value
 *   value          = c-string | "{" [result ("," result)*] "}" | "[" [value ("," value)* | result ("," result)*] "]"
 *
 * The parser works on bytes, not characters: gdb escapes some bytes of a UTF-8 sequence as octal
 * (`\342\202\254`) and may leave others raw, so a C string is unescaped into bytes first and only
 * then decoded as UTF-8. Anything that is not MI (inferior output, gdb's own warnings) becomes a
 * 'junk' record; the parser never throws.
 */

export type MiValue = string | MiTuple | MiValue[];
export interface MiTuple {
  [key: string]: MiValue;
}

export type MiResultClass = 'done' | 'running' | 'connected' | 'error' | 'exit';
const RESULT_CLASSES: ReadonlySet<string> = new Set(['done', 'running', 'connected', 'error', 'exit']);

export type MiRecord =
  | { type: 'result'; token?: number; resultClass: MiResultClass; results: MiTuple }
  /** exec: `*stopped`, `*running`; status: `+download`; notify: `=thread-group-added`, `=breakpoint-created`, ... */
  | { type: 'exec' | 'status' | 'notify'; token?: number; asyncClass: string; results: MiTuple }
  /** console: `~` (gdb's CLI output); target: `@` (the target's output); log: `&` (gdb's messages). */
  | { type: 'console' | 'target' | 'log'; text: string }
  | { type: 'prompt' }
  | { type: 'junk'; line: string; reason: string };

class MiSyntaxError extends Error {}

const utf8 = new TextDecoder('utf-8');

const C = {
  quote: 0x22,
  backslash: 0x5c,
  comma: 0x2c,
  equals: 0x3d,
  lbrace: 0x7b,
  rbrace: 0x7d,
  lbracket: 0x5b,
  rbracket: 0x5d,
  zero: 0x30,
  seven: 0x37,
  nine: 0x39,
};

/** The byte that a single-character escape stands for (gdb's printchar() and C's). */
const SIMPLE_ESCAPES: Record<string, number> = {
  n: 0x0a, t: 0x09, r: 0x0d, b: 0x08, f: 0x0c, v: 0x0b, a: 0x07, e: 0x1b,
  '"': 0x22, '\\': 0x5c, "'": 0x27, '?': 0x3f,
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  peek(): number {
    return this.pos < this.buf.length ? this.buf[this.pos]! : -1;
  }

  expect(byte: number): void {
    if (this.peek() !== byte) throw new MiSyntaxError(`expected '${String.fromCharCode(byte)}' at column ${this.pos}`);
    this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  /** A variable name or class: anything up to '=', ',' or a bracket (gdb uses [A-Za-z0-9_-]). */
  identifier(): string {
    const start = this.pos;
    for (;;) {
      const c = this.peek();
      const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= C.zero && c <= C.nine) || c === 0x5f || c === 0x2d;
      if (!ok) break;
      this.pos++;
    }
    if (this.pos === start) throw new MiSyntaxError(`expected a name at column ${start}`);
    return this.buf.toString('latin1', start, this.pos);
  }

  cString(): string {
    this.expect(C.quote);
    const bytes: number[] = [];
    for (;;) {
      const c = this.peek();
      if (c < 0) throw new MiSyntaxError('unterminated string');
      this.pos++;
      if (c === C.quote) break;
      if (c !== C.backslash) {
        bytes.push(c);
        continue;
      }
      const e = this.peek();
      if (e < 0) throw new MiSyntaxError('unterminated escape');
      if (e >= C.zero && e <= C.seven) {
        // Up to three octal digits: one raw byte.
        let v = 0;
        for (let n = 0; n < 3 && this.peek() >= C.zero && this.peek() <= C.seven; n++) v = v * 8 + (this.buf[this.pos++]! - C.zero);
        bytes.push(v & 0xff);
        continue;
      }
      this.pos++;
      const simple = SIMPLE_ESCAPES[String.fromCharCode(e)];
      if (simple !== undefined) bytes.push(simple);
      else bytes.push(C.backslash, e); // unknown escape: keep it as written
    }
    return utf8.decode(Uint8Array.from(bytes));
  }

  value(): MiValue {
    const c = this.peek();
    if (c === C.quote) return this.cString();
    if (c === C.lbrace) return this.tuple();
    if (c === C.lbracket) return this.list();
    throw new MiSyntaxError(`expected a value at column ${this.pos}`);
  }

  /** `name=value`, added to `into`. */
  result(into: MiTuple): void {
    const key = this.identifier();
    this.expect(C.equals);
    setKey(into, key, this.value());
  }

  tuple(): MiTuple {
    this.expect(C.lbrace);
    const t: MiTuple = {};
    if (this.peek() === C.rbrace) {
      this.pos++;
      return t;
    }
    for (;;) {
      this.result(t);
      if (this.peek() === C.comma) this.pos++;
      else break;
    }
    this.expect(C.rbrace);
    return t;
  }

  /** A list of values, or of results (`[frame={...},frame={...}]`): then only the values are kept, all of them, in order. */
  list(): MiValue[] {
    this.expect(C.lbracket);
    const items: MiValue[] = [];
    if (this.peek() === C.rbracket) {
      this.pos++;
      return items;
    }
    for (;;) {
      const c = this.peek();
      if (c === C.quote || c === C.lbrace || c === C.lbracket) items.push(this.value());
      else {
        this.identifier();
        this.expect(C.equals);
        items.push(this.value());
      }
      if (this.peek() === C.comma) this.pos++;
      else break;
    }
    this.expect(C.rbracket);
    return items;
  }

  /** `("," result)*` up to the end of the line. */
  results(): MiTuple {
    const t: MiTuple = {};
    while (!this.atEnd()) {
      this.expect(C.comma);
      this.result(t);
    }
    return t;
  }
}

/** Plain assignment would turn a key named `__proto__` into a prototype change. A repeated key keeps the last value. */
function setKey(t: MiTuple, key: string, value: MiValue): void {
  Object.defineProperty(t, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Parses one line of gdb's MI output (without its newline; a trailing '\r' is ignored). Never throws. */
export function parseMiLine(line: string | Buffer): MiRecord {
  let buf = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
  const text = (): string => utf8.decode(buf);
  try {
    return parseRecord(buf);
  } catch (e) {
    return { type: 'junk', line: text(), reason: e instanceof MiSyntaxError ? e.message : String(e) };
  }
}

function parseRecord(buf: Buffer): MiRecord {
  if (/^\(gdb\) ?$/.test(buf.toString('latin1'))) return { type: 'prompt' };
  const r = new Reader(buf);
  let digits = 0;
  while (r.peek() >= C.zero && r.peek() <= C.nine) {
    r.pos++;
    digits++;
  }
  // Tokens are decimal numbers small enough for a JS number (gdb takes any digit string).
  const token = digits > 0 && digits <= 15 ? Number(buf.toString('latin1', 0, digits)) : undefined;
  if (digits > 15) throw new MiSyntaxError('token too long');
  const kind = String.fromCharCode(r.peek());
  r.pos++;
  switch (kind) {
    case '~':
    case '@':
    case '&': {
      if (digits > 0) throw new MiSyntaxError('a stream record has no token');
      const text = r.cString();
      if (!r.atEnd()) throw new MiSyntaxError(`unexpected text after the string at column ${r.pos}`);
      return { type: kind === '~' ? 'console' : kind === '@' ? 'target' : 'log', text };
    }
    case '^': {
      const cls = r.identifier();
      if (!RESULT_CLASSES.has(cls)) throw new MiSyntaxError(`unknown result class '${cls}'`);
      const rec: MiRecord = { type: 'result', resultClass: cls as MiResultClass, results: r.results() };
      if (token !== undefined) rec.token = token;
      return rec;
    }
    case '*':
    case '+':
    case '=': {
      const asyncClass = r.identifier();
      const rec: MiRecord = { type: kind === '*' ? 'exec' : kind === '+' ? 'status' : 'notify', asyncClass, results: r.results() };
      if (token !== undefined) rec.token = token;
      return rec;
    }
    default:
      throw new MiSyntaxError('not an MI record');
  }
}

// ---- accessors: undefined when the key is absent or its value has another shape ----------------

function own(t: MiValue | undefined, key: string): MiValue | undefined {
  if (t === undefined || typeof t === 'string' || Array.isArray(t)) return undefined;
  return Object.prototype.hasOwnProperty.call(t, key) ? t[key] : undefined;
}

export function isMiTuple(v: MiValue | undefined): v is MiTuple {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

export function miString(t: MiValue | undefined, key: string): string | undefined {
  const v = own(t, key);
  return typeof v === 'string' ? v : undefined;
}

export function miTuple(t: MiValue | undefined, key: string): MiTuple | undefined {
  const v = own(t, key);
  return isMiTuple(v) ? v : undefined;
}

export function miList(t: MiValue | undefined, key: string): MiValue[] | undefined {
  const v = own(t, key);
  return Array.isArray(v) ? v : undefined;
}

/** The tuples of a list (`frames=[frame={...},...]`), skipping items of another shape; undefined when there is no list. */
export function miTupleList(t: MiValue | undefined, key: string): MiTuple[] | undefined {
  return miList(t, key)?.filter(isMiTuple);
}

/** A decimal (or 0x hex) integer that fits a JS number exactly; undefined otherwise. */
export function miInt(t: MiValue | undefined, key: string): number | undefined {
  const s = miString(t, key);
  if (s === undefined || !/^(?:-?\d+|0x[0-9a-f]+)$/i.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}
