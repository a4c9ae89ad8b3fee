/**
 * The language server on the Linux fixture (Debian's cloud kernel, its vmlinux for symbols), with
 * a kernel source file from Debian's linux-source package of the same version: the lenses above
 * kernel/sys.c's functions count what DAP's rewind/hits finds, for functions that ran and one that
 * never did (counted by the recording's index); the per-line counts and faded lines of the file are consistent with the lenses.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CodeLens } from 'vscode-languageserver-protocol';
import { startBridge, type RunningBridge } from '../recorder-bridge/src/bridge';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { buildIndex } from '../recorder-bridge/src/index/index-pass';
import { tempDir } from './helpers';
import { linuxFixtureOrSkip, type LinuxFixture } from './linux-fixture';
import { linuxSourceFile } from './linux-source';
import { RewindDapClient } from './support/dap-client';
import { LspClient } from './support/lsp-client';
import { assertNoLeftovers } from './support/procs';

describe('language server on a Linux recording', { timeout: 1_500_000 }, () => {
  const dir = tempDir(after, 'rewind-lsp-linux-');
  let fixture: LinuxFixture | undefined;
  let skip: string | undefined;
  let bridge: RunningBridge | undefined;
  const dap = new RewindDapClient({ timeoutMs: 300_000 });
  const lsp = new LspClient();
  let sysC = '';
  let uri = '';
  let madeIndex: string | undefined;

  before(async () => {
    ({ fixture, skip } = await linuxFixtureOrSkip());
    if (skip || !fixture) return;
    sysC = await linuxSourceFile(fixture, 'kernel/sys.c');
    // Counts come from the index (built beside the cached fixture, additive; removed after, as
    // test/index-queries-linux.test.ts does): without it, counting a file's lines replays the boot.
    if (!existsSync(join(fixture.bundle, 'index'))) madeIndex = join(fixture.bundle, 'index');
    await buildIndex(await Bundle.open(fixture.bundle));
    const socket = join(dir, 'bridge.sock');
    bridge = await startBridge({ root: dirname(fixture.bundle), socket, log: join(dir, 'bridge.log') });
    const target = { bridge: `unix:${socket}`, recording: basename(fixture.bundle), symbols: [fixture.vmlinux] };
    await dap.start();
    await dap.launchOrAttach('attach', target);
    await lsp.start({ rewind: target });
    uri = await lsp.open(sysC);
  });

  after(async () => {
    await lsp.stop().catch(() => undefined);
    await dap.stop().catch(() => undefined);
    await bridge?.close();
    if (madeIndex) await fs.rm(madeIndex, { recursive: true, force: true });
    if (fixture) await assertNoLeftovers(fixture.bundle, 20_000);
  });

  it('counts kernel/sys.c\'s functions as rewind/hits finds them', async (t) => {
    if (skip) return t.skip(skip);
    const started = Date.now();
    const lenses = await lsp.codeLens(uri);
    t.diagnostic(`codeLens of kernel/sys.c: ${lenses.length} lenses in ${Date.now() - started} ms (first request: gdb reads the file's lines)`);
    // The count lens of each function, by the function's name (its navigation lenses carry the name).
    const byLine = new Map<number, CodeLens[]>();
    for (const l of lenses) byLine.set(l.range.start.line, [...(byLine.get(l.range.start.line) ?? []), l]);
    const counted: Array<{ name: string; addresses: string[]; count: number }> = [];
    const never: number[] = [];
    for (const group of byLine.values()) {
      const m = /^ran ([\d,]+)× in this recording$/.exec(group[0]!.command?.title ?? '');
      const data = group[1]?.data as { function: string; addresses: string[] } | undefined;
      if (m && data) counted.push({ name: data.function, addresses: data.addresses, count: Number(m[1]!.replace(/,/g, '')) });
      else if (group[0]!.command?.title === 'never ran in this recording') never.push(group[0]!.range.start.line + 1);
    }
    assert.ok(counted.length >= 3, `functions of kernel/sys.c that ran: ${JSON.stringify(counted)}\n${lsp.log.join('\n')}`);
    assert.ok(never.length > 0, 'some functions of kernel/sys.c never ran in a short boot');
    // The rarest ones (rewind/hits replays where they ran, so a busy one would take long).
    const checked = counted.sort((a, b) => a.count - b.count).slice(0, 3);
    for (const f of checked) {
      // `break NAME` (rewind/hits by function) where the name is the file's own; else its addresses one by one.
      const byName = await dap.custom('rewind/hits', { function: f.name });
      const same = JSON.stringify([...byName.addresses].sort()) === JSON.stringify([...f.addresses].sort());
      let found = byName.hits.length;
      if (!same) {
        found = 0;
        for (const address of f.addresses) found += (await dap.custom('rewind/hits', { address })).hits.length;
      }
      assert.equal(f.count, found, `${f.name} (${same ? 'by name' : `by its addresses ${f.addresses.join(' ')}`}): the lens says ${f.count}, rewind/hits finds ${found}`);
    }
    t.diagnostic(`checked against rewind/hits: ${checked.map((f) => `${f.name} ${f.count}`).join(', ')}`);
  });

  it('shows per-line counts and fades the lines that never ran, consistently with the lenses', async (t) => {
    if (skip) return t.skip(skip);
    const hints = (await lsp.inlayHints(uri, 3000)) ?? [];
    assert.ok(hints.length > 100, `hints: ${hints.length}`);
    const zero = hints.filter((h) => h.label === '0×').map((h) => h.position.line).sort((a, b) => a - b);
    const faded = (await lsp.diagnosticsOf(uri, (d) => d.length > 0)).map((d) => d.range.start.line).sort((a, b) => a - b);
    assert.deepEqual(faded, zero);
    assert.ok(hints.some((h) => h.label !== '0×'), 'some lines ran');
  });
});
