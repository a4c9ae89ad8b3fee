/**
 * The Value History panel's model: the adapter's rewind/valueHistory answer turned into the rows
 * of a table (time point, vCPU, task on Linux, function, source line, old -> new), values formatted for people,
 * sorting by any column, the row of the value now, the timeline's markers, and the messages of
 * bad input. Never imports `vscode` (unit tests load it; so does the panel's webview bundle), nor
 * Node's modules.
 */
import type { RewindValueHistoryResponse, TimelineMarker, ValueHistoryColumn, ValueHistoryRow, ValueHistoryTable, ValueHistoryValue } from '@rewind/protocol';
import { groupDigits } from './format';

/** Bytes shown in a cell for values that are not numbers (the tooltip shows up to TITLE_BYTES). */
const CELL_BYTES = 16;
const TITLE_BYTES = 64;

/** Whether gdb's name of a type is a signed integer (plain `char` is signed on x86). Typedefs it does not know: unsigned. */
export function isSignedType(type: string | undefined): boolean {
  if (!type) return false;
  const t = type.replace(/\b(const|volatile|register)\b/g, '').replace(/\s+/g, ' ').trim();
  if (/\bunsigned\b/.test(t) || /^(__)?u(8|16|32|64)$|^uint\d*_t$|^(size_t|uintptr_t|bool|_Bool)$/.test(t)) return false;
  if (/\bsigned\b/.test(t)) return true;
  if (/^(char|short|short int|int|long|long int|long long|long long int)$/.test(t)) return true;
  return /^(__)?s(8|16|32|64)$|^int\d+_t$|^(ssize_t|intptr_t|ptrdiff_t|loff_t|off_t|time64_t)$/.test(t);
}

function isPointerType(type: string | undefined): boolean {
  return type !== undefined && /\*\s*(const\s*)?$/.test(type.trim());
}

/** Printable ASCII of the bytes in memory order (NULs as ␀), when every byte is printable or NUL and one is printable. */
function asText(bytes: number[]): string | undefined {
  if (!bytes.some((b) => b >= 0x20 && b < 0x7f)) return undefined;
  if (!bytes.every((b) => (b >= 0x20 && b < 0x7f) || b === 0)) return undefined;
  return bytes.map((b) => (b === 0 ? '␀' : String.fromCharCode(b))).join('');
}

/**
 * A value of `size` bytes as the adapter reports it (hex, memory order): for 1, 2, 4 or 8 bytes
 * the little-endian number in decimal (signed when the type is; a pointer in hex), with the hex
 * value, the bytes and their text in the tooltip; other sizes as hex bytes. Undefined when the
 * bytes are missing (unreadable) or malformed.
 */
export function writeValue(hex: string | undefined, size: number, type?: string): ValueHistoryValue | undefined {
  if (hex === undefined || hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) return undefined;
  const h = hex.toLowerCase();
  const bytes = h.match(/../g)!.map((b) => parseInt(b, 16));
  const spaced = (n: number) => h.slice(0, n * 2).match(/../g)!.join(' ') + (bytes.length > n ? ` … (${bytes.length} bytes)` : '');
  const text = asText(bytes.slice(0, TITLE_BYTES));
  const textPart = text !== undefined ? ` · as text "${text}"` : '';
  if ([1, 2, 4, 8].includes(size) && bytes.length === size) {
    const unsigned = BigInt(`0x${[...bytes].reverse().map((b) => b.toString(16).padStart(2, '0')).join('')}`);
    const bits = BigInt(size * 8);
    const signed = isSignedType(type) && unsigned >> (bits - 1n) === 1n ? unsigned - (1n << bits) : unsigned;
    const hexValue = `0x${unsigned.toString(16)}`;
    const shown = isPointerType(type) ? hexValue : signed.toString();
    const order = size === 1 ? `byte ${spaced(1)}` : `bytes ${spaced(size)} in memory (little-endian)`;
    return { text: shown, title: `${isPointerType(type) ? signed.toString() : hexValue} · ${order}${textPart}`, number: signed.toString(), hex: h };
  }
  return { text: spaced(CELL_BYTES), title: `${bytes.length} bytes in memory order: ${spaced(TITLE_BYTES)}${textPart}`, hex: h };
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** What the panel can say about the vCPU of each write, from the number of vCPUs (DAP threads) of the session. */
export function cpuInfo(threadCount: number | undefined): { cpu?: string; note: string } {
  if (threadCount === 1) return { cpu: '0', note: 'The recording has one vCPU: every write is on CPU 0.' };
  if (threadCount !== undefined && threadCount > 1) return { note: `The recording has ${threadCount} vCPUs, and the index does not keep which one wrote: no CPU column.` };
  return { note: 'The number of vCPUs is unknown: no CPU column.' };
}

/** The vCPU of the writes: the adapter's, when it told every write's (Linux), else what the number of vCPUs says. */
function cpuOfWrites(r: RewindValueHistoryResponse, threadCount: number | undefined): { cpu?: string; note: string; perWrite: boolean } {
  if (r.writes.length > 0 && r.writes.every((w) => w.cpu !== undefined)) return { perWrite: true, note: 'The CPU of each write is the kernel\'s number of the CPU that made it.' };
  return { ...cpuInfo(threadCount), perWrite: false };
}

/** "dd [1234]", and a tooltip that tells a thread from its process. */
function taskCell(t: { pid: number; tgid: number; comm: string }): NonNullable<ValueHistoryRow['task']> {
  const comm = t.comm === '' ? '(no name)' : t.comm;
  const group = t.tgid !== t.pid ? `, a thread of process ${t.tgid}` : '';
  return { text: `${comm} [${t.pid}]`, title: `Written by task ${comm}, pid ${t.pid}${group} (the kernel's current task at the write)`, comm: t.comm, pid: t.pid };
}

/** The rows of a rewind/valueHistory answer, in time order. */
export function valueHistoryRows(r: RewindValueHistoryResponse, o: { cpu?: string } = {}): ValueHistoryRow[] {
  return r.writes.map((w, i) => {
    const old = writeValue(w.before, r.size, r.type);
    const now = writeValue(w.after, r.size, r.type);
    // The writing instruction when the adapter could tell it, else where the guest is just after the write.
    const where = w.writer ?? w.at;
    return {
      n: i + 1,
      icount: w.icount,
      // An interrupt's frame is written at its time point, before the interrupted instruction runs.
      seekTo: w.delivery ? w.icount : Math.max(0, w.icount - 1),
      ...(w.cpu !== undefined ? { cpu: String(w.cpu) } : o.cpu !== undefined ? { cpu: o.cpu } : {}),
      ...(w.task ? { task: taskCell(w.task) } : {}),
      atWriter: w.writer !== undefined,
      ...(where.function ? { function: where.function } : {}),
      ...(where.path && where.line !== undefined ? { source: `${baseName(where.path)}:${where.line}`, path: where.path } : {}),
      ...(where.line !== undefined ? { line: where.line } : {}),
      code: where.address,
      ...(old ? { old } : {}),
      ...(now ? { new: now } : {}),
    };
  });
}

/** The whole table of the panel. */
export function valueHistoryTable(expression: string, r: RewindValueHistoryResponse, o: { session: string; end: number; threadCount?: number }): ValueHistoryTable {
  const cpu = cpuOfWrites(r, o.threadCount);
  return {
    expression,
    address: r.address,
    size: r.size,
    ...(r.type ? { type: r.type } : {}),
    rows: valueHistoryRows(r, cpu.cpu !== undefined ? { cpu: cpu.cpu } : {}),
    hasCpu: cpu.perWrite || cpu.cpu !== undefined,
    cpuNote: cpu.note,
    hasTask: r.writes.some((w) => w.task !== undefined),
    session: o.session,
    end: o.end,
  };
}

/** The columns shown, in order. */
export function columns(t: Pick<ValueHistoryTable, 'hasCpu' | 'hasTask'>): ValueHistoryColumn[] {
  return (['n', 'icount', 'cpu', 'task', 'function', 'source', 'old', 'new'] as const).filter((c) => (c !== 'cpu' || t.hasCpu) && (c !== 'task' || t.hasTask));
}

export const COLUMN_LABELS: Record<ValueHistoryColumn, string> = {
  n: '#',
  icount: 'Time point',
  cpu: 'CPU',
  task: 'Task',
  function: 'Function',
  source: 'Line',
  old: 'Old value',
  new: 'New value',
};

export type SortDirection = 'asc' | 'desc';

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareValues(a: ValueHistoryValue, b: ValueHistoryValue): number {
  if (a.number !== undefined && b.number !== undefined) {
    const x = BigInt(a.number);
    const y = BigInt(b.number);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return compareText(a.hex, b.hex);
}

/** The key of a row for a column; undefined: the row has nothing there (sorted last either way). */
function compareBy(column: ValueHistoryColumn, a: ValueHistoryRow, b: ValueHistoryRow): number | undefined {
  switch (column) {
    case 'n':
      return a.n - b.n;
    case 'icount':
      return a.icount - b.icount;
    case 'cpu':
      return a.cpu === undefined || b.cpu === undefined ? undefined : Number(a.cpu) - Number(b.cpu) || compareText(a.cpu, b.cpu);
    case 'task':
      return a.task === undefined || b.task === undefined ? undefined : compareText(a.task.comm, b.task.comm) || a.task.pid - b.task.pid;
    case 'function':
      return a.function === undefined || b.function === undefined ? undefined : compareText(a.function, b.function);
    case 'source':
      if (a.path === undefined || b.path === undefined) return undefined;
      return compareText(baseName(a.path), baseName(b.path)) || compareText(a.path, b.path) || (a.line ?? 0) - (b.line ?? 0);
    case 'old':
    case 'new': {
      const x = a[column];
      const y = b[column];
      return x === undefined || y === undefined ? undefined : compareValues(x, y);
    }
  }
}

function has(column: ValueHistoryColumn, r: ValueHistoryRow): boolean {
  switch (column) {
    case 'n':
    case 'icount':
      return true;
    case 'source':
      return r.path !== undefined;
    default:
      return r[column] !== undefined;
  }
}

/** The rows sorted by a column (a copy): ties in time order, rows without a value there last in both directions. */
export function sortRows(rows: readonly ValueHistoryRow[], column: ValueHistoryColumn, direction: SortDirection): ValueHistoryRow[] {
  const sign = direction === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const ha = has(column, a);
    const hb = has(column, b);
    if (ha !== hb) return ha ? -1 : 1;
    const c = ha ? (compareBy(column, a, b) ?? 0) : 0;
    return c !== 0 ? sign * c : a.n - b.n;
  });
}

/** The next sort after a click on a column's header: the same column flips, another starts ascending. */
export function nextSort(current: { column: ValueHistoryColumn; direction: SortDirection }, clicked: ValueHistoryColumn): { column: ValueHistoryColumn; direction: SortDirection } {
  if (current.column === clicked) return { column: clicked, direction: current.direction === 'asc' ? 'desc' : 'asc' };
  return { column: clicked, direction: 'asc' };
}

/**
 * The row whose value the bytes hold at time point `icount`: the last write at or before it (a
 * write's icount is just after it). Undefined before the first write. `rows` in time order.
 */
export function rowOfValueAt(rows: readonly ValueHistoryRow[], icount: number): ValueHistoryRow | undefined {
  let found: ValueHistoryRow | undefined;
  for (const r of rows) {
    if (r.icount > icount) break;
    found = r;
  }
  return found;
}

/** "config_set_name · config.c:36", or the code address when gdb knows no function. */
export function whereText(r: ValueHistoryRow): string {
  return r.function ? `${r.function}${r.source ? ` · ${r.source}` : ''}` : r.code;
}

/** "0 → 842280299" ("?" where unreadable). */
export function changeText(r: ValueHistoryRow): string {
  return `${r.old?.text ?? '?'} → ${r.new?.text ?? '?'}`;
}

/** The writes on the timeline: at the time point just before each (where a click on the row goes too). */
export function writeMarkers(t: Pick<ValueHistoryTable, 'expression' | 'rows'>): TimelineMarker[] {
  const total = t.rows.length;
  return t.rows.map((r) => ({ icount: r.seekTo, kind: 'write' as const, label: `Write ${r.n} of ${total} to ${t.expression}: ${changeText(r)} (${whereText(r)})` }));
}

/** One line above the table: what was asked, where its bytes are, how many writes. */
export function summaryText(t: ValueHistoryTable): string {
  const n = t.rows.length;
  const what = `${t.size} byte${t.size === 1 ? '' : 's'} at ${t.address}${t.type ? `, ${t.type}` : ''}`;
  return `${t.expression} (${what}): ${n === 0 ? 'never written in this recording' : `${groupDigits(n)} write${n === 1 ? '' : 's'} in the recording`}`;
}

/** A failure of rewind/valueHistory as the user should read it (the adapter speaks of data breakpoints: the same check). */
export function valueHistoryError(expression: string, message: string): string {
  const m = /^no data breakpoint for "[\s\S]*?": ([\s\S]*)$/.exec(message);
  if (m) return `Cannot show the value history of ${expression}: ${m[1]}`;
  if (message === 'cancelled') return `The value history of ${expression} was cancelled.`;
  return `The value history of ${expression} failed: ${message}`;
}

/**
 * The C expression around a column of a line (0-based), for the input box's first guess:
 * an identifier with its member accesses and subscripts (`cfg.heartbeat_interval`,
 * `dev->stats[2].count`). Undefined when the column is not on one.
 */
export function expressionAt(line: string, column: number): string | undefined {
  const re = /[A-Za-z_]\w*(?:\s*(?:\.|->)\s*[A-Za-z_]\w*|\[[^[\]]*\])*/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (column >= m.index && column <= m.index + m[0].length) return m[0].replace(/\s+/g, '');
  }
  return undefined;
}

/** A selection as an expression: one line, spaces collapsed; undefined when empty. */
export function expressionFromSelection(text: string): string | undefined {
  const t = text.replace(/\s+/g, ' ').trim().replace(/;$/, '').trim();
  return t === '' ? undefined : t;
}
