/**
 * vmlinux vs recorded bzImage: the real Debian kernel and its -dbg vmlinux (the Linux fixture)
 * match; another build, another release, or an ELF without linux_banner is refused with a message
 * that says what to do, by the checker and by the debug adapter's launch.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { bannerMismatch, readLinuxBanner, vmlinuxMismatch } from '../recorder-bridge/src/qemu/linux-banner';
import { RewindDapClient } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';
import { DEMO_KERNEL, requireDemoKernel } from './helpers';
import { ensureLinuxFixture, type LinuxFixture } from './linux-fixture';

describe('vmlinux matches the recorded bzImage', { timeout: 900_000 }, () => {
  let fx: LinuxFixture;
  let recorded: string;
  before(async () => {
    requireDemoKernel();
    fx = await ensureLinuxFixture();
    const b = await Bundle.open(fx.bundle);
    assert.equal(b.manifest.guest.kernel.format, 'linux-bzimage');
    recorded = b.manifest.guest.kernel.linuxVersion!;
    assert.ok(recorded.startsWith(`${fx.release} (`), recorded);
  });

  it("reads linux_banner from Debian's vmlinux and accepts it for its own bzImage", async () => {
    const banner = await readLinuxBanner(fx.vmlinux);
    assert.ok(banner?.startsWith(`Linux version ${fx.release} (`), banner);
    assert.equal(await vmlinuxMismatch(fx.vmlinux, recorded), undefined);
  });

  it('refuses another build of the same release, another release, and an ELF without linux_banner', async () => {
    const banner = (await readLinuxBanner(fx.vmlinux))!;
    // Same release and builder, another build date: a rebuilt kernel.
    const rebuilt = recorded.replace(/\(\d{4}-\d{2}-\d{2}\)$/, '(1999-01-01)');
    assert.notEqual(rebuilt, recorded, 'the Debian version string ends with the build date');
    assert.match(bannerMismatch(banner, rebuilt)!, /another build of/);
    const otherRelease = recorded.replace(fx.release, '6.1.0-1-amd64');
    assert.match(bannerMismatch(banner, otherRelease)!, /it is Linux 6\.1\.0-\d+-cloud-amd64, the recorded kernel is 6\.1\.0-1-amd64/);
    const why = await vmlinuxMismatch(DEMO_KERNEL, recorded);
    assert.match(why!, /has no linux_banner symbol/);
    assert.match(why!, /linux-image-RELEASE-dbg/);
  });

  describe('the debug adapter', () => {
    let c: RewindDapClient | undefined;
    // The shared fixture is reached through a private copy of hard links, so the leftover check sees only this
    // test's processes (benchmarks or other tests may use the fixture at the same time).
    const dir = mkdtempSync(join(tmpdir(), 'rewind-banner-'));
    const bundle = join(dir, 'linux.rewind');
    after(async () => {
      await c?.stop().catch(() => undefined);
      try {
        await assertNoLeftovers(bundle);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses to launch a Linux recording with symbols that are not its vmlinux', async () => {
      execFileSync('cp', ['-al', fx.bundle, bundle]);
      c = new RewindDapClient();
      await c.start();
      await assert.rejects(c.launch({ recording: bundle, symbols: [DEMO_KERNEL] }), (e: Error) => {
        assert.match(e.message, /is not a vmlinux with symbols|not the vmlinux of the recorded kernel/);
        return true;
      });
      await c.stop();
      c = undefined;
    });
  });
});
