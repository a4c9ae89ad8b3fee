/**
 * The language server's pure parts, without a server: the expression under the cursor, how facts
 * look (lenses, hints, faded lines, hovers), and the settings it reads. The server itself, with
 * the real engine, is test/language-server.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expressionAt } from '../language-server/src/expression-at';
import { bytesValue, functionLenses, gotoLink, lineHint, neverRan, resolvedNavLens, valueHover, type NavLensData } from '../language-server/src/presentation';
import { settingsOf } from '../language-server/src/settings';

describe('language server: expression under the cursor', () => {
  const line = '    uint32_t interval = cfg.heartbeat_interval;';
  it('takes the member chain up to the identifier under the cursor', () => {
    assert.deepEqual(expressionAt(line, line.indexOf('heartbeat') + 2), { expression: 'cfg.heartbeat_interval', start: line.indexOf('cfg'), end: line.indexOf(';') });
    assert.equal(expressionAt(line, line.indexOf('cfg') + 1)?.expression, 'cfg');
    assert.equal(expressionAt('  dev -> stats.rx_bytes++;', 10)?.expression, 'dev->stats');
    assert.equal(expressionAt('  dev -> stats.rx_bytes++;', 18)?.expression, 'dev->stats.rx_bytes');
  });
  it('gives nothing for keywords, numbers, blanks and members without their object', () => {
    assert.equal(expressionAt(line, line.indexOf('uint32_t') + 1)?.expression, 'uint32_t'); // a type name gdb will refuse: still an identifier
    assert.equal(expressionAt('    return x;', 6), undefined);
    assert.equal(expressionAt('    i = 42;', 9), undefined);
    assert.equal(expressionAt('    i = 42;', 1), undefined);
    assert.equal(expressionAt('    f(x).field = 1;', 11), undefined);
  });
});

describe('language server: presentation', () => {
  const fn = { name: 'config_set_name', line: 31, addresses: [0x100a00n], count: 1234 };
  it('puts the count and four navigation lenses above a function that ran, one lens above one that never did', () => {
    const lenses = functionLenses('file:///c.c', fn, 'void config_set_name(const char *name)');
    assert.equal(lenses.length, 5);
    assert.equal(lenses[0]!.command!.title, 'ran 1,234× in this recording');
    assert.deepEqual(lenses.slice(1).map((l) => (l.data as NavLensData).which), ['first', 'previous', 'next', 'last']);
    assert.deepEqual((lenses[1]!.data as NavLensData).addresses, ['0x100a00']);
    assert.ok(lenses.every((l) => l.range.start.line === 30));
    const never = functionLenses('file:///c.c', { ...fn, count: 0 }, 'x');
    assert.deepEqual(never.map((l) => l.command!.title), ['never ran in this recording']);
  });
  it('resolves a navigation lens to rewind.goto, or to a title alone when there is no such call', () => {
    const [, , previous] = functionLenses('file:///c.c', fn, 'x');
    const data = previous!.data as NavLensData;
    const to = resolvedNavLens({ ...previous! }, data, 5000);
    assert.deepEqual(to.command, { title: '◀ previous', command: 'rewind.goto', arguments: [{ icount: 5000, label: 'previous call of config_set_name' }] });
    assert.deepEqual(resolvedNavLens({ ...previous! }, data, undefined).command, { title: 'no earlier call', command: '' });
  });
  it('shows line counts at the end of the line, and fades a line that never ran', () => {
    const hint = lineHint({ line: 3, addresses: [], count: 30 }, '  x = 1;');
    assert.deepEqual(hint.position, { line: 2, character: 8 });
    assert.equal(hint.label, '30×');
    const d = neverRan({ line: 3, addresses: [], count: 0 }, '  x = 1;');
    assert.deepEqual(d.tags, [1]);
    assert.equal(d.severity, 4);
  });
  it('formats written bytes as little-endian numbers, and longer ones as hex', () => {
    assert.equal(bytesValue('64000000'), '100');
    assert.equal(bytesValue('2d65752d'), '762668333');
    assert.equal(bytesValue('0102030405060708090a'), '0x0102030405060708090a');
    assert.equal(bytesValue(undefined), '?');
  });
  it('hovers with the value now and the newest writes first, each a link', () => {
    const v = {
      expression: 'cfg.heartbeat_interval',
      value: '762668333',
      address: 0x1000n,
      size: 4,
      from: 0,
      writes: [
        { icount: 10, after: '64000000', function: 'kmain', path: '/s/main.c', line: 5 },
        { icount: 90, before: '64000000', after: '2d65752d', function: 'config_set_name', path: '/s/config.c', line: 35 },
      ],
    };
    const h = valueHover(v, 100, { start: { line: 0, character: 0 }, end: { line: 0, character: 3 } });
    const text = (h.contents as { value: string }).value;
    assert.match(text, /^\*\*cfg\.heartbeat_interval\*\* = `762668333` at icount 100\n/);
    assert.ok(text.indexOf('config_set_name (config.c:35): `100` → `762668333`') < text.indexOf('kmain (main.c:5)'), text);
    assert.ok(text.includes(gotoLink('icount 90', { icount: 90, label: 'write to cfg.heartbeat_interval' })));
    assert.equal(decodeURIComponent(/\(command:rewind\.goto\?([^)]+)\)/.exec(text)![1]!), '[{"icount":90,"label":"write to cfg.heartbeat_interval"}]');
  });
});

describe('language server: settings', () => {
  it('reads the rewind section or the object itself, and drops what has the wrong type', () => {
    assert.deepEqual(settingsOf({ rewind: { bridge: 'unix:/s', recording: 'r.rewind', lineCounts: 'off', coverage: false, symbols: ['/v'], sourceMap: { '/b': '/s' } } }), {
      bridge: 'unix:/s',
      recording: 'r.rewind',
      lineCounts: 'off',
      coverage: false,
      symbols: ['/v'],
      sourceMap: { '/b': '/s' },
    });
    assert.deepEqual(settingsOf({ bridge: 'tcp:127.0.0.1:9', tokenFile: '/t' }), { bridge: 'tcp:127.0.0.1:9', tokenFile: '/t' });
    assert.deepEqual(settingsOf({ rewind: { bridge: 3, lineCounts: 'gutter', coverage: 'yes', symbols: [1] } }), {});
    assert.deepEqual(settingsOf(null), {});
  });
});
