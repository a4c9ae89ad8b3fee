/**
 * The GDB/MI parser, on lines captured from Debian's gdb 13.1 (mi3) debugging the demo guest under
 * QEMU, plus hand-made lines for the corners of the grammar.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMiTuple, miInt, miList, miString, miTuple, miTupleList, MiRecord, parseMiLine } from '../debug-adapter/src/mi/parser';
import { exec, threadSelect } from '../debug-adapter/src/mi/exec';
import { prng } from './support/prng';

function parse(line: string | Buffer): MiRecord {
  return parseMiLine(line);
}

/** The record, or a failed assertion naming the type it had. */
function expectType<T extends MiRecord['type']>(rec: MiRecord, type: T): MiRecord & { type: T } {
  assert.equal(rec.type, type, JSON.stringify(rec));
  return rec as MiRecord & { type: T };
}

describe('MI parser: records captured from gdb 13', () => {
  it('result records with tokens and nested tuples and lists', () => {
    const rec = expectType(
      parse(
        '2^done,bkpt={number="1",type="breakpoint",disp="keep",enabled="y",addr="0x000000000010065c",func="config_set_name",file="config.c",fullname="/work/main/guests/demo/config.c",line="36",thread-groups=["i1"],times="0",original-location="config.c:36"}',
      ),
      'result',
    );
    assert.equal(rec.token, 2);
    assert.equal(rec.resultClass, 'done');
    const bkpt = miTuple(rec.results, 'bkpt');
    assert.ok(bkpt);
    assert.equal(miString(bkpt, 'addr'), '0x000000000010065c');
    assert.equal(miInt(bkpt, 'line'), 36);
    assert.deepEqual(miList(bkpt, 'thread-groups'), ['i1']);
    assert.equal(miString(bkpt, 'original-location'), 'config.c:36');
  });

  it('every result class, with and without token', () => {
    for (const cls of ['done', 'running', 'connected', 'error', 'exit'] as const) {
      const a = expectType(parse(`^${cls}`), 'result');
      assert.equal(a.resultClass, cls);
      assert.equal(a.token, undefined);
      assert.deepEqual(a.results, {});
      const b = expectType(parse(`4711^${cls}`), 'result');
      assert.equal(b.token, 4711);
    }
    assert.equal(parse('5^stopped').type, 'junk', 'stopped is not a result class');
  });

  it('an error with its message and code', () => {
    const rec = expectType(parse('6^error,msg="No symbol \\"nosuch\\" in current context."'), 'result');
    assert.equal(rec.resultClass, 'error');
    assert.equal(miString(rec.results, 'msg'), 'No symbol "nosuch" in current context.');
    const undef = expectType(parse('7^error,msg="Undefined MI command: frobnicate",code="undefined-command"'), 'result');
    assert.equal(miString(undef.results, 'code'), 'undefined-command');
  });

  it('a list of results with the same key, kept in order (-stack-list-frames)', () => {
    const rec = expectType(
      parse(
        '5^done,stack=[frame={level="0",addr="0x00000000001006b2",func="heartbeat_poll",file="config.c",fullname="/work/main/guests/demo/config.c",line="51",arch="i386:x86-64"},frame={level="1",addr="0x00000000001002ea",func="kmain",file="main.c",fullname="/work/main/guests/demo/main.c",line="24",arch="i386:x86-64"},frame={level="2",addr="0x00000000001000de",func="long_mode_entry",file="boot.S",fullname="/work/main/guests/demo/boot.S",line="104",arch="i386:x86-64"}]',
      ),
      'result',
    );
    const frames = miTupleList(rec.results, 'stack');
    assert.ok(frames);
    assert.deepEqual(
      frames.map((f) => [miString(f, 'level'), miString(f, 'func'), miInt(f, 'line')]),
      [
        ['0', 'heartbeat_poll', 51],
        ['1', 'kmain', 24],
        ['2', 'long_mode_entry', 104],
      ],
    );
  });

  it('a list of results with different keys, and an empty list (-break-list body, args=[])', () => {
    const rec = expectType(parse('9^done,BreakpointTable={nr_rows="2",body=[bkpt={number="1",args=[]},wpt={number="2",exp="x"}],hdr=[]}'), 'result');
    const table = miTuple(rec.results, 'BreakpointTable');
    const body = miTupleList(table, 'body');
    assert.deepEqual(body, [{ number: '1', args: [] }, { number: '2', exp: 'x' }]);
    assert.deepEqual(miList(table, 'hdr'), []);
  });

  it('multi-location breakpoints in mi3 (locations inside bkpt)', () => {
    const rec = expectType(
      parse(
        '2^done,bkpt={number="1",type="breakpoint",disp="keep",enabled="y",addr="<MULTIPLE>",times="0",original-location="outb",locations=[{number="1.1",enabled="y",addr="0x000000000010095d",func="outb",file="/work/main/guests/demo/kernel.h",fullname="/work/main/guests/demo/kernel.h",line="12",thread-groups=["i1"]},{number="1.2",enabled="y",addr="0x0000000000100964",func="outb",file="/work/main/guests/demo/kernel.h",fullname="/work/main/guests/demo/kernel.h",line="12",thread-groups=["i1"]}]}',
      ),
      'result',
    );
    const locs = miTupleList(miTuple(rec.results, 'bkpt'), 'locations');
    assert.deepEqual(locs?.map((l) => miString(l, 'number')), ['1.1', '1.2']);
    assert.deepEqual(locs?.map((l) => miString(l, 'addr')), ['0x000000000010095d', '0x0000000000100964']);
  });

  it('lists of lists, lists of tuples, and nesting several levels deep', () => {
    const rec = expectType(parse('^done,a=[["1","2"],[],[{x="y"}]],b={c={d={e=["f",{g="h"}]}}},empty={}'), 'result');
    assert.deepEqual(rec.results, { a: [['1', '2'], [], [{ x: 'y' }]], b: { c: { d: { e: ['f', { g: 'h' }] } } }, empty: {} });
  });

  it('mode 5 disassembly (src_and_asm_line with line_asm_insn)', () => {
    const rec = expectType(
      parse(
        '7^done,asm_insns=[src_and_asm_line={line="37",file="panic.c",fullname="/work/main/guests/demo/panic.c",line_asm_insn=[{address="0x0000000000100c41",func-name="panic",offset="0",opcodes="55",inst="push   %rbp"},{address="0x0000000000100c42",func-name="panic",offset="1",opcodes="48 89 e5",inst="mov    %rsp,%rbp"}]}]',
      ),
      'result',
    );
    const lines = miTupleList(rec.results, 'asm_insns');
    const insns = miTupleList(lines?.[0], 'line_asm_insn');
    assert.deepEqual(insns?.map((i) => miString(i, 'inst')), ['push   %rbp', 'mov    %rsp,%rbp']);
    assert.equal(miString(insns?.[1], 'opcodes'), '48 89 e5');
  });

  it('exec async records: *running and *stopped', () => {
    const running = expectType(parse('*running,thread-id="all"'), 'exec');
    assert.equal(running.asyncClass, 'running');
    assert.equal(miString(running.results, 'thread-id'), 'all');
    const stopped = expectType(
      parse(
        '*stopped,reason="access-watchpoint-trigger",hw-awpt={number="2",exp="cfg.heartbeats"},value={old="0",new="1"},frame={addr="0x00000000001006d9",func="heartbeat_poll",args=[],file="config.c",fullname="/work/main/guests/demo/config.c",line="57",arch="i386:x86-64"},thread-id="1",stopped-threads="all"',
      ),
      'exec',
    );
    assert.equal(stopped.asyncClass, 'stopped');
    assert.equal(stopped.token, undefined);
    assert.equal(miString(stopped.results, 'reason'), 'access-watchpoint-trigger');
    assert.deepEqual(miTuple(stopped.results, 'value'), { old: '0', new: '1' });
    assert.equal(miString(miTuple(stopped.results, 'frame'), 'line'), '57');
    const tokened = expectType(parse('12*running,thread-id="1"'), 'exec');
    assert.equal(tokened.token, 12);
  });

  it('notify and status async records', () => {
    const n = expectType(parse('=thread-group-added,id="i1"'), 'notify');
    assert.equal(n.asyncClass, 'thread-group-added');
    assert.deepEqual(n.results, { id: 'i1' });
    const bare = expectType(parse('=thread-group-exited'), 'notify');
    assert.deepEqual(bare.results, {});
    const s = expectType(parse('+download,section=".text",section-size="6668",total-size="9880"'), 'status');
    assert.equal(s.asyncClass, 'download');
    assert.equal(miInt(s.results, 'total-size'), 9880);
  });

  it('stream records of all three kinds', () => {
    assert.deepEqual(parse('~"Breakpoint 1, heartbeat_poll () at config.c:51\\n"'), { type: 'console', text: 'Breakpoint 1, heartbeat_poll () at config.c:51\n' });
    assert.deepEqual(parse('@"serial output\\r\\n"'), { type: 'target', text: 'serial output\r\n' });
    assert.deepEqual(parse('&"Undefined command: \\"nosuchcmd\\".  Try \\"help\\".\\n"'), { type: 'log', text: 'Undefined command: "nosuchcmd".  Try "help".\n' });
    assert.deepEqual(parse('~""'), { type: 'console', text: '' });
    assert.equal(parse('1~"x"').type, 'junk', 'stream records have no token');
    assert.equal(parse('~"x" trailing').type, 'junk');
  });

  it('the prompt, with or without its trailing space and a CR', () => {
    assert.deepEqual(parse('(gdb) '), { type: 'prompt' });
    assert.deepEqual(parse('(gdb)'), { type: 'prompt' });
    assert.deepEqual(parse('(gdb) \r'), { type: 'prompt' });
    const r = expectType(parse('3^done\r'), 'result');
    assert.equal(r.token, 3);
  });
});

describe('MI parser: C strings', () => {
  it('every escape gdb emits (printchar): \\n \\t \\r \\b \\f \\a \\e \\" \\\\ and octal', () => {
    const rec = expectType(parse('~"a\\nb\\tc\\rd\\be\\ff\\ag\\eh\\"i\\\\j\\033k\\177l\\0m"'), 'console');
    assert.equal(rec.text, 'a\nb\tc\rd\be\ff\x07g\x1bh"i\\j\x1bk\x7fl\0m');
  });

  it('\\v and octal escapes of one to three digits', () => {
    assert.equal(expectType(parse('~"\\v\\1\\12\\101\\1012"'), 'console').text, '\v\x01\n' + 'A' + 'A2');
  });

  it('octal escapes are bytes of UTF-8 (gdb 13 escapes every byte >= 0x80)', () => {
    // captured: python print("\x80\u20ac") -> ~"\302\200\342\202\254\n"
    assert.equal(expectType(parse('~"\\302\\200\\342\\202\\254\\n"'), 'console').text, '\u0080\u20ac\n');
  });

  it('raw UTF-8 bytes mixed with escaped ones decode together', () => {
    // "é€": C3 A9 E2 82 AC, with 0xA9 and 0xAC left raw and the others escaped
    const line = Buffer.concat([Buffer.from('~"\\303'), Buffer.from([0xa9]), Buffer.from('\\342\\202'), Buffer.from([0xac]), Buffer.from('"')]);
    assert.equal(expectType(parse(line), 'console').text, 'é€');
    // and a JS string holding already decoded text
    assert.equal(expectType(parse('~"grüße €"'), 'console').text, 'grüße €');
  });

  it('invalid UTF-8 becomes U+FFFD instead of failing', () => {
    assert.equal(expectType(parse('~"\\377x"'), 'console').text, '\ufffdx');
  });

  it('the double escaping of a string value (-data-evaluate-expression of a char array)', () => {
    // captured: value="\"a\\tb\\001\303\251\""
    const rec = expectType(parse('14^done,value="\\"a\\\\tb\\\\001\\303\\251\\""'), 'result');
    assert.equal(miString(rec.results, 'value'), '"a\\tb\\001é"');
  });

  it('an unknown escape is kept as written', () => {
    assert.equal(expectType(parse('~"\\q"'), 'console').text, '\\q');
  });
});

describe('MI parser: junk and robustness', () => {
  it('non-MI lines become junk records with the text', () => {
    for (const line of ['', 'Hello from the inferior', 'warning: Error disabling address space randomization: Operation not permitted', '123', '42 ^done', '^', '^done,', '^done,a', '^done,a=', '^done,a="x', '^done,a={b="c"', '^done,a=[', '^done,a=["x",]', '^done,a="x"b="y"', '~', '~"unterminated', '~"ends in backslash\\', '*', '=', '(gdb) x']) {
      const rec = parse(line);
      assert.equal(rec.type, 'junk', `${JSON.stringify(line)} -> ${JSON.stringify(rec)}`);
      assert.equal((rec as { line: string }).line, line);
    }
  });

  it('MI2-style bare tuples after a result are junk, not a crash', () => {
    assert.equal(parse('2^done,bkpt={number="1",addr="<MULTIPLE>"},{number="1.1"},{number="1.2"}').type, 'junk');
  });

  it('a key named __proto__ is data, not a prototype change', () => {
    const rec = expectType(parse('^done,__proto__={polluted="yes"},toString="x"'), 'result');
    assert.equal(Object.getPrototypeOf(rec.results), Object.prototype);
    assert.deepEqual(miTuple(rec.results, '__proto__'), { polluted: 'yes' });
    assert.equal(miString(rec.results, 'toString'), 'x');
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('a repeated key in a tuple keeps the last value', () => {
    const rec = expectType(parse('^done,a="1",a="2"'), 'result');
    assert.equal(miString(rec.results, 'a'), '2');
  });

  it('random byte strings and mutated real lines never throw', () => {
    const random = prng(12345);
    const rand = (n: number): number => Math.floor(random() * n);
    const corpus = [
      '3^done,bkpt={number="2",type="breakpoint",disp="keep",enabled="y",addr="0x0000000000100c41",func="panic",file="panic.c",line="37",thread-groups=["i1"],times="0"}',
      '*stopped,reason="breakpoint-hit",disp="keep",bkptno="1",frame={addr="0x00000000001006b2",func="heartbeat_poll",args=[]},thread-id="1",stopped-threads="all"',
      '~"21\\tstatic inline void sti_hlt(void) { __asm__ volatile(\\"sti; hlt\\" ::: \\"memory\\"); }\\n"',
      '12^done,children=[child={name="var1.machine_name",exp="machine_name",numchild="16",type="char [16]"}],has_more="0"',
      '=thread-group-started,id="i1",pid="1"',
      '(gdb) ',
    ];
    const alphabet = Buffer.from('^*+=~@&{}[]",=\\0123abc-_ \t\x80\xff');
    const types = new Set<string>();
    for (let i = 0; i < 20000; i++) {
      let bytes: Buffer;
      if (i % 4 === 0) {
        bytes = Buffer.alloc(rand(60));
        for (let j = 0; j < bytes.length; j++) bytes[j] = rand(256);
      } else {
        const b = [...Buffer.from(corpus[rand(corpus.length)]!)];
        for (let m = rand(3); m >= 0 && b.length > 0; m--) {
          const at = rand(b.length);
          const op = rand(4);
          if (op === 0) b.length = at; // truncate
          else if (op === 1) b.splice(at, 1); // delete
          else if (op === 2) b.splice(at, 0, alphabet[rand(alphabet.length)]!); // insert
          else b[at] = alphabet[rand(alphabet.length)]!; // replace
        }
        bytes = Buffer.from(b);
      }
      const rec = parseMiLine(bytes); // must not throw
      types.add(rec.type);
      if (rec.type === 'junk') assert.equal(typeof rec.reason, 'string');
    }
    for (const t of ['junk', 'result', 'exec', 'console', 'notify']) assert.ok(types.has(t), `never saw ${t}: ${[...types].join(', ')}`);
  });
});

describe('MI accessors', () => {
  const rec = expectType(parse('^done,s="str",t={k="v"},l=["a",{b="c"}],n="42",h="0x10",big="123456789012345678901",neg="-3"'), 'result');
  const r = rec.results;

  it('return the value only when it has the asked shape', () => {
    assert.equal(miString(r, 's'), 'str');
    assert.equal(miString(r, 't'), undefined);
    assert.equal(miString(r, 'absent'), undefined);
    assert.deepEqual(miTuple(r, 't'), { k: 'v' });
    assert.equal(miTuple(r, 'l'), undefined);
    assert.equal(miTuple(r, 's'), undefined);
    assert.deepEqual(miList(r, 'l'), ['a', { b: 'c' }]);
    assert.equal(miList(r, 't'), undefined);
    assert.deepEqual(miTupleList(r, 'l'), [{ b: 'c' }]);
    assert.equal(miTupleList(r, 's'), undefined);
  });

  it('read integers, refusing ones a JS number cannot hold', () => {
    assert.equal(miInt(r, 'n'), 42);
    assert.equal(miInt(r, 'h'), 16);
    assert.equal(miInt(r, 'neg'), -3);
    assert.equal(miInt(r, 'big'), undefined);
    assert.equal(miInt(r, 's'), undefined);
  });

  it('accept undefined and non-tuples as the container', () => {
    assert.equal(miString(undefined, 's'), undefined);
    assert.equal(miString('str', 'length'), undefined);
    assert.equal(miList(['a'], '0'), undefined);
    assert.equal(miString(r, 'constructor'), undefined);
    assert.equal(miTuple(r, '__proto__'), undefined);
    assert.ok(isMiTuple(r));
    assert.ok(!isMiTuple([]));
  });
});

describe('mi/exec: the execution commands', () => {
  it('puts --thread before --reverse, and picks the instruction variants', () => {
    assert.equal(exec.continue(), '-exec-continue');
    assert.equal(exec.continue({ reverse: true }), '-exec-continue --reverse');
    assert.equal(exec.step({ thread: 2 }), '-exec-step --thread 2');
    assert.equal(exec.step({ thread: 1, reverse: true, instruction: true }), '-exec-step-instruction --thread 1 --reverse');
    assert.equal(exec.next({ thread: 1, instruction: true }), '-exec-next-instruction --thread 1');
    assert.equal(exec.next({ thread: 3, reverse: true }), '-exec-next --thread 3 --reverse');
    assert.equal(exec.finish({ thread: 1, reverse: true }), '-exec-finish --thread 1 --reverse');
    assert.equal(threadSelect(4), '-thread-select 4');
  });
});
