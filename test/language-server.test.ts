/**
 * The language server over stdio with a client that is not VS Code (test/support/lsp-client.ts),
 * set up as in nvim: a `rewind bridge`, a debug session attached to it over DAP, and the server's
 * settings naming that bridge and the recording, so that it follows the session's position.
 * Against the real engine and gdb, on an indexed demo recording of the overflow bug:
 * - the lens above config_set_name shows the count that DAP's rewind/hits gives;
 * - the lenses of shell_input (called once per typed character) go to its first, previous, next
 *   and last calls, previous and next relative to the debug session's position; when the session
 *   moves (as a client carries out a lens's `rewind.goto`), the server asks for a refresh and the
 *   lenses follow;
 * - per-line counts equal rewind/hitCounts; the lines that never ran are the hint diagnostics;
 * - a hover on cfg.heartbeat_interval shows its value at the session's position, as the debugger
 *   evaluates it, and its corrupting write in config_set_name.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CodeLens } from 'vscode-languageserver-protocol';
import { startBridge, type RunningBridge } from '../recorder-bridge/src/bridge';
import { DEMO_KERNEL, recordIndexedOverflow, requireDemoKernel, ROOT, tempDir } from './helpers';
import { RewindDapClient } from './support/dap-client';
import { symbolAddress } from './support/elf';
import { LspClient } from './support/lsp-client';
import { assertNoLeftovers } from './support/procs';

const CONFIG_C = join(ROOT, 'guests', 'demo', 'config.c');
const SHELL_C = join(ROOT, 'guests', 'demo', 'shell.c');

function lineOf(file: string, text: string): number {
  const i = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} not found in ${file}`);
  return i + 1;
}

/** The lenses of the function whose definition is on `line` (1-based). */
function lensesAt(lenses: CodeLens[], line: number): CodeLens[] {
  return lenses.filter((l) => l.range.start.line === line - 1);
}

/** The time point a resolved navigation lens goes to, or undefined when it has no command. */
function target(lens: CodeLens): number | undefined {
  if (!lens.command || lens.command.command === '') return undefined;
  assert.equal(lens.command.command, 'rewind.goto');
  return (lens.command.arguments![0] as { icount: number }).icount;
}

describe('language server (LSP over stdio, following a debug session on a bridge)', { timeout: 900_000 }, () => {
  const dir = tempDir(after, 'rewind-lsp-');
  let bridge: RunningBridge | undefined;
  let dap: RewindDapClient | undefined;
  let lsp: LspClient | undefined;
  let configUri = '';
  let shellUri = '';

  before(async () => {
    requireDemoKernel();
    await recordIndexedOverflow(dir);
    const socket = join(dir, 'bridge.sock');
    bridge = await startBridge({ root: dir, socket, log: join(dir, 'bridge.log') });
    dap = new RewindDapClient();
    await dap.start();
    await dap.launchOrAttach('attach', { bridge: `unix:${socket}`, recording: 'overflow.rewind' });
    lsp = new LspClient();
    const init = await lsp.start({ rewind: { bridge: `unix:${socket}`, recording: 'overflow.rewind' } });
    assert.deepEqual(init.capabilities.codeLensProvider, { resolveProvider: true });
    configUri = await lsp.open(CONFIG_C);
    shellUri = await lsp.open(SHELL_C);
  });

  after(async () => {
    await lsp?.stop().catch(() => undefined);
    await dap?.stop().catch(() => undefined);
    await bridge?.close();
    await assertNoLeftovers(dir);
  });

  it('shows above config_set_name how often it ran, as rewind/hits counts it', async () => {
    const line = lineOf(CONFIG_C, 'void config_set_name(const char *name)');
    const [count, ...nav] = lensesAt(await lsp!.codeLens(configUri), line);
    const calls = await dap!.custom('rewind/hits', { function: 'config_set_name' });
    assert.ok(calls.hits.length >= 1);
    assert.equal(count?.command?.title, `ran ${calls.hits.length}× in this recording`, lsp!.log.join('\n'));
    assert.deepEqual(calls.addresses, [`0x${symbolAddress(DEMO_KERNEL, 'config_set_name').toString(16)}`]);
    assert.deepEqual(nav.map((l) => (l.data as { which: string }).which), ['first', 'previous', 'next', 'last']);
  });

  it('goes to the first, previous, next and last call, and follows the session when it moves', async () => {
    const line = lineOf(SHELL_C, 'void shell_input(char c)');
    const { hits } = await dap!.custom('rewind/hits', { function: 'shell_input' });
    const times = hits.map((h) => h.icount).sort((a, b) => a - b);
    assert.ok(times.length >= 10, `shell_input ran once per typed character: ${times.length}`);
    const resolved = async () => {
      const [count, ...nav] = lensesAt(await lsp!.codeLens(shellUri), line);
      assert.equal(count?.command?.title, `ran ${times.length}× in this recording`);
      const out: Record<string, number | undefined> = {};
      for (const lens of nav) out[(lens.data as { which: string }).which] = target(await lsp!.resolve(lens));
      return out;
    };

    // The session stands at the end of the recording after attach.
    const end = (await dap!.position()).icount;
    assert.ok(end > times.at(-1)!);
    assert.deepEqual(await resolved(), { first: times[0], previous: times.at(-1), next: undefined, last: times.at(-1) });
    // Asked again at the same position (a refresh), the lenses come resolved: a pick never finds them without a command.
    const again = lensesAt(await lsp!.codeLens(shellUri), line).slice(1);
    assert.deepEqual(
      again.map((l) => [(l.data as { which: string }).which, l.command?.title, target(l)]),
      [['first', '⏮ first', times[0]], ['previous', '◀ previous', times.at(-1)], ['next', 'no later call', undefined], ['last', 'last ⏭', times.at(-1)]],
    );

    // Carry out the "previous" lens's rewind.goto as a client does (nvim: a mapping that seeks the DAP session).
    const k = Math.floor(times.length / 2);
    const refreshed = lsp!.nextCodeLensRefresh();
    await dap!.run(() => dap!.custom('rewind/seek', { icount: times[k]! }));
    await refreshed;
    assert.deepEqual(await resolved(), { first: times[0], previous: times[k - 1], next: times[k + 1], last: times.at(-1) });
  });

  it('counts each line as rewind/hitCounts does, and fades the lines that never ran', async () => {
    const lines = readFileSync(CONFIG_C, 'utf8').split('\n').length;
    const hints = (await lsp!.inlayHints(configUri, lines)) ?? [];
    assert.ok(hints.length > 5, `hints: ${hints.length}`);
    const byLine = new Map(hints.map((h) => [h.position.line + 1, Number(String(h.label).replace(/[×,]/g, ''))]));
    const { counts } = await dap!.custom('rewind/hitCounts', { source: { path: CONFIG_C }, lines: [...byLine.keys()] });
    for (const c of counts) assert.equal(byLine.get(c.line!), c.count, `line ${c.line}`);
    const copy = lineOf(CONFIG_C, 'cfg.machine_name[i] = name[i];');
    assert.ok(byLine.get(copy)! > 16, 'the copy loop ran once per character of the long name');
    const never = [...byLine].filter(([, n]) => n === 0).map(([l]) => l);
    assert.ok(never.length > 0, 'some lines of config.c never ran (the clearing loop after a long name, the panic)');
    const diagnostics = await lsp!.diagnosticsOf(configUri, (d) => d.length > 0);
    assert.deepEqual(diagnostics.map((d) => d.range.start.line + 1).sort((a, b) => a - b), never.sort((a, b) => a - b));
    assert.ok(diagnostics.every((d) => d.tags?.includes(1) && d.severity === 4), 'hints tagged unnecessary');
  });

  it('hovers a field with its value now and its writes, the corrupting one in config_set_name', async () => {
    const line = lineOf(CONFIG_C, 'uint32_t interval = cfg.heartbeat_interval;');
    const col = readFileSync(CONFIG_C, 'utf8').split('\n')[line - 1]!.indexOf('heartbeat_interval') + 3;
    // At the end of the recording: the value the panic printed.
    const end = (await dap!.position()).end;
    await dap!.run(() => dap!.custom('rewind/seek', { icount: end }));
    const expected = await dap!.evaluate('cfg.heartbeat_interval');
    const hover = await lsp!.hover(configUri, line - 1, col);
    assert.ok(hover, lsp!.log.join('\n'));
    const text = (hover.contents as { value: string }).value;
    assert.match(text, /^\*\*cfg\.heartbeat_interval\*\* = `(\d+)`/);
    assert.equal(text.match(/= `(\d+)`/)![1], expected);
    assert.match(text, /in config_set_name \(config\.c:\d+\)/);
    assert.match(text, /\(command:rewind\.goto\?/);
  });
});
