/**
 * The demo's time-travel story: a scripted DAP session (the real adapter, `node dist/dap.js`,
 * driven by the tests' DAP client, test/support/dap-client.ts, as a DAP client such as VS Code
 * drives it) that finds both bugs of the demo guest (guests/demo/README.md) by going backward from the
 * panic, and tells what it sees step by step: time points, source lines, values.
 *
 *   node out/scripts/demo-story.js --overflow OVERFLOW.rewind --race RACE.rewind
 *
 * Every step checks what it finds; if the story does not unfold as expected it stops with a
 * message and exits 1, so the demo never claims what did not happen. The adapter (and with it
 * gdb and the replay processes) is always shut down, also on errors and Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindLastWriteResponse, RewindPosition } from '@rewind/protocol';
import { RewindDapClient, type Stop } from '../test/support/dap-client';

const ROOT = join(__dirname, '..', '..');
const DEMO_SRC = join(ROOT, 'guests', 'demo');

// ---- output --------------------------------------------------------------------------------------

const tty = process.stdout.isTTY === true;
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const cyan = paint('36');
const yellow = paint('33');
const green = paint('32');
const say = (s = '') => process.stdout.write(s + '\n');

class StoryError extends Error {}

/** The story's own check: a step that does not find what it should ends the demo with an error. */
function expect(ok: boolean, what: string, found: string): asserts ok {
  if (!ok) throw new StoryError(`expected ${what}, found ${found}`);
}

const n = (x: number) => x.toLocaleString('en-US');

function when(p: RewindPosition): string {
  return cyan(`icount ${n(p.icount)}`) + dim(` (${p.percent.toFixed(2)}% of the recording)`);
}

const sourceCache = new Map<string, string[]>();
/** The text of a source line: from the path in the debug information, else from guests/demo. */
function sourceText(path: string | undefined, line: number): string {
  if (!path || line < 1) return '';
  for (const p of [path, join(DEMO_SRC, basename(path))]) {
    let lines = sourceCache.get(p);
    if (!lines) {
      try {
        lines = readFileSync(p, 'utf8').split('\n');
      } catch {
        continue;
      }
      sourceCache.set(p, lines);
    }
    return (lines[line - 1] ?? '').trim().replace(/\s*\/\*.*\*\/\s*$/, '');
  }
  return '';
}

/** The line of a demo source file that contains `text` (so the story hard-codes no line numbers). */
function lineOf(file: string, text: string): number {
  const code = (l: string) => !/^\s*(\/\*|\*|\/\/)/.test(l);
  const i = readFileSync(join(DEMO_SRC, file), 'utf8').split('\n').findIndex((l) => code(l) && l.includes(text));
  if (i < 0) throw new StoryError(`"${text}" not found in guests/demo/${file}`);
  return i + 1;
}

const where = (f: DebugProtocol.StackFrame) => `${f.source?.name ?? '?'}:${f.line}`;

function frameLine(f: DebugProtocol.StackFrame, i: number, width: number): string {
  if (!f.source) return `     ${dim(`#${i}`)} ${dim(f.name)}`;
  return `     ${dim(`#${i}`)} ${f.name.padEnd(width)} ${where(f).padEnd(17)} ${dim(sourceText(f.source.path, f.line))}`;
}

function printStack(frames: DebugProtocol.StackFrame[], max = frames.length): void {
  const shown = frames.slice(0, max);
  const width = Math.max(...shown.map((f) => f.name.length));
  shown.forEach((f, i) => say(frameLine(f, i, width)));
}

/** A little-endian word as the characters it holds, when they are printable. */
function ascii(v: number, bytes: number): string | undefined {
  let s = '';
  for (let i = 0; i < bytes; i++) {
    const c = (v >>> (8 * i)) & 0xff;
    if (c < 0x20 || c > 0x7e) return undefined;
    s += String.fromCharCode(c);
  }
  return s;
}

const hex = (v: number) => '0x' + (v >>> 0).toString(16).padStart(8, '0');

/** Bytes in memory order (hex, as rewind/lastWrite gives them) as a little-endian 32-bit value. */
function le32(bytes: string | undefined): string {
  if (!bytes || bytes.length !== 8) return bytes ?? '?';
  return hex(Buffer.from(bytes, 'hex').readUInt32LE(0));
}

// ---- the DAP session -----------------------------------------------------------------------------

/** The shared DAP client, with what the story asks of it. */
class Session extends RewindDapClient {
  /** What the adapter wrote to the Debug Console's stderr: shown when the story fails. */
  readonly adapterErrors: string[] = [];

  /** Opens a recording as a user does (launch, the panic filter on) and returns the first stop. */
  async open(recording: string): Promise<Stop> {
    await this.start();
    this.dc.on('output', (e: DebugProtocol.OutputEvent) => {
      if (e.body.category === 'stderr') this.adapterErrors.push(e.body.output);
    });
    return this.launch({ recording });
  }

  async number(expression: string, frame = 0): Promise<number> {
    const v = await this.evaluate(expression, frame);
    const x = Number(v.split(' ')[0]);
    expect(Number.isFinite(x), `a number for ${expression}`, v);
    return x;
  }

  /** A write data breakpoint on an expression (the address it has now). */
  async watch(expression: string): Promise<string> {
    const frame = (await this.stack())[0]!;
    const info = (await this.dc.dataBreakpointInfoRequest({ name: expression, frameId: frame.id })).body;
    expect(info.dataId !== null && info.dataId !== undefined, `a data breakpoint for ${expression}`, info.description);
    const set = (await this.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId, accessType: 'write' }] })).body.breakpoints;
    expect(set[0]?.verified === true, `the data breakpoint on ${expression} to be set`, set[0]?.message ?? 'no answer');
    return info.description;
  }

  reverseContinue(): Promise<Stop> {
    return this.run(() => this.dc.send('reverseContinue', { threadId: 1 }));
  }

  stepBack(): Promise<Stop> {
    return this.run(() => this.dc.stepBackRequest({ threadId: 1 }));
  }
}

const sessions = new Set<Session>();

async function withSession<T>(recording: string, body: (s: Session, first: Stop) => Promise<T>): Promise<T> {
  const s = new Session();
  sessions.add(s);
  try {
    return await body(s, await s.open(recording));
  } catch (e) {
    if (s.adapterErrors.length > 0) process.stderr.write(`\nthe debug adapter reported:\n${s.adapterErrors.join('')}`);
    throw e;
  } finally {
    await s.stop();
    sessions.delete(s);
  }
}

function step(k: number, text: string): void {
  say();
  say(`  ${bold(`${k}.`)} ${bold(text)}`);
}

// ---- bug (a) -------------------------------------------------------------------------------------

async function bugA(recording: string): Promise<void> {
  const copyLine = lineOf('config.c', 'cfg.machine_name[i] = name[i];');
  await withSession(recording, async (s, first) => {
    say(bold(`━━ Bug (a): the console's "name" command and a heartbeat that panics`) + dim(`   ${basename(recording)}, ${n(first.position.end)} instructions`));

    step(1, 'Open the recording: it runs to the panic and stops there (the "Kernel panic" exception filter)');
    expect(first.reason === 'exception', 'a stop on the kernel panic', `${first.reason} ${first.description ?? ''}`);
    expect(first.stack[0]?.name === 'panic' && first.stack[1]?.name === 'heartbeat_poll', 'panic() called by heartbeat_poll()', first.stack.map((f) => f.name).join(' < '));
    say(`     ${when(first.position)}  ${first.description ?? ''}`);
    printStack(first.stack);
    const corrupted = await s.number('cfg.heartbeat_interval');
    expect(corrupted === 0x32342d6b, 'cfg.heartbeat_interval = 0x32342d6b', hex(corrupted));
    say(`     cfg.heartbeat_interval = ${yellow(hex(corrupted))}: that is "${yellow(ascii(corrupted, 4) ?? '?')}" in ASCII, characters of a name, not a number of ticks`);

    step(2, 'Data breakpoint on cfg.heartbeat_interval, then Reverse Continue: back to the write');
    const what = await s.watch('cfg.heartbeat_interval');
    const w = await s.reverseContinue();
    const top = w.stack[0];
    expect(w.reason === 'data breakpoint', 'a stop on the data breakpoint', `${w.reason} ${w.description ?? ''}`);
    expect(top?.name === 'config_set_name' && where(top) === `config.c:${copyLine}`, `config_set_name at config.c:${copyLine}`, top ? `${top.name} ${where(top)}` : 'no frame');
    const caller = w.stack[1];
    expect(caller?.name === 'cmd_name' && caller.source?.name === 'shell.c', 'the call from cmd_name in shell.c', caller ? `${caller.name} ${where(caller)}` : 'no caller');
    const i = await s.number('i');
    const len = await s.number('len');
    expect(i === 19 && len === 30, 'i = 19 and len = 30', `i = ${i}, len = ${len}`);
    const before = await s.number('cfg.heartbeat_interval');
    say(dim(`     (watching ${what})`));
    say(`     ${when(w.position)}, ${n(first.position.icount - w.position.icount)} instructions before the panic`);
    say(`     ${top.name} ${where(top)}   ${sourceText(top.source?.path, top.line)}     ${yellow(`i = ${i}, len = ${len}`)}`);
    say(`     called from ${caller.name} ${where(caller)}   ${sourceText(caller.source?.path, caller.line)}     ${yellow(`name = ${await s.evaluate('name')}`)}`);
    say(`     cfg.heartbeat_interval is still ${yellow(hex(before))} ("${ascii(before, 3) ?? '?'}"): this store copies name[${i}] = '${String.fromCharCode(corrupted >>> 24)}' into its top byte.`);
    say(`     cfg.machine_name has 16 bytes; the loop copies all ${len}: bytes 16-19 land in heartbeat_interval.`);

    step(3, 'Step Back, three times: the loop, one line at a time');
    const seen: Array<{ line: number; i: number }> = [];
    for (let k = 0; k < 3; k++) {
      const b = await s.stepBack();
      const f = b.stack[0]!;
      expect(b.reason === 'step' && f.name === 'config_set_name', 'a step back inside config_set_name', `${b.reason} in ${f.name} ${where(f)}`);
      const iv = await s.number('i');
      seen.push({ line: f.line, i: iv });
      say(`     ${when(b.position)}  ${where(f)}  ${sourceText(f.source?.path, f.line).padEnd(34)} ${yellow(`i = ${iv}`)}`);
    }
    const last = seen[seen.length - 1]!;
    expect(last.line === copyLine && last.i === i - 1, `to be back on config.c:${copyLine} one character earlier (i = ${i - 1})`, `config.c:${last.line} with i = ${last.i}`);
    say(`     Backward, i counts down: the copy of name[${i - 1}] ran just before, each iteration one store further into cfg.`);

    step(4, 'The whole recording at once: the last write, and every run of the copy line');
    const back = await s.run(() => s.custom('rewind/seek', { icount: first.position.icount }));
    expect(back.stack[0]?.name === 'panic', 'to be back at the panic', back.stack[0]?.name ?? 'no frame');
    say(`     rewind/seek back to the panic, ${when(back.position)}; from there one request, rewind/lastWrite cfg.heartbeat_interval (with seek):`);
    let lw: RewindLastWriteResponse | undefined;
    const lws = await s.run(async () => {
      lw = await s.custom('rewind/lastWrite', { expression: 'cfg.heartbeat_interval', seek: true });
    });
    const lf = lws.stack[0];
    expect(lw?.found === true && lws.position.icount === w.position.icount && lf?.name === 'config_set_name' && where(lf) === `config.c:${copyLine}`, `the last write at icount ${n(w.position.icount)} in config_set_name config.c:${copyLine}`, `${JSON.stringify(lw)} at ${lws.position.icount} in ${lf ? `${lf.name} ${where(lf)}` : '?'}`);
    say(`     ${when(lws.position)}  ${lf.name} ${where(lf)}: the same store, found by scanning the recording backward; cfg.heartbeat_interval ${yellow(`${le32(lw!.before)} → ${le32(lw!.after)}`)}`);
    const hits = await s.custom('rewind/hits', { source: { path: top.source!.path! }, line: copyLine });
    expect(hits.hits.length === 30, `30 runs of config.c:${copyLine} (one per character of the name)`, `${hits.hits.length}`);
    const k = hits.hits.findIndex((h, j) => h.icount <= w.position.icount && (hits.hits[j + 1]?.icount ?? Infinity) > w.position.icount);
    expect(k === i, `the write found above in run #${i + 1} of the line`, `run #${k + 1}`);
    const first16 = hits.hits[16]!;
    say(`     rewind/hits config.c:${copyLine}: ${bold(String(hits.hits.length))} runs, from ${cyan(`icount ${n(hits.hits[0]!.icount)}`)} to ${cyan(`icount ${n(hits.hits[29]!.icount)}`)}, one per character of the name;`);
    say(`     runs #17-#20 (i = 16..19, from ${cyan(`icount ${n(first16.icount)}`)}) write past machine_name[16] into heartbeat_interval; the one found above is #${k + 1}.`);
  });
}

// ---- bug (b) -------------------------------------------------------------------------------------

async function bugB(recording: string): Promise<void> {
  const storeLine = lineOf('work.c', 'pending_ticks = p - handled;');
  const readLine = lineOf('work.c', 'uint32_t p = pending_ticks;');
  const windowLine = lineOf('work.c', 'work_hash = crunch(work_hash, p, WORK_WINDOW_ITERS);');
  const tickLine = lineOf('work.c', 'pending_ticks++;');
  await withSession(recording, async (s, first) => {
    say();
    say(bold('━━ Bug (b): "work 2000" and a timer tick that goes missing') + dim(`   ${basename(recording)}, ${n(first.position.end)} instructions`));

    step(1, 'Open the recording: the kernel panics in check_tick_invariant()');
    expect(first.reason === 'exception', 'a stop on the kernel panic', `${first.reason} ${first.description ?? ''}`);
    expect(first.stack[1]?.name === 'check_tick_invariant', 'panic() called by check_tick_invariant()', first.stack.map((f) => f.name).join(' < '));
    say(`     ${when(first.position)}  ${first.description ?? ''}`);
    printStack(first.stack, 4);
    const isr = await s.number('isr_ticks');
    const handled = await s.number('ticks_handled');
    const pending = await s.number('pending_ticks');
    expect(isr !== handled + pending, 'isr_ticks != ticks_handled + pending_ticks', `isr_ticks = ${isr}, ticks_handled = ${handled}, pending_ticks = ${pending}`);
    say(`     ${yellow(`isr_ticks = ${isr}, ticks_handled = ${handled}, pending_ticks = ${pending}`)}: the timer ISR posted ${isr} ticks, but handled + pending = ${handled + pending}.`);

    step(2, 'Data breakpoint on pending_ticks, then Reverse Continue: the last store');
    await s.watch('pending_ticks');
    const st = await s.reverseContinue();
    const f = st.stack[0];
    expect(st.reason === 'data breakpoint' && f?.name === 'work_unit' && where(f) === `work.c:${storeLine}`, `the store in work_unit at work.c:${storeLine}`, f ? `${st.reason} in ${f.name} ${where(f)}` : st.reason);
    // The adapter's stop says what the store does; p itself is optimized out (-O1) at this point.
    const change = /before the write (\S+), after it (\S+)/.exec(st.description ?? '');
    expect(change !== null, 'the stop to tell the old and new value', st.description ?? 'no description');
    const [was, will] = [Number(change[1]), Number(change[2])];
    const h = await s.number('handled');
    expect(will !== was - h, 'a store that does not match the current pending_ticks', `${was} → ${will} with handled = ${h}`);
    say(`     ${when(st.position)}, ${n(first.position.icount - st.position.icount)} instructions before the panic`);
    say(`     ${f.name} ${where(f)}   ${sourceText(f.source?.path, f.line)}     ${yellow(`handled = ${h}`)}`);
    say(`     pending_ticks is ${yellow(String(was))} now, and this store makes it ${yellow(String(will))}: p - handled with a p read earlier, which is stale.`);

    step(3, 'Reverse Continue again: who changed pending_ticks after work_unit read it?');
    const t = await s.reverseContinue();
    const tf = t.stack[0];
    expect(t.reason === 'data breakpoint' && tf?.name === 'work_timer_tick' && where(tf) === `work.c:${tickLine}`, `work_timer_tick at work.c:${tickLine}`, tf ? `${t.reason} in ${tf.name} ${where(tf)}` : t.reason);
    const crunch = t.stack.findIndex((x) => x.name === 'crunch');
    const unit = t.stack.findIndex((x) => x.name === 'work_unit');
    expect(crunch > 0 && unit > crunch && where(t.stack[unit]!) === `work.c:${windowLine}`, `the interrupt to have come inside crunch(), called from work.c:${windowLine}`, t.stack.map((x) => `${x.name} ${where(x)}`).join(' < '));
    const tick = /before the write (\S+), after it (\S+)/.exec(t.description ?? '');
    say(`     ${when(t.position)}, ${n(st.position.icount - t.position.icount)} instructions before the store: the timer ISR's increment${tick ? `, pending_ticks ${yellow(`${tick[1]} → ${tick[2]}`)}` : ''}`);
    printStack(t.stack, unit + 1);
    const readHits = await s.custom('rewind/hits', { source: { path: tf.source!.path! }, line: readLine, to: t.position.icount });
    const read = readHits.hits[readHits.hits.length - 1];
    expect(read !== undefined, `a run of work.c:${readLine} before the tick`, 'none');
    say(`     The timer interrupt came inside crunch(), which work_unit calls at work.c:${windowLine}: between the read of`);
    say(`     pending_ticks at work.c:${readLine} (${cyan(`icount ${n(read.icount)}`)}) and the store at work.c:${storeLine} (${cyan(`icount ${n(st.position.icount)}`)}).`);
  });
  say();
  say(bold('━━ What time travel showed'));
  say(`  ${green('(a)')} config_set_name() copies the whole name into the 16-byte cfg.machine_name; bytes 16-19 overwrite`);
  say(`      cfg.heartbeat_interval, and the next heartbeat panics. Fix: stop the copy at sizeof cfg.machine_name.`);
  say(`  ${green('(b)')} work_unit() reads pending_ticks (work.c:${readLine}) and stores p - handled (work.c:${storeLine}) with interrupts on;`);
  say(`      a timer tick in between is overwritten by the stale store. Fix: cli()/sti() around lines ${readLine}-${storeLine}, or an atomic update.`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { overflow: { type: 'string' }, race: { type: 'string' } } });
  if (!values.overflow && !values.race) throw new StoryError('usage: demo-story --overflow OVERFLOW.rewind --race RACE.rewind');
  if (values.overflow) await bugA(values.overflow);
  if (values.race) await bugB(values.race);
}

async function shutdown(code: number): Promise<never> {
  // Bounded: Ctrl-C must not wait long for an adapter that does not answer (its replay processes die with it).
  await Promise.race([Promise.all([...sessions].map((s) => s.stop().catch(() => undefined))), sleep(15_000)]);
  process.exit(code);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void shutdown(130));

main().then(
  () => shutdown(0),
  (e: unknown) => {
    const msg = e instanceof StoryError ? `the story did not unfold as expected: ${e.message}` : ((e as Error)?.stack ?? String(e));
    process.stderr.write(`\ndemo-story: ${msg}\n`);
    void shutdown(1);
  },
);
