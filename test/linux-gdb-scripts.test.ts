/**
 * The kernel's own gdb helpers over DAP (issue 14), on the module fixture (test/linux-module-fixture.ts,
 * KASLR on) with the scripts of its kernel (test/linux-gdb-scripts.ts) sourced by "setupCommands":
 * in the Debug Console, `-exec lx-lsmod` lists our module only once the guest loaded it, at the
 * address the guest printed, and `-exec lx-ps` lists the same tasks as the adapter's own
 * rewind/tasks, at two time points; `-exec lx-dmesg` prints the log rewind/dmesg reads. And what
 * `lx-symbols` does to a Rewind session (it replaces the symbols itself: see docs/linux-gdb-scripts.md).
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { linuxGdbScriptsOrSkip, type LinuxGdbScripts } from './linux-gdb-scripts';
import { MODULE_MARKER, MODULE_NAME, type LinuxModuleFixture } from './linux-module-fixture';
import { useLinuxSession } from './linux-session';

/** One line of lx-lsmod: "ADDRESS NAME SIZE USED-BY [USERS]". */
interface LsmodLine {
  address: bigint;
  name: string;
  size: number;
}

/** lx-lsmod's table; its header line must be there (the command ran). */
function parseLsmod(text: string): LsmodLine[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  assert.match(lines[0] ?? '', /^Address\s+Module\s+Size\s+Used by$/, `lx-lsmod printed:\n${text}`);
  return lines.slice(1).map((l) => {
    const m = /^(0x[0-9a-f]+)\s+(\S+)\s+(\d+)\s+-?\d+/.exec(l);
    assert.ok(m, `an lx-lsmod line: ${l}`);
    return { address: BigInt(m[1]!), name: m[2]!, size: Number(m[3]) };
  });
}

/** lx-ps's table as "TASK-ADDRESS PID COMM" keys (the address as a number, so that the spelling does not matter). */
function parsePs(text: string): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  assert.match(lines[0] ?? '', /^\s*TASK\s+PID\s+COMM$/, `lx-ps printed:\n${text}`);
  return lines.slice(1).map((l) => {
    const m = /^(0x[0-9a-f]+)\s+(\d+)\s+(.*)$/.exec(l);
    assert.ok(m, `an lx-ps line: ${l}`);
    return taskKey(m[1]!, Number(m[2]), m[3]!.trimEnd());
  });
}

function taskKey(address: string, pid: number, comm: string): string {
  return `0x${BigInt(address.startsWith('0x') ? address : `0x${address}`).toString(16)} ${pid} ${comm}`;
}

describe('the kernel\'s gdb scripts (lx-ps, lx-lsmod) over DAP', { timeout: 1_200_000 }, () => {
  // The module fixture, with its kernel's scripts beside it.
  const session = useLinuxSession(async () => {
    const r = await linuxGdbScriptsOrSkip();
    return r.fixture ? { fixture: Object.assign(r.fixture.module, { gdbScripts: r.fixture.scripts }) } : { skip: r.skip ?? 'no fixture' };
  });
  const c = session.c;
  let fixture: LinuxModuleFixture | undefined;
  let scripts: LinuxGdbScripts | undefined;
  let skip: string | undefined;
  let go = 0;

  before(async () => {
    skip = session.skip();
    if (skip) return;
    fixture = session.fixture();
    scripts = session.fixture().gdbScripts;
    for (const line of await (await Bundle.open(fixture.bundle)).consoleLines()) {
      if (line.text === `${MODULE_MARKER}: got go`) go = line.icount ?? 0;
    }
  });

  /** A gdb command in the Debug Console; its output. */
  const exec = async (command: string): Promise<string> => {
    const frame = (await c.stack())[0];
    return (await c.dc.evaluateRequest({ expression: `-exec ${command}`, context: 'repl', ...(frame ? { frameId: frame.id } : {}) })).body.result;
  };
  const seek = (icount: number) => c.run(() => c.custom('rewind/seek', { icount }));
  /** lx-ps against rewind/tasks at the current time point: the same tasks, at the same addresses. */
  const sameTasks = async (t: { diagnostic(s: string): void }, when: string): Promise<string[]> => {
    const ps = parsePs(await exec('lx-ps'));
    const r = await c.custom('rewind/tasks', {});
    assert.equal(r.truncated, false);
    const ours = r.tasks.map((x) => taskKey(x.task, x.pid, x.comm));
    t.diagnostic(`${when}: lx-ps lists ${ps.length} tasks, rewind/tasks ${ours.length}`);
    assert.equal(new Set(ps).size, ps.length, `each task once in lx-ps:\n${ps.join('\n')}`);
    assert.deepEqual([...ps].sort(), [...ours].sort());
    assert.ok(ps.some((k) => / 0 swapper\/0$/.test(k)) && ps.some((k) => / 1 \S+$/.test(k)) && ps.some((k) => / 2 kthreadd$/.test(k)), `idle task, init and kthreadd:\n${ps.join('\n')}`);
    return ps;
  };

  it('sources vmlinux-gdb.py at launch; lx-lsmod and lx-ps agree with the guest and with Rewind before and after the module is loaded', async (t) => {
    if (skip) return t.skip(skip);
    const f = fixture!;
    const load1 = f.module.loads[0]!;
    assert.ok(go > 0 && go < load1.icount, JSON.stringify({ go, load1 }));
    const first = await c.launch({ recording: f.bundle, symbols: [f.vmlinux], moduleFolders: [dirname(f.module.ko)], startAt: go, setupCommands: [`source ${scripts!.loader}`] });
    assert.equal(first.position.icount, go);
    const shown = c.output.join('');
    assert.ok(shown.includes(`(gdb) source ${scripts!.loader}`), `the set-up command is echoed in the Debug Console:\n${shown}`);
    assert.doesNotMatch(shown, /Python Exception|Reduced debug information/);

    // Before the first load: not listed.
    const before = parseLsmod(await exec('lx-lsmod'));
    t.diagnostic(`at "got go" (${go}): lx-lsmod lists ${before.map((m) => m.name).join(', ') || 'nothing'}`);
    assert.ok(!before.some((m) => m.name === MODULE_NAME), `${MODULE_NAME} is not loaded yet`);
    const psBefore = await sameTasks(t, 'at "got go"');

    // Load 1: listed at the .text address the guest printed from /sys/module/rewind_demo/sections
    // (lx-lsmod prints core_layout.base, where module_alloc put the module: its .text comes first).
    await seek(load1.icount);
    const loaded = parseLsmod(await exec('lx-lsmod'));
    t.diagnostic(`at load 1 (${load1.icount}): lx-lsmod lists ${loaded.map((m) => `${m.name}@0x${m.address.toString(16)}`).join(', ')}`);
    const ours = loaded.filter((m) => m.name === MODULE_NAME);
    assert.equal(ours.length, 1, `${MODULE_NAME} once: ${JSON.stringify(loaded.map((m) => m.name))}`);
    assert.equal(`0x${ours[0]!.address.toString(16)}`, load1.sections['.text']);
    assert.ok(ours[0]!.size > 0 && BigInt(load1.sections['.data']!) < ours[0]!.address + BigInt(ours[0]!.size), `the module's core (size ${ours[0]!.size}) holds its .data at ${load1.sections['.data']}`);
    // The adapter's own module list agrees.
    const dapModules = (await c.dc.send('modules', {})).body.modules as Array<{ name: string; id: string }>;
    assert.ok(dapModules.some((m) => m.id === `${MODULE_NAME}@${load1.sections['.text']}`), JSON.stringify(dapModules.map((m) => m.id)));
    const psLoaded = await sameTasks(t, 'at load 1');
    t.diagnostic(`tasks that came: ${psLoaded.filter((k) => !psBefore.includes(k)).join('; ') || 'none'}; went: ${psBefore.filter((k) => !psLoaded.includes(k)).join('; ') || 'none'}`);
  });

  it('lx-dmesg prints the kernel log that rewind/dmesg reads, the module\'s own line included', async (t) => {
    if (skip) return t.skip(skip);
    const f = fixture!;
    const text = await exec('lx-dmesg');
    const lines = text.split('\n').filter((l) => l !== '');
    const bodies = lines.map((l) => /^\[\s*\d+\.\d{6}\] (.*)$/.exec(l)?.[1] ?? `(unparsed) ${l}`);
    const r = await c.custom('rewind/dmesg', {});
    const ours = r.lines.flatMap((l) => l.text.split('\n'));
    t.diagnostic(`lx-dmesg: ${lines.length} lines, rewind/dmesg: ${ours.length}`);
    assert.deepEqual(bodies, ours);
    assert.ok(bodies.some((b) => b.includes(`${MODULE_NAME}: loaded, buffer at ${f.module.loads[0]!.buffer}`)), 'the module\'s init line');
  });

  // lx-symbols starts with a bare `symbol-file` (every symbol dropped), then loads a file named
  // "vmlinux" without the KASLR offset: before the adapter refused it, it left this session with
  // "No symbol table is loaded" (debug-adapter/src/symbol-commands.ts).
  it('refuses lx-symbols and symbol-file, which would replace the symbols Rewind loads, and keeps them', async (t) => {
    if (skip) return t.skip(skip);
    const f = fixture!;
    assert.ok(BigInt(f.kaslrOffset) > 0n, 'KASLR is on in this recording');
    const banner = await c.evaluate('&linux_banner');
    for (const command of [`lx-symbols ${dirname(f.module.ko)}`, 'symbol-file']) {
      const result = await exec(command).then(
        (out) => `ran: ${out}`,
        (e: Error) => e.message,
      );
      assert.match(result, /^Refused: the gdb command "(lx-symbols|symbol-file)" would replace the session's symbols.*"moduleFolders"/, command);
    }
    assert.equal(await c.evaluate('&linux_banner'), banner, 'the kernel\'s symbols are where they were');
  });
});
