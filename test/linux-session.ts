/**
 * One DAP session on the Linux fixture for a describe block: builds (or finds) the fixture and
 * starts the adapter before its tests, stops it and checks that nothing leaked after them. Tests
 * call `skip()` first: it says why they cannot run (no fixture on this machine) or undefined.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { record } from '../recorder-bridge/src/record/recorder';
import type { RecordOptions } from '../recorder-bridge/src/record/types';
import { RewindDapClient } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';
import { linuxFixtureOrSkip, type LinuxFixture } from './linux-fixture';

export interface LinuxSession<F extends LinuxFixture = LinuxFixture> {
  readonly c: RewindDapClient;
  /** The fixture; only valid in a test after `skip()` returned undefined. */
  fixture(): F;
  skip(): string | undefined;
}

/** A session on the Linux fixture, or on another one (the module fixture: linuxModuleFixtureOrSkip). */
export function useLinuxSession<F extends LinuxFixture = LinuxFixture>(fixtureOrSkip: () => Promise<{ fixture?: F; skip?: string }> = linuxFixtureOrSkip as () => Promise<{ fixture?: F; skip?: string }>): LinuxSession<F> {
  let fixture: F | undefined;
  let skip: string | undefined;
  const c = new RewindDapClient();
  before(async () => {
    ({ fixture, skip } = await fixtureOrSkip());
    if (skip) return;
    c.dc.defaultTimeout = 300_000;
    await c.start();
  });
  after(async () => {
    if (!fixture) return;
    await c.stop().catch(() => undefined);
    await assertNoLeftovers(fixture.bundle, 20_000);
  });
  return { c, fixture: () => fixture!, skip: () => skip };
}

export interface LinuxVariantSession extends LinuxSession {
  /** The variant's bundle; only valid in a test after `skip()` returned undefined. */
  bundle(): string;
}

/**
 * The fixture's kernel and workload recorded again with other options (KPTI forced on, KASLR on)
 * into a folder of its own, and a DAP session for it, for a describe block: both cleaned up after
 * its tests, with a check that no replay process of the variant is left.
 */
export function useLinuxVariant(name: string, options: Partial<RecordOptions>): LinuxVariantSession {
  let fixture: LinuxFixture | undefined;
  let skip: string | undefined;
  let dir: string | undefined;
  let bundle: string | undefined;
  const c = new RewindDapClient();
  before(async () => {
    ({ fixture, skip } = await linuxFixtureOrSkip());
    if (!fixture) return;
    dir = mkdtempSync(join(tmpdir(), `rewind-linux-${name}-`));
    bundle = join(dir, `${name}.rewind`);
    const r = await record({ kernel: fixture.bzImage, initrd: fixture.initrd, input: join(dirname(fixture.bundle), 'workload-input.txt'), out: bundle, timeoutSeconds: 300, ...options });
    assert.equal(r.stopReason, 'guest-poweroff', r.stopDetail);
    c.dc.defaultTimeout = 300_000;
    await c.start();
  });
  after(async () => {
    if (!dir) return;
    await c.stop().catch(() => undefined);
    await assertNoLeftovers(dir, 20_000);
    rmSync(dir, { recursive: true, force: true });
  });
  return { c, fixture: () => fixture!, skip: () => skip, bundle: () => bundle! };
}
