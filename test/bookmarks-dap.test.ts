/**
 * Bookmarks and clickable console lines over DAP, against the real engine, real gdb and a real
 * recording of the demo guest: a bookmark added in one session is there in the next one on the
 * same recording (in bookmarks.json beside it, the recorded files unchanged), a seek to it lands
 * at its time point; bad input gets clear errors; a console line's time point is where a seek to
 * it lands.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindBookmarksChangedEvent } from '@rewind/protocol';
import { BridgeClient, startBridge } from '../recorder-bridge/src/bridge';
import { RewindDapClient } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';
import { DEMO_INPUTS, DEMO_KERNEL, fingerprint, requireDemoKernel, runRewind, tempDir } from './helpers';

describe('bookmarks and console lines over DAP on the real engine', { timeout: 900_000 }, () => {
  const dir = tempDir(after, 'rewind-bookmarks-dap-');
  let bundle: string;
  let before_: Record<string, string>;
  const clients: RewindDapClient[] = [];
  const savedState = process.env.XDG_STATE_HOME;

  before(async () => {
    requireDemoKernel();
    // The adapter inherits it: nothing of this test goes to the user's own state folder.
    process.env.XDG_STATE_HOME = join(dir, 'state');
    bundle = join(dir, 'overflow.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'overflow.txt'), '--out', bundle, '--quiet', '--snapshot-every', '2M'], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    before_ = await fingerprint(bundle);
  });

  after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    if (savedState === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = savedState;
    await assertNoLeftovers(dir);
  });

  async function open(): Promise<RewindDapClient> {
    const c = new RewindDapClient();
    clients.push(c);
    await c.start();
    await c.launch({ recording: bundle });
    return c;
  }

  async function close(c: RewindDapClient): Promise<void> {
    await c.stop();
    clients.splice(clients.indexOf(c), 1);
  }

  it('a bookmark survives closing and reopening the recording; the recorded files stay as they were; a seek to it lands there', async () => {
    const c = await open();
    const here = (await c.position()).icount; // the panic stop
    assert.ok(here > 0);
    assert.deepEqual((await c.custom('rewind/bookmarks', {})).bookmarks, []);

    const changed = c.dc.waitForEvent('rewind/bookmarksChanged') as Promise<DebugProtocol.Event>;
    const { bookmark: atPanic } = await c.custom('rewind/addBookmark', { name: 'at the panic' });
    assert.equal(atPanic.icount, here, 'default: the current position');
    assert.deepEqual(((await changed).body as RewindBookmarksChangedEvent).bookmarks.map((b) => b.name), ['at the panic']);
    const end = (await c.position()).end;
    const midway = Math.floor(end / 2);
    await c.custom('rewind/addBookmark', { name: 'midway', icount: midway });

    // Bad input: clear errors, nothing stored.
    await assert.rejects(c.custom('rewind/addBookmark', { name: '' }), /a bookmark needs a name/);
    await assert.rejects(c.custom('rewind/addBookmark', { name: 'midway', icount: 5 }), /already a bookmark named "midway"/);
    await assert.rejects(c.custom('rewind/addBookmark', { name: 'too late', icount: end + 1 }), /is beyond the end of the recording/);
    await assert.rejects(c.custom('rewind/removeBookmark', { name: 'nope' }), /no bookmark named "nope"/);

    const listed = await c.custom('rewind/bookmarks', {});
    assert.deepEqual(listed.bookmarks.map((b) => [b.name, b.icount]), [['midway', midway], ['at the panic', here]]);
    assert.equal(listed.storedIn, join(bundle, 'bookmarks.json'));
    await close(c);

    // Additive: every recorded file as it was (content and mode), one new file.
    const now = await fingerprint(bundle);
    for (const [file, print] of Object.entries(before_)) assert.equal(now[file], print, `${file} unchanged`);
    assert.deepEqual(Object.keys(now).filter((f) => !(f in before_)), ['bookmarks.json']);

    const c2 = await open();
    const again = await c2.custom('rewind/bookmarks', {});
    assert.deepEqual(again.bookmarks, listed.bookmarks, 'the same bookmarks in the next session');
    for (const b of again.bookmarks) {
      const stop = await c2.run(() => c2.custom('rewind/seek', { icount: b.icount }));
      assert.equal(stop.position.icount, b.icount, `the seek to "${b.name}" lands at its icount`);
    }
    const { removed } = await c2.custom('rewind/removeBookmark', { name: 'midway' });
    assert.equal(removed.icount, midway);
    assert.deepEqual((await c2.custom('rewind/bookmarks', {})).bookmarks.map((b) => b.name), ['at the panic']);
    await close(c2);
  });

  it('a console line goes to the time point it was printed', async () => {
    const c = await open();
    const r = await c.custom('rewind/console', {});
    assert.equal(r.timepoints, 'exact');
    assert.ok(r.lines.length > 3, `console lines: ${r.lines.length}`);
    // A line of the kernel's own run (not the firmware's first ones): its prompt after a command.
    const line = r.lines.find((l) => /config|name|heartbeat/i.test(l.text)) ?? r.lines[Math.floor(r.lines.length / 2)]!;
    const stop = await c.run(() => c.custom('rewind/seek', { icount: line.icount }));
    assert.equal(stop.position.icount, line.icount, `line ${line.line} "${line.text}"`);
    assert.ok(stop.frames.length > 0, 'a stack at the line');
    // From a time point on: only the lines that end at or after it.
    const later = await c.custom('rewind/console', { from: line.icount, limit: 2 });
    assert.ok(later.lines.every((l) => l.icount >= line.icount) && later.lines.length <= 2);
    await assert.rejects(c.custom('rewind/console', { limit: -1 }), /"limit" must be a whole number/);
    // Not a Linux guest: rewind/dmesgTime says so.
    await assert.rejects(c.custom('rewind/dmesgTime', { seq: 0 }), /needs a Linux guest/);
    await close(c);
  });

  it("attached to a bridge: the same bookmarks; the bridge names the recording by its manifest's sha256", async () => {
    const bridge = await startBridge({ root: dir, socket: join(dir, 'attach.sock'), log: join(dir, 'bridge.log') });
    try {
      const direct = await BridgeClient.connect(bridge.address, undefined, { client: 'test' });
      try {
        const opened = await direct.open('overflow.rewind');
        assert.equal(opened.manifestSha256, createHash('sha256').update(readFileSync(join(bundle, 'manifest.json'))).digest('hex'));
        await direct.close(opened.sessionId);
      } finally {
        direct.dispose();
      }
      const c = new RewindDapClient();
      clients.push(c);
      await c.start();
      await c.launchOrAttach('attach', { bridge: `unix:${join(dir, 'attach.sock')}`, recording: 'overflow.rewind' });
      const r = await c.custom('rewind/bookmarks', {});
      assert.deepEqual(r.bookmarks.map((b) => b.name), ['at the panic'], 'what the first test left');
      assert.equal(r.storedIn, join(bundle, 'bookmarks.json'));
      await close(c);
    } finally {
      await bridge.close();
    }
  });
});
