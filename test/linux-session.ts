/**
 * One DAP session on the Linux fixture for a describe block: builds (or finds) the fixture and
 * starts the adapter before its tests, stops it and checks that nothing leaked after them. Tests
 * call `skip()` first: it says why they cannot run (no fixture on this machine) or undefined.
 */
import { after, before } from 'node:test';
import { RewindDapClient } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';
import { linuxFixtureOrSkip, type LinuxFixture } from './linux-fixture';

export interface LinuxSession {
  readonly c: RewindDapClient;
  /** The fixture; only valid in a test after `skip()` returned undefined. */
  fixture(): LinuxFixture;
  skip(): string | undefined;
}

export function useLinuxSession(): LinuxSession {
  let fixture: LinuxFixture | undefined;
  let skip: string | undefined;
  const c = new RewindDapClient();
  before(async () => {
    ({ fixture, skip } = await linuxFixtureOrSkip());
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
