/**
 * Every bad input a user can give gets a one-line error that says what to do, a nonzero exit, and
 * leaves every bundle's bytes as they were.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { copyBundle, DEMO_INPUTS, DEMO_KERNEL, fingerprint, requireDemoKernel, runRewind, tempDir, type CliResult } from './helpers';

/** One line on stderr, starting with "rewind: ", and a nonzero exit. */
function assertUserError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'expected a nonzero exit');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^rewind: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Rewrites a damaged bundle's manifest so that its hashes match again (to reach deeper checks). */
async function rehash(bundle: string, log: Buffer): Promise<void> {
  const mpath = join(bundle, 'manifest.json');
  const m = JSON.parse(await fs.readFile(mpath, 'utf8'));
  const gz = gzipSync(log);
  await fs.writeFile(join(bundle, 'replay.log.gz'), gz);
  m.recording.replayLog.rawBytes = log.length;
  m.recording.replayLog.rawSha256 = sha256(log);
  m.files['replay.log.gz'] = { size: gz.length, sha256: sha256(gz) };
  await fs.writeFile(mpath, JSON.stringify(m));
}

describe('bad input', { timeout: 600_000 }, () => {
  let good: string;
  let goodPrint: Record<string, string>;

  // Registered before the temporary folder's cleanup, so it runs first.
  after(async () => {
    // Nothing any command below did changed the original bundle.
    assert.deepEqual(await fingerprint(good), goodPrint);
  });
  const dir = tempDir(after);

  before(async () => {
    requireDemoKernel();
    good = join(dir, 'good.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'basic.txt'), '--out', good, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    goodPrint = await fingerprint(good);
  });

  it('a missing kernel', async () => {
    const r = await runRewind(['record', '--kernel', join(dir, 'nope.elf'), '--out', join(dir, 'x')]);
    assertUserError(r, /kernel not found: .*nope\.elf; check the path/);
    await assert.rejects(fs.stat(join(dir, 'x')));
    await assert.rejects(fs.stat(join(dir, 'x.partial')));
  });

  it('a file that is not a kernel', async () => {
    const text = join(dir, 'notes.txt');
    await fs.writeFile(text, 'hello\n'.repeat(200));
    assertUserError(await runRewind(['record', '--kernel', text, '--out', join(dir, 'y')]), /is not a kernel Rewind can boot: expected an ELF multiboot kernel .* or a Linux bzImage/);
    // An ELF program is not a kernel either.
    assertUserError(await runRewind(['record', '--kernel', process.execPath, '--out', join(dir, 'y')]), /ELF file without a multiboot header/);
    assertUserError(await runRewind(['record', '--kernel', dir, '--out', join(dir, 'y')]), /is a directory/);
  });

  it('QEMU missing', async () => {
    // A PATH with node but no QEMU; REWIND_QEMU=system, or setup's patched build would be found.
    const bin = join(dir, 'bin-no-qemu');
    await fs.mkdir(bin);
    await fs.symlink(process.execPath, join(bin, 'node'));
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--out', join(dir, 'z')], { env: { ...process.env, PATH: bin, REWIND_QEMU: 'system' } });
    assertUserError(r, /qemu-system-x86_64 not found on PATH; install Debian's qemu-system-x86 package/);
    await assert.rejects(fs.stat(join(dir, 'z.partial')));
  });

  it('an existing output is never overwritten', async () => {
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--out', good]);
    assertUserError(r, /already exists; Rewind never overwrites a recording/);
  });

  it('a bad input script', async () => {
    const script = join(dir, 'bad-input.txt');
    await fs.writeFile(script, 'expect ready\ntype hello\n');
    assertUserError(await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', join(dir, 'w')]), /bad-input\.txt:2: unknown directive "type"/);
  });

  it('a truncated log', async () => {
    const b = await copyBundle(good, join(dir, 'truncated.rewind'));
    const gz = await fs.readFile(join(b, 'replay.log.gz'));
    await fs.writeFile(join(b, 'replay.log.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
    const before = await fingerprint(b);
    assertUserError(await runRewind(['info', b]), /replay\.log\.gz has \d+ bytes, the manifest says \d+; the file is truncated or changed/);
    assertUserError(await runRewind(['events', b]), /replay log replay\.log\.gz is truncated or corrupted.*restore the bundle from a copy/);
    // A log cut inside an event, with hashes that match (as if it had been recorded that way).
    const raw = gunzipSync(gz);
    await rehash(b, raw.subarray(0, raw.length - 3));
    assertUserError(await runRewind(['events', b]), /truncated|incomplete/);
    assert.notDeepEqual(await fingerprint(b), before); // rehash changed it on purpose; the commands did not
    const after2 = await fingerprint(b);
    await runRewind(['info', b]);
    assert.deepEqual(await fingerprint(b), after2);
  });

  it('a corrupted log', async () => {
    const b = await copyBundle(good, join(dir, 'corrupt.rewind'));
    const p = join(b, 'replay.log.gz');
    const gz = await fs.readFile(p);
    gz[Math.floor(gz.length / 2)] ^= 0xff;
    await fs.writeFile(p, gz);
    const before = await fingerprint(b);
    assertUserError(await runRewind(['events', b]), /replay log .*(truncated or corrupted|does not match)/);
    assertUserError(await runRewind(['info', b, '--verify']), /replay\.log\.gz does not match its sha256/);
    assert.deepEqual(await fingerprint(b), before);
  });

  it('a log of an unknown format version', async () => {
    const b = await copyBundle(good, join(dir, 'version.rewind'));
    const raw = gunzipSync(await fs.readFile(join(b, 'replay.log.gz')));
    raw.writeUInt32BE(0xe0ff01, 0);
    await rehash(b, raw);
    const before = await fingerprint(b);
    const r = await runRewind(['events', b]);
    assertUserError(r, /format version 0xe0ff01 is not supported.*0xe0200c/);
    assert.deepEqual(await fingerprint(b), before);
  });

  it('a damaged manifest', async () => {
    const b = await copyBundle(good, join(dir, 'manifest.rewind'));
    const mpath = join(b, 'manifest.json');
    const text = await fs.readFile(mpath, 'utf8');
    await fs.writeFile(mpath, text.slice(0, text.length / 2));
    assertUserError(await runRewind(['info', b]), /manifest\.json is not valid JSON .*the bundle is damaged/);
    await fs.writeFile(mpath, JSON.stringify({ ...JSON.parse(text), files: undefined }));
    assertUserError(await runRewind(['info', b]), /"files" is missing/);
    await fs.rm(mpath);
    assertUserError(await runRewind(['events', b]), /has no manifest\.json; it is not a finished recording/);
  });

  it('an unknown bundle format version', async () => {
    const b = await copyBundle(good, join(dir, 'future.rewind'));
    const mpath = join(b, 'manifest.json');
    const m = JSON.parse(await fs.readFile(mpath, 'utf8'));
    m.formatVersion = 4;
    await fs.writeFile(mpath, JSON.stringify(m));
    const before = await fingerprint(b);
    assertUserError(await runRewind(['info', b]), /bundle format version 4 is not supported \(this Rewind reads versions 1 to 3\); upgrade Rewind/);
    assert.deepEqual(await fingerprint(b), before);
  });

  it('a missing bundle, bad options and unknown commands', async () => {
    assertUserError(await runRewind(['info', join(dir, 'missing.rewind')]), /no recording at .*missing\.rewind/);
    assertUserError(await runRewind(['events', good, '--kind', 'teleport']), /unknown event kind "teleport"; kinds are: /);
    assertUserError(await runRewind(['events', good, '--from', 'soon']), /--from needs an instruction count/);
    assertUserError(await runRewind(['record', '--kernel', DEMO_KERNEL, '--snapshot-every', 'often', '--out', join(dir, 'v')]), /--snapshot-every needs an instruction count/);
    assertUserError(await runRewind(['record', '--kernel', DEMO_KERNEL, '--memory', '3', '--out', join(dir, 'v')]), /^rewind: --memory needs a whole number of MiB from 8 to 65536, got "3"$/m);
    assertUserError(await runRewind(['record', '--kernel', DEMO_KERNEL, '--bogus']), /Unknown option '--bogus'/);
    assertUserError(await runRewind(['teleport']), /unknown command "teleport"/);
  });
});
