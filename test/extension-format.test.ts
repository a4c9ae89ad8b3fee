/**
 * The extension's small pure parts: what Go to Time accepts, how positions and events are
 * written, typed console lines, write values, context-menu arguments, and the corrections made
 * to the inline adapter's DAP traffic, bookmark names and console rows (extension/novsc/). Plain
 * Node: no VS Code needed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bookmarkNameProblem, consoleLineLabel, defaultBookmarkName, lastAtOrBefore } from '../extension/novsc/bookmarks';
import { expressionFromContext, lineFromContext } from '../extension/novsc/context-args';
import { kernelScanNote, memoryValue, typedLines } from '../extension/novsc/events';
import { DapMessageReader, encodeDapMessage } from '../extension/novsc/dap-stream';
import { BOOKKEEPING_KINDS, describeEvent, describePosition, formatPercent, groupDigits, guestEventCount, percentOf, printableBytes, shortIcount } from '../extension/novsc/format';
import { parseTimeInput } from '../extension/novsc/time-input';

describe('Go to Time input', () => {
  const ctx = { end: 5_700_134, current: 5_686_281 };
  const target = (text: string) => {
    const r = parseTimeInput(text, ctx);
    assert.ok(r && r.ok, `${text}: ${r && !r.ok ? r.error : 'empty'}`);
    return r.target;
  };
  const error = (text: string) => {
    const r = parseTimeInput(text, ctx);
    assert.ok(r && !r.ok, `${text} should be refused`);
    return r.error;
  };

  it('takes icounts in every usual spelling', () => {
    assert.deepEqual(target('5000000'), { kind: 'icount', icount: 5_000_000 });
    assert.deepEqual(target('5,000,000'), { kind: 'icount', icount: 5_000_000 });
    assert.deepEqual(target('5_000_000'), { kind: 'icount', icount: 5_000_000 });
    assert.deepEqual(target('5.7M'), { kind: 'icount', icount: 5_700_000 });
    assert.deepEqual(target('250k'), { kind: 'icount', icount: 250_000 });
    assert.deepEqual(target('icount 42'), { kind: 'icount', icount: 42 });
    assert.deepEqual(target(' start '), { kind: 'icount', icount: 0 });
    assert.deepEqual(target('END'), { kind: 'icount', icount: 5_700_134 });
  });

  it('takes percentages, events and moves relative to now', () => {
    assert.deepEqual(target('42%'), { kind: 'percent', percent: 42 });
    assert.deepEqual(target('99.5 %'), { kind: 'percent', percent: 99.5 });
    assert.deepEqual(target('#123'), { kind: 'event', eventIndex: 123 });
    assert.deepEqual(target('event 7'), { kind: 'event', eventIndex: 7 });
    assert.deepEqual(target('-500k'), { kind: 'icount', icount: 5_186_281 });
    assert.deepEqual(target('+1000'), { kind: 'icount', icount: 5_687_281 });
    assert.equal(parseTimeInput('', ctx), undefined);
    assert.match(parseTimeInput('42%', ctx)!.ok ? (parseTimeInput('42%', ctx) as { label: string }).label : '', /42% of the recording \(icount 2,394,056\)/);
  });

  it('refuses what is not a time point, saying what is', () => {
    assert.match(error('yesterday'), /"yesterday" is not a time point: type an icount \(5700000 or 5\.7M\), a percentage \(42%\), an event \(#123\)/);
    assert.match(error('6M'), /icount 6,000,000 is after the end of the recording \(5,700,134\)/);
    assert.match(error('101%'), /101% is past the end/);
    assert.match(error('-6M'), /before the start of the recording/);
    const noPos = parseTimeInput('+5', { end: 100 });
    assert.ok(noPos && !noPos.ok && /current position is not known/.test(noPos.error));
  });
});

describe('formatting', () => {
  it('writes positions the same way everywhere', () => {
    assert.equal(groupDigits(5700134), '5,700,134');
    assert.equal(shortIcount(950), '950');
    assert.equal(shortIcount(12_500), '12.5k');
    assert.equal(shortIcount(5_700_000), '5.7M');
    assert.equal(shortIcount(1_250_000_000), '1.25G');
    assert.equal(formatPercent(percentOf(2_850_067, 5_700_134)), '50.0%');
    assert.equal(percentOf(10, 0), 0);
    assert.equal(describePosition(2_850_067, 5_700_134), 'icount 2,850,067 (50.0%)');
  });

  it('describes events for people', () => {
    assert.equal(printableBytes('ab\n\t\x01'), 'ab⏎⇥\\x01');
    assert.equal(describeEvent({ kind: 'serial-input', bytes: 'n' }), 'Serial input "n"');
    assert.equal(describeEvent({ kind: 'clock', detail: 'host', value: '123' }), 'Clock read host = 123 ns');
    assert.equal(describeEvent({ kind: 'char-write', value: '1' }), 'Console output (1 byte)');
    assert.equal(describeEvent({ kind: 'block', value: '7' }), 'Disk I/O #7');
    assert.equal(describeEvent({ kind: 'shutdown', detail: 'guest-shutdown' }), 'Shutdown: guest-shutdown');
    assert.equal(describeEvent({ kind: 'interrupt' }), 'Interrupt');
  });

  it('groups typed bytes into the lines a person typed', () => {
    const bytes = 'name x\nwhoami\nwor';
    const events = [...bytes].map((b, i) => ({ index: 100 + i, icount: 1000 + i * 10, kind: 'serial-input', bytes: b }));
    events.splice(3, 0, { index: 50, icount: 1025, kind: 'interrupt', bytes: undefined as unknown as string });
    const lines = typedLines(events);
    assert.deepEqual(lines.map((l) => l.text), ['name x⏎', 'whoami⏎', 'wor']);
    assert.deepEqual([lines[0]!.eventIndex, lines[0]!.icount, lines[0]!.lastIcount], [100, 1000, 1060]);
  });

  it('reads a write\'s bytes as a little-endian value', () => {
    assert.equal(memoryValue('6b2d3400', 4), '0x00342d6b');
    assert.equal(memoryValue('6b2d3432', 4), '0x32342d6b');
    assert.equal(memoryValue('41', 1), '0x41');
    assert.equal(memoryValue('010203', 3), '01 02 03');
    assert.equal(memoryValue(undefined, 4), undefined);
    assert.equal(memoryValue('zz', 1), undefined);
  });
});

describe('the kernel-event scan in the Events view', () => {
  const kernel = ['kernel-panic', 'serial-input'];
  it('says nothing once done, for a guest without a scan, or when no kernel kind is shown', () => {
    assert.equal(kernelScanNote(kernel, 'done'), undefined);
    assert.equal(kernelScanNote(kernel, undefined), undefined);
    assert.equal(kernelScanNote(['serial-input', 'interrupt'], 'failed', 'x'), undefined);
  });
  it('says a scan is under way, without a click', () => {
    const n = kernelScanNote(kernel, 'scanning');
    assert.equal(n?.label, 'Kernel events: scanning the recording…');
    assert.equal(n?.retry, false);
  });
  it('with the first part in, says only that task switches follow, and only when they are shown', () => {
    assert.equal(kernelScanNote(kernel, 'partial'), undefined);
    const n = kernelScanNote([...kernel, 'kernel-task-switch'], 'partial');
    assert.equal(n?.label, 'Kernel events: finding task switches…');
    assert.equal(n?.retry, false);
  });
  it('says a scan failed, why, and that a click scans again', () => {
    const n = kernelScanNote(kernel, 'failed', 'too many open sessions (1); close one first');
    assert.equal(n?.label, 'Kernel events: the scan failed');
    assert.equal(n?.description, 'too many open sessions (1); close one first · click to scan again');
    assert.match(n?.tooltip ?? '', /failed: too many open sessions \(1\); close one first\n\nThe other events are listed as usual\. Click to scan again/);
    assert.equal(n?.retry, true);
    assert.equal(kernelScanNote(kernel, 'failed')?.description, 'no reason given · click to scan again');
  });
});

describe('context-menu arguments', () => {
  it('finds the expression of a Variables row, a Watch row, or a watch child', () => {
    assert.equal(expressionFromContext({ sessionId: 's', container: { name: 'Locals' }, variable: { name: 'i', evaluateName: 'i', value: '19' } }), 'i');
    assert.equal(expressionFromContext({ sessionId: 's', variable: { name: 'cfg.heartbeat_interval', value: '842280299', variablesReference: 0 } }), 'cfg.heartbeat_interval');
    assert.equal(expressionFromContext({ container: { expression: 'cfg' }, variable: { name: 'heartbeat_interval', evaluateName: 'cfg.heartbeat_interval' } }), 'cfg.heartbeat_interval');
    assert.equal(expressionFromContext(undefined), undefined);
    assert.equal(expressionFromContext({ variable: { name: '  ' } }), undefined);
  });

  it('finds the line of a gutter menu', () => {
    assert.equal(lineFromContext({ lineNumber: 36, uri: {} }), 36);
    assert.equal(lineFromContext({ lineNumber: 0 }), undefined);
    assert.equal(lineFromContext('x'), undefined);
  });
});

describe('the DAP wire format (the executable adapter\'s stdio)', () => {
  it('frames messages with Content-Length in bytes, not characters', () => {
    const wire = encodeDapMessage({ seq: 1, type: 'event', event: 'output', body: { output: 'é⏎' } }).toString('utf8');
    const body = '{"seq":1,"type":"event","event":"output","body":{"output":"é⏎"}}';
    assert.equal(wire, `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    assert.notEqual(Buffer.byteLength(body), body.length);
  });

  it('reads messages whatever the chunks: split anywhere, several in one, multi-byte characters cut', () => {
    const sent = [
      { seq: 1, type: 'response', command: 'initialize', success: true, body: { supportsStepBack: true } },
      { seq: 2, type: 'event', event: 'output', body: { output: 'Kernel panic — 0x32342d6b ⏎\n' } },
      { seq: 3, type: 'event', event: 'stopped', body: { reason: 'exception' } },
    ];
    const stream = Buffer.concat(sent.map(encodeDapMessage));
    for (const size of [1, 2, 7, 64, stream.length]) {
      const got: unknown[] = [];
      const reader = new DapMessageReader((m) => got.push(m));
      for (let i = 0; i < stream.length; i += size) reader.push(stream.subarray(i, i + size));
      assert.deepEqual(got, sent, `chunks of ${size} bytes`);
    }
  });

  it('refuses a stream that is not DAP', () => {
    const reader = new DapMessageReader(() => undefined);
    assert.throws(() => reader.push(Buffer.from('Listening on port 1234\r\n\r\n')), /header without Content-Length/);
    assert.throws(() => new DapMessageReader(() => undefined).push(Buffer.alloc(9000, 0x61)), /no header end within 8 KiB/);
  });
});

describe('guest events and bookkeeping', () => {
  it('counts only the guest\'s events (not replay checkpoints, bottom halves or the log\'s end)', () => {
    // The demo recording's index: 7,548 entries, 4,571 of them events of the guest.
    const counts = { clock: 4207, checkpoint: 2976, 'char-write': 164, interrupt: 144, 'serial-input': 43, exception: 10, shutdown: 3, end: 1 };
    assert.equal(guestEventCount(counts), 4571);
    assert.equal(guestEventCount({ bh: 5, end: 1, checkpoint: 9 }), 0);
    assert.deepEqual([...BOOKKEEPING_KINDS].sort(), ['bh', 'checkpoint', 'end']);
  });
});

describe('bookmarks and console rows', () => {
  it('offers "icount N" as the name, numbered when taken', () => {
    assert.equal(defaultBookmarkName(5686281, []), 'icount 5,686,281');
    assert.equal(defaultBookmarkName(5686281, [{ name: 'icount 5,686,281' }, { name: 'icount 5,686,281 (2)' }]), 'icount 5,686,281 (3)');
  });

  it("checks a typed name by the adapter's rules", () => {
    const marks = [{ name: 'panic', icount: 12 }];
    assert.equal(bookmarkNameProblem('  ', marks), 'A bookmark needs a name');
    assert.equal(bookmarkNameProblem(' panic ', marks), 'There is already a bookmark "panic" (at icount 12)');
    assert.match(bookmarkNameProblem('x'.repeat(201), marks)!, /At most 200 characters/);
    assert.equal(bookmarkNameProblem('copy loop', marks), undefined);
  });

  it('console rows: control characters dropped, empty lines said so; the line at or before a time point', () => {
    assert.equal(consoleLineLabel('\x1b[0mready\r'), '[0mready');
    assert.equal(consoleLineLabel(''), '(empty line)');
    const lines = [{ icount: 10 }, { icount: 20 }, { icount: 20 }, { icount: 30 }];
    assert.equal(lastAtOrBefore(lines, 5), -1);
    assert.equal(lastAtOrBefore(lines, 10), 0);
    assert.equal(lastAtOrBefore(lines, 25), 2);
    assert.equal(lastAtOrBefore(lines, 99), 3);
  });
});
