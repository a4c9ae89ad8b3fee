/**
 * Rewind's patched QEMU (scripts/build-qemu.sh, patches/qemu/) against Debian's: the same recording
 * replayed by both reaches the same state at every one of many seeded random time points, and the
 * engine picks the patched build unless REWIND_QEMU=system says otherwise.
 *
 * The real check runs on the Linux fixture (recorded by whichever QEMU setup left in place, so in
 * CI by the patched build), whose boot holds the timer calibration loops the patch is for
 * (docs/replay-research.md, "Checkpoint storms"). How long each replay took is reported, not asserted
 * (bench/ measures speed).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { UserError } from '../recorder-bridge/src/errors';
import { builtQemu, chooseQemu } from '../recorder-bridge/src/qemu/qemu-binary';
import { findOnPath } from '../recorder-bridge/src/qemu/tools';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { seededPoints, straightReplay, type StraightStop } from './support/straight-replay';
import { DEMO_KERNEL, requireDemoKernel, ROOT, runRewind } from './helpers';
import { linuxFixtureOrSkip } from './linux-fixture';

const QEMU = 'qemu-system-x86_64';
const POINTS = 60;

/** One straight replay of the bundle through `points`, with the QEMU REWIND_QEMU picks. */
async function straightReplayWith(b: Bundle, end: number, points: number[], rewindQemu: string | undefined): Promise<{ seen: StraightStop[]; seconds: number; qemu: string }> {
  const saved = process.env['REWIND_QEMU'];
  if (rewindQemu === undefined) delete process.env['REWIND_QEMU'];
  else process.env['REWIND_QEMU'] = rewindQemu;
  try {
    const started = Date.now();
    const seen = await straightReplay(b, end, points);
    return { seen, seconds: (Date.now() - started) / 1000, qemu: chooseQemu(QEMU).path };
  } finally {
    if (saved === undefined) delete process.env['REWIND_QEMU'];
    else process.env['REWIND_QEMU'] = saved;
  }
}

/**
 * Rewind's build, or undefined after skipping the test: with REWIND_QEMU=system the whole run is on
 * Debian's QEMU (setup builds nothing); without the build packages a user gets Debian's; CI must have it.
 */
function rewindBuildOrSkip(t: TestContext): string | undefined {
  if (process.env['REWIND_QEMU'] === 'system') {
    t.skip('REWIND_QEMU=system: this run uses Debian\'s QEMU only');
    return undefined;
  }
  const built = builtQemu(QEMU);
  if (!built) {
    // CI and every root setup build it (scripts/setup.sh); a user without the build packages gets Debian's.
    assert.notEqual(process.env['CI'], 'true', `CI must have Rewind's QEMU: scripts/build-qemu.sh did not leave ${QEMU} in out/native/qemu`);
    t.skip('Rewind\'s QEMU is not built here (scripts/build-qemu.sh: it needs the packages it names, installed as root)');
  }
  return built;
}

/** Both replays reached every point, with the same registers. */
function assertSameStops(points: number[], patched: StraightStop[], stock: StraightStop[]): void {
  const mismatches: string[] = [];
  points.forEach((p, i) => {
    const a = patched[i]!;
    const d = stock[i]!;
    if (a.icount !== p || d.icount !== p) mismatches.push(`${p}: reached ${a.icount} (Rewind's) and ${d.icount} (Debian's)`);
    const regs = Object.keys(d.registers).filter((r) => a.registers[r] !== d.registers[r]);
    if (regs.length) mismatches.push(`${p}: ${regs.map((r) => `${r} 0x${a.registers[r]?.toString(16)} / 0x${d.registers[r]?.toString(16)}`).join(', ')}`);
  });
  assert.deepEqual(mismatches, [], `Rewind's QEMU and Debian's differ:\n${mismatches.slice(0, 10).join('\n')}`);
}

describe('Rewind\'s patched QEMU', () => {
  it('is chosen when built, unless REWIND_QEMU=system; a bad setting says what to do', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'rewind-qemu-build-'));
    try {
      // A checkout with a built QEMU: found from any folder below it, but only with the stamp.
      const root = join(dir, 'checkout');
      const below = join(root, 'out', 'recorder-bridge', 'src', 'qemu');
      await fs.mkdir(below, { recursive: true });
      await fs.mkdir(join(root, 'out', 'native', 'qemu', 'bin'), { recursive: true });
      await fs.writeFile(join(root, 'out', 'native', 'qemu', 'bin', QEMU), '');
      assert.equal(builtQemu(QEMU, below), undefined, 'a binary without the stamp is half built');
      await fs.writeFile(join(root, 'out', 'native', 'qemu', '.built'), 'key\n');
      assert.equal(builtQemu(QEMU, below), join(root, 'out', 'native', 'qemu', 'bin', QEMU));
      assert.equal(builtQemu('qemu-system-i386', below), undefined, 'only the binaries built are used');
      // REWIND_QEMU (the extension's rewind.qemuPath) names a build elsewhere: the checkout, its
      // out/native/qemu or the binary itself; an i386 guest still runs on Debian's binary.
      const binary = join(root, 'out', 'native', 'qemu', 'bin', QEMU);
      for (const at of [root, join(root, 'out', 'native', 'qemu'), binary]) {
        assert.deepEqual(chooseQemu(QEMU, { ...process.env, REWIND_QEMU: at }), { path: binary, build: 'rewind' }, at);
      }
      assert.deepEqual(chooseQemu('qemu-system-i386', { ...process.env, REWIND_QEMU: root }), { path: findOnPath('qemu-system-i386'), build: 'debian' });
      assert.throws(() => chooseQemu(QEMU, { ...process.env, REWIND_QEMU: join(dir, 'elsewhere') }), (e: unknown) => e instanceof UserError && e.code === 'bad-option' && /is not a build of Rewind's QEMU .*npm run setup/.test(e.message));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    assert.throws(() => chooseQemu(QEMU, { ...process.env, REWIND_QEMU: '/usr/bin/qemu' }), (e: unknown) => e instanceof UserError && e.code === 'bad-option' && /REWIND_QEMU=system/.test(e.message));
    assert.throws(() => chooseQemu(QEMU, { ...process.env, REWIND_QEMU: 'out/native/qemu' }), (e: unknown) => e instanceof UserError && e.code === 'bad-option' && /an absolute path/.test(e.message));
    const system = chooseQemu(QEMU, { ...process.env, REWIND_QEMU: 'system' });
    assert.deepEqual(system, { path: findOnPath(QEMU), build: 'debian' });
  });

  it('downloads its source with deb-src entries derived from the machine\'s own deb entries', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'rewind-qemu-sources-'));
    try {
      await fs.mkdir(join(dir, 'sources.list.d'));
      await fs.writeFile(join(dir, 'sources.list'), '# a comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\ndeb-src http://mirror.example/debian bookworm main\n');
      await fs.writeFile(join(dir, 'sources.list.d', 'extra.list'), '  deb http://other.example/debian bookworm-updates main contrib\n');
      await fs.writeFile(join(dir, 'sources.list.d', 'debian.sources'), [
        'Types: deb', 'URIs: http://mirror.example/debian', 'Suites: bookworm', 'Components: main', 'Signed-By: /k.gpg', '',
        'Types: deb-src', 'URIs: http://src-only.example/debian', 'Suites: bookworm', 'Components: main', '',
        '# only a comment', 'Types: deb deb-src', 'URIs: http://both.example/debian-security', 'Suites: bookworm-security', 'Components: main', '',
      ].join('\n'));
      await fs.writeFile(join(dir, 'sources.list.d', 'other.sources.disabled'), 'Types: deb\nURIs: http://disabled.example/\n');
      const out = execFileSync('bash', [join(ROOT, 'scripts', 'build-qemu.sh'), '--print-src-sources'], {
        encoding: 'utf8', env: { ...process.env, REWIND_APT_SOURCES_LIST: join(dir, 'sources.list'), REWIND_APT_SOURCES_DIR: join(dir, 'sources.list.d') },
      });
      assert.equal(out, [
        'deb-src [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main',
        'deb-src http://other.example/debian bookworm-updates main contrib',
        '# debian.sources',
        'Types: deb-src', 'URIs: http://mirror.example/debian', 'Suites: bookworm', 'Components: main', 'Signed-By: /k.gpg', '',
        'Types: deb-src', 'URIs: http://both.example/debian-security', 'Suites: bookworm-security', 'Components: main', '',
        '',
      ].join('\n'));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('replays the Linux fixture to the same icount and registers as Debian\'s QEMU at seeded random points', async (t) => {
    const built = rewindBuildOrSkip(t);
    if (!built) return;
    assert.equal(chooseQemu(QEMU).build, 'rewind');
    const banner = execFileSync(built, ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
    assert.match(banner, /^QEMU emulator version 7\.2\.\d+ \(Debian [^,]+, Rewind replay patches\)$/);
    const debian = execFileSync(findOnPath(QEMU)!, ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
    assert.equal(/version (\S+)/.exec(banner)![1], /version (\S+)/.exec(debian)![1], `the build and Debian's binary are the same QEMU: ${banner} / ${debian}`);

    const { fixture, skip } = await linuxFixtureOrSkip();
    if (!fixture) {
      t.skip(skip);
      return;
    }
    const b = await Bundle.open(fixture.bundle);
    const end = replayEnd(await b.readIndex());
    const points = seededPoints(20261205, POINTS, end);
    const patched = await straightReplayWith(b, end, points, undefined);
    const stock = await straightReplayWith(b, end, points, 'system');
    assert.equal(patched.qemu, built);
    assert.equal(stock.qemu, findOnPath(QEMU));
    t.diagnostic(`straight replay through ${points.length} points up to ${points.at(-1)} of ${end}: Rewind's QEMU ${patched.seconds.toFixed(1)} s, Debian's ${stock.seconds.toFixed(1)} s (recorded by: ${b.manifest.qemu.banner})`);
    assertSameStops(points, patched.seen, stock.seen);
    assert.ok(Object.keys(patched.seen[0]!.registers).length >= 16, 'the registers compared include every general register');
  });

  it('replays the demo guest\'s idle stretches to the same icount and registers as Debian\'s QEMU', async (t) => {
    const built = rewindBuildOrSkip(t);
    if (!built) return;
    requireDemoKernel();
    const dir = await fs.mkdtemp(join(tmpdir(), 'rewind-qemu-idle-'));
    try {
      // Two idle stretches at the prompt (4 s and 3 s) between computations: the case of patches/qemu-next/0002.
      const path = join(dir, 'idle.rewind');
      const rec = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(ROOT, 'guests', 'demo', 'inputs', 'idle.txt'), '--out', path, '--quiet', '--no-index']);
      assert.equal(rec.code, 0, rec.stderr);
      const b = await Bundle.open(path);
      const end = replayEnd(await b.readIndex());
      const points = seededPoints(20261206, POINTS, end);
      const patched = await straightReplayWith(b, end, points, undefined);
      const stock = await straightReplayWith(b, end, points, 'system');
      assert.equal(patched.qemu, built);
      t.diagnostic(`idle recording (${end} instructions, ${b.manifest.recording.wallSeconds.toFixed(1)} s recorded): straight replay through ${points.length} points, Rewind's QEMU ${patched.seconds.toFixed(1)} s, Debian's ${stock.seconds.toFixed(1)} s`);
      assertSameStops(points, patched.seen, stock.seen);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
