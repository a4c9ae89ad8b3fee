/**
 * The Value History panel's model (extension/novsc/value-history.ts), plain Node: values of the
 * watched bytes as numbers (little-endian, signed by the type, pointers in hex) or hex bytes, the
 * rows made from a rewind/valueHistory answer, sorting by every column, the row of the value now,
 * the timeline's markers, the guesses of the expression and the messages of bad input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RewindValueHistoryResponse, ValueHistoryRow } from '@rewind/protocol';
import {
  columns,
  cpuInfo,
  expressionAt,
  expressionFromSelection,
  isSignedType,
  nextSort,
  rowOfValueAt,
  sortRows,
  summaryText,
  valueHistoryError,
  valueHistoryRows,
  valueHistoryTable,
  whereText,
  writeMarkers,
  writeValue,
} from '../extension/novsc/value-history';

describe('Value History values', () => {
  it('reads 1, 2, 4 and 8 bytes as little-endian numbers in decimal, with hex and the bytes in the tooltip', () => {
    const v = writeValue('6b2d3432', 4, 'uint32_t')!;
    assert.equal(v.text, '842280299');
    assert.equal(v.number, '842280299');
    assert.equal(v.hex, '6b2d3432');
    assert.match(v.title, /^0x32342d6b · bytes 6b 2d 34 32 in memory \(little-endian\)/);
    assert.match(v.title, /as text "k-42"/);
    assert.equal(writeValue('ff', 1)!.text, '255');
    assert.equal(writeValue('ff', 1)!.title, '0xff · byte ff');
    assert.equal(writeValue('3412', 2)!.text, String(0x1234));
    assert.equal(writeValue('ffffffffffffffff', 8)!.text, '18446744073709551615');
    assert.equal(writeValue('0100000000000080', 8)!.text, '9223372036854775809');
  });

  it('is signed when the type is, and a pointer is shown in hex', () => {
    assert.equal(writeValue('ffffffff', 4, 'int')!.text, '-1');
    assert.equal(writeValue('feffffff', 4, 'int32_t')!.number, '-2');
    assert.equal(writeValue('ffffffff', 4, 'unsigned int')!.text, '4294967295');
    assert.equal(writeValue('ffffffffffffffff', 8, 'long')!.text, '-1');
    assert.equal(writeValue('80', 1, 'char')!.text, '-128');
    assert.equal(writeValue('80', 1, 'u8')!.text, '128');
    const p = writeValue('00104000ffffffff', 8, 'struct config *')!;
    assert.equal(p.text, '0xffffffff00401000');
    assert.match(p.title, /^18446744069418782720 · bytes 00 10 40 00 ff ff ff ff/);
    for (const t of ['int', 'long long', 'signed char', 'const int', 's32', '__s64', 'int64_t', 'ssize_t']) assert.equal(isSignedType(t), true, t);
    for (const t of [undefined, 'unsigned long', 'uint32_t', 'u64', '__u16', 'size_t', 'bool', 'struct foo', 'enum state']) assert.equal(isSignedType(t), false, String(t));
  });

  it('shows other sizes as hex bytes in memory order, long ones cut in the cell and whole (to 64) in the tooltip', () => {
    const name = Buffer.from('demo\0\0\0').toString('hex');
    const v = writeValue(name, 7)!;
    assert.equal(v.text, '64 65 6d 6f 00 00 00');
    assert.equal(v.number, undefined);
    assert.match(v.title, /^7 bytes in memory order: 64 65 6d 6f 00 00 00 · as text "demo␀␀␀"$/);
    const long = writeValue('ab'.repeat(20), 20)!;
    assert.equal(long.text, `${'ab '.repeat(16).trim()} … (20 bytes)`);
    assert.match(long.title, /^20 bytes in memory order: (ab ){19}ab$/);
    // A 4-byte value the adapter reports with the wrong length is not read as a number.
    assert.equal(writeValue('0102', 4)!.text, '01 02');
  });

  it('has no value for missing or malformed bytes', () => {
    assert.equal(writeValue(undefined, 4), undefined);
    assert.equal(writeValue('', 4), undefined);
    assert.equal(writeValue('xyz1', 2), undefined);
    assert.equal(writeValue('abc', 2), undefined);
  });
});

/**
 * The shape of the demo's answer for cfg.heartbeat_interval (a uint32_t): set at boot, then
 * overwritten byte by byte by the name's copy loop (the store on line 36; the instruction after
 * it, `at`, is the loop's increment on line 35).
 */
const ANSWER: RewindValueHistoryResponse = {
  address: '0x105030',
  size: 4,
  type: 'uint32_t',
  writes: [
    { icount: 5_660_000, before: '00000000', after: '64000000', at: { address: '0x100a10', function: 'config_init', path: '/src/demo/config.c', line: 27 } },
    { icount: 5_686_100, before: '64000000', after: '6b000000', at: { address: '0x100b3e', function: 'config_set_name', path: '/src/demo/config.c', line: 35 }, writer: { address: '0x100b38', function: 'config_set_name', path: '/src/demo/config.c', line: 36 } },
    { icount: 5_686_120, before: '6b000000', after: '6b2d0000', at: { address: '0x100b3e', function: 'config_set_name', path: '/src/demo/config.c', line: 35 }, writer: { address: '0x100b38', function: 'config_set_name', path: '/src/demo/config.c', line: 36 } },
    { icount: 5_686_140, after: '6b2d3400', at: { address: '0x100b3e', function: 'config_set_name', path: '/src/demo/config.c', line: 35 }, writer: { address: '0x100b38', function: 'config_set_name', path: '/src/demo/config.c', line: 36 } },
    { icount: 5_686_160, before: '6b2d3400', after: '6b2d3432', at: { address: '0x200000' } },
  ],
};

describe('Value History rows', () => {
  const rows = valueHistoryRows(ANSWER, { cpu: '0' });

  it('makes one row per write, in time order, numbered from 1, going to the time point just before the write', () => {
    assert.deepEqual(rows.map((r) => r.n), [1, 2, 3, 4, 5]);
    assert.deepEqual(rows.map((r) => r.icount), ANSWER.writes.map((w) => w.icount));
    assert.deepEqual(rows.map((r) => r.seekTo), ANSWER.writes.map((w) => w.icount - 1));
    assert.equal(valueHistoryRows({ ...ANSWER, writes: [{ icount: 0, at: { address: '0x0' } }] })[0]!.seekTo, 0);
    // An interrupt's frame: its time point stands before it.
    assert.equal(valueHistoryRows({ ...ANSWER, writes: [{ icount: 500, delivery: true, at: { address: '0x1001dc' } }] })[0]!.seekTo, 500);
  });

  it('says where: function, file:line, code address of the writing instruction (else of the one after); old -> new as numbers, consecutive rows agreeing', () => {
    const r = rows[1]!;
    assert.equal(r.atWriter, true);
    assert.equal(r.function, 'config_set_name');
    assert.equal(r.source, 'config.c:36');
    assert.equal(r.path, '/src/demo/config.c');
    assert.equal(r.line, 36);
    assert.equal(r.code, '0x100b38');
    assert.equal(rows[0]!.atWriter, false, 'no writer: where the guest is after the write');
    assert.equal(rows[0]!.source, 'config.c:27');
    assert.equal(rows[0]!.code, '0x100a10');
    assert.equal(r.cpu, '0');
    assert.equal(r.old!.text, '100');
    assert.equal(r.new!.text, '107');
    assert.equal(whereText(r), 'config_set_name · config.c:36');
    for (let k = 1; k < rows.length; k++) if (rows[k]!.old) assert.equal(rows[k]!.old!.text, rows[k - 1]!.new!.text);
    // Unreadable bytes: no value (shown as "?"); no symbols: the code address.
    assert.equal(rows[3]!.old, undefined);
    assert.equal(rows[4]!.function, undefined);
    assert.equal(rows[4]!.source, undefined);
    assert.equal(whereText(rows[4]!), '0x200000');
    assert.equal(rows[4]!.new!.text, '842280299');
  });

  it('has a CPU column only when every write\'s vCPU is known (a one-vCPU recording)', () => {
    assert.deepEqual(cpuInfo(1), { cpu: '0', note: 'The recording has one vCPU: every write is on CPU 0.' });
    assert.equal(cpuInfo(2).cpu, undefined);
    assert.match(cpuInfo(2).note, /2 vCPUs/);
    assert.equal(cpuInfo(undefined).cpu, undefined);
    const one = valueHistoryTable('cfg.heartbeat_interval', ANSWER, { session: 'demo', end: 5_700_000, threadCount: 1 });
    assert.equal(one.hasCpu, true);
    assert.ok(one.rows.every((r) => r.cpu === '0'));
    assert.deepEqual(columns(one), ['n', 'icount', 'cpu', 'function', 'source', 'old', 'new']);
    const many = valueHistoryTable('cfg.heartbeat_interval', ANSWER, { session: 'demo', end: 5_700_000, threadCount: 4 });
    assert.equal(many.hasCpu, false);
    assert.ok(many.rows.every((r) => r.cpu === undefined));
    assert.deepEqual(columns(many), ['n', 'icount', 'function', 'source', 'old', 'new']);
    assert.equal(summaryText(one), 'cfg.heartbeat_interval (4 bytes at 0x105030, uint32_t): 5 writes in the recording');
    assert.equal(summaryText({ ...one, rows: [] }), 'cfg.heartbeat_interval (4 bytes at 0x105030, uint32_t): never written in this recording');
  });

  it('on Linux, has a Task column and the CPU of each write from the adapter, sortable by task', () => {
    const linux: RewindValueHistoryResponse = {
      address: '0xffffffff82a0b000',
      size: 8,
      type: 'u64',
      writes: [
        { icount: 100, after: '0100000000000000', at: { address: '0xffffffff81000010' }, task: { pid: 812, tgid: 812, comm: 'dd' }, cpu: 1 },
        { icount: 200, after: '0200000000000000', at: { address: '0xffffffff81000010' }, task: { pid: 0, tgid: 0, comm: 'swapper/0' }, cpu: 0 },
        { icount: 300, after: '0300000000000000', at: { address: '0xffffffff81000010' }, task: { pid: 813, tgid: 812, comm: 'dd' }, cpu: 1 },
        { icount: 400, after: '0400000000000000', at: { address: '0xffffffff81000010' }, cpu: 0 },
      ],
    };
    // The adapter's CPU wins over the number of vCPUs (which alone would leave no CPU column).
    const t = valueHistoryTable('jiffies_64', linux, { session: 'linux', end: 1_000, threadCount: 2 });
    assert.equal(t.hasCpu, true);
    assert.equal(t.hasTask, true);
    assert.deepEqual(columns(t), ['n', 'icount', 'cpu', 'task', 'function', 'source', 'old', 'new']);
    assert.deepEqual(t.rows.map((r) => r.cpu), ['1', '0', '1', '0']);
    assert.deepEqual(t.rows.map((r) => r.task?.text), ['dd [812]', 'swapper/0 [0]', 'dd [813]', undefined]);
    assert.match(t.rows[2]!.task!.title, /pid 813, a thread of process 812/);
    assert.doesNotMatch(t.rows[0]!.task!.title, /thread of/);
    assert.match(t.cpuNote, /kernel's number of the CPU/);
    // By task: comm, then pid; the write whose task was unreadable last either way.
    assert.deepEqual(sortRows(t.rows, 'task', 'asc').map((r) => r.n), [1, 3, 2, 4]);
    assert.deepEqual(sortRows(t.rows, 'task', 'desc').map((r) => r.n), [2, 3, 1, 4]);
    // One write without a CPU: the column falls back to what the number of vCPUs says.
    const some = valueHistoryTable('jiffies_64', { ...linux, writes: linux.writes.map((w, i) => (i === 0 ? { ...w, cpu: undefined } : w)) }, { session: 'linux', end: 1_000, threadCount: 2 });
    assert.equal(some.hasCpu, false);
    // Not Linux: no Task column.
    assert.equal(valueHistoryTable('cfg.heartbeat_interval', ANSWER, { session: 'demo', end: 5_700_000, threadCount: 1 }).hasTask, false);
  });

  it('marks the writes on the timeline where a click on their row goes', () => {
    const ms = writeMarkers({ expression: 'cfg.heartbeat_interval', rows });
    assert.equal(ms.length, 5);
    assert.ok(ms.every((m) => m.kind === 'write'));
    assert.deepEqual(ms.map((m) => m.icount), rows.map((r) => r.seekTo));
    assert.equal(ms[1]!.label, 'Write 2 of 5 to cfg.heartbeat_interval: 100 → 107 (config_set_name · config.c:36)');
    assert.match(ms[3]!.label, /: \? → 3419499/);
  });

  it('finds the row of the value at a time point (a write\'s icount is just after it)', () => {
    assert.equal(rowOfValueAt(rows, 0), undefined);
    assert.equal(rowOfValueAt(rows, 5_660_000)!.n, 1);
    assert.equal(rowOfValueAt(rows, 5_686_099)!.n, 1, 'just before write 2: write 1 is the value');
    assert.equal(rowOfValueAt(rows, 5_686_100)!.n, 2);
    assert.equal(rowOfValueAt(rows, 9_999_999)!.n, 5);
  });
});

describe('Value History sorting', () => {
  const rows = valueHistoryRows(ANSWER, { cpu: '0' });
  const ns = (rs: ValueHistoryRow[]) => rs.map((r) => r.n);

  it('sorts by time point and number either way', () => {
    assert.deepEqual(ns(sortRows(rows, 'icount', 'desc')), [5, 4, 3, 2, 1]);
    assert.deepEqual(ns(sortRows(sortRows(rows, 'icount', 'desc'), 'n', 'asc')), [1, 2, 3, 4, 5]);
    assert.deepEqual(ns(rows), [1, 2, 3, 4, 5], 'a copy: the rows stay in time order');
  });

  it('sorts values as numbers (not as text), rows without one last either way, ties in time order', () => {
    // new: 100, 107, 11627, 3419499, 842280299
    assert.deepEqual(ns(sortRows(rows, 'new', 'desc')), [5, 4, 3, 2, 1]);
    assert.deepEqual(ns(sortRows(rows, 'new', 'asc')), [1, 2, 3, 4, 5]);
    // old: 0, 100, 107, (none), 3419499
    assert.deepEqual(ns(sortRows(rows, 'old', 'asc')), [1, 2, 3, 5, 4]);
    assert.deepEqual(ns(sortRows(rows, 'old', 'desc')), [5, 3, 2, 1, 4]);
    const signed = valueHistoryRows({ ...ANSWER, type: 'int', writes: [{ icount: 1, after: 'ffffffff', at: { address: '0x1' } }, { icount: 2, after: '01000000', at: { address: '0x1' } }] });
    assert.deepEqual(ns(sortRows(signed, 'new', 'asc')), [1, 2], '-1 before 1');
    const eight = valueHistoryRows({ ...ANSWER, size: 8, writes: [{ icount: 1, after: 'ffffffffffffff7f', at: { address: '0x1' } }, { icount: 2, after: '0900000000000000', at: { address: '0x1' } }] });
    assert.deepEqual(ns(sortRows(eight, 'new', 'desc')), [1, 2], 'beyond 2^53: compared exactly');
  });

  it('sorts by function and by file then line, rows without symbols last', () => {
    assert.deepEqual(ns(sortRows(rows, 'function', 'asc')), [1, 2, 3, 4, 5]);
    assert.deepEqual(ns(sortRows(rows, 'function', 'desc')), [2, 3, 4, 1, 5]);
    assert.deepEqual(ns(sortRows(rows, 'source', 'asc')), [1, 2, 3, 4, 5]);
    assert.deepEqual(ns(sortRows(rows, 'source', 'desc')), [2, 3, 4, 1, 5]);
    assert.deepEqual(ns(sortRows(rows, 'cpu', 'desc')), [1, 2, 3, 4, 5]);
  });

  it('flips the direction on a second click of the same header, and starts ascending on another', () => {
    assert.deepEqual(nextSort({ column: 'icount', direction: 'asc' }, 'icount'), { column: 'icount', direction: 'desc' });
    assert.deepEqual(nextSort({ column: 'icount', direction: 'desc' }, 'icount'), { column: 'icount', direction: 'asc' });
    assert.deepEqual(nextSort({ column: 'icount', direction: 'desc' }, 'new'), { column: 'new', direction: 'asc' });
  });
});

describe('Value History input and errors', () => {
  it('guesses the expression under the cursor: members, arrows and subscripts included', () => {
    const line = '        cfg.machine_name[i] = name[i];';
    assert.equal(expressionAt(line, line.indexOf('cfg')), 'cfg.machine_name[i]');
    assert.equal(expressionAt(line, line.indexOf('machine')), 'cfg.machine_name[i]');
    assert.equal(expressionAt(line, line.indexOf('name[i];')), 'name[i]');
    assert.equal(expressionAt(line, 2), undefined);
    assert.equal(expressionAt('x = dev -> stats[2].count + 1', 9), 'dev->stats[2].count');
    assert.equal(expressionAt('return cfg.heartbeat_interval;', 'return cfg.heartbeat_interval'.length), 'cfg.heartbeat_interval');
  });

  it('takes a selection as one line', () => {
    assert.equal(expressionFromSelection('  cfg.heartbeat_interval\n'), 'cfg.heartbeat_interval');
    assert.equal(expressionFromSelection('cfg\n  .machine_name;'), 'cfg .machine_name');
    assert.equal(expressionFromSelection(' \n '), undefined);
  });

  it('says clearly why an expression has no value history', () => {
    assert.equal(
      valueHistoryError('nosuch', 'no data breakpoint for "nosuch": it is not in memory (No symbol "nosuch" in current context.)'),
      'Cannot show the value history of nosuch: it is not in memory (No symbol "nosuch" in current context.)',
    );
    assert.equal(valueHistoryError('x', 'the debug session has ended'), 'The value history of x failed: the debug session has ended');
    assert.equal(valueHistoryError('x', 'cancelled'), 'The value history of x was cancelled.');
  });
});
