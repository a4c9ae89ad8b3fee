/**
 * A kernel-event scan that fails is told, not only logged: on the Linux fixture, through a bridge
 * that allows one session (the user's), the background scan cannot open its own and fails. The
 * adapter then sends rewind/eventsChanged with `kernelScan: 'failed'` and the reason, rewind/events
 * says the same (the Events view shows it, with a click that scans again), and rewind/kernelEvents
 * scans again: in the user's own session, as a foreground scan does when the bridge is full, and
 * finds the panic.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startBridge, type RunningBridge } from '../recorder-bridge/src/bridge';
import { RewindDapClient } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';
import { linuxFixtureOrSkip } from './linux-fixture';

describe('a failed kernel-event scan (Linux fixture, a bridge with room for one session)', { timeout: 900_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rewind-scan-failure-'));
  let bridge: RunningBridge | undefined;
  let c: RewindDapClient | undefined;
  let bundle: string | undefined;
  after(async () => {
    await c?.stop().catch(() => undefined);
    await bridge?.close();
    rmSync(dir, { recursive: true, force: true });
    if (bundle) await assertNoLeftovers(bundle, 20_000);
  });

  it('is told with its reason, in the event and in rewind/events, and rewind/kernelEvents scans again', async (t) => {
    const { fixture, skip } = await linuxFixtureOrSkip();
    if (!fixture) return t.skip(skip);
    bundle = fixture.bundle;
    bridge = await startBridge({ root: dirname(fixture.bundle), socket: join(dir, 'bridge.sock'), log: join(dir, 'bridge.log'), maxSessions: 1 });
    c = new RewindDapClient({ timeoutMs: 300_000 });
    await c.start();
    await c.launchOrAttach('attach', { bridge: `unix:${join(dir, 'bridge.sock')}`, recording: basename(fixture.bundle), symbols: [fixture.vmlinux], stopOnEntry: true });

    const head = await c.custom('rewind/events', { limit: 0 });
    assert.equal(head.kernelScan, 'scanning', 'the first rewind/events starts the scan in the background');
    const failed = await c.kernelScanReaches('failed', 120_000);
    assert.equal(failed.length, 1, JSON.stringify(failed));
    const news = failed[0]!;
    assert.equal(news.reason, 'kernel-events');
    assert.equal(news.kernelScan, 'failed');
    assert.equal(news.error, 'too many open sessions (1); close one first');
    assert.equal(news.counts['serial-input'], head.counts['serial-input'], 'the recording\'s own events are still counted');
    assert.equal(news.counts['kernel-panic'], undefined);

    const now = await c.custom('rewind/events', { kinds: ['kernel-panic', 'serial-input'], limit: 10 });
    assert.equal(now.kernelScan, 'failed');
    assert.equal(now.kernelScanError, 'too many open sessions (1); close one first');
    assert.ok(now.events.length > 0 && now.events.every((e) => e.kind === 'serial-input'), JSON.stringify(now.events.slice(0, 3)));
    assert.ok(c.output.some((o) => o.includes('the scan for kernel panics, oopses and warnings stopped: too many open sessions')), 'logged to the Debug Console too');

    // "Scan again" (the Events view's click): a foreground scan, which uses the user's session when the bridge is full.
    const progress = c.events.filter((e) => e.event === 'progressStart').length;
    const t0 = Date.now();
    const again = await c.custom('rewind/kernelEvents', {});
    t.diagnostic(`scanned again in the user's session in ${Date.now() - t0} ms`);
    assert.ok(c.events.filter((e) => e.event === 'progressStart').length > progress, 'with progress');
    // Told as the background scan's outcome is: whoever shows events reads them again.
    const told = await c.kernelScanReaches('done', 30_000, 1);
    assert.equal(told[told.length - 1]!.kernelScan, 'done', JSON.stringify(told.map((b) => b.kernelScan)));
    assert.equal(told[told.length - 1]!.counts['kernel-panic'], 1);
    assert.equal(again.events.filter((e) => e.kind === 'panic').length, 1, JSON.stringify(again.events.filter((e) => e.kind !== 'task-switch')));
    const done = await c.custom('rewind/events', { kinds: ['kernel-panic'], limit: 10 });
    assert.equal(done.kernelScan, 'done');
    assert.equal(done.kernelScanError, undefined);
    assert.equal(done.counts['kernel-panic'], 1);
    assert.equal(done.events.filter((e) => e.kind === 'kernel-panic').length, 1);
  });
});
