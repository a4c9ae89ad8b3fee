/**
 * Shared test helpers: paths, running the real `rewind` command, temporary folders, and a
 * fingerprint of a bundle's bytes (to prove that nothing changed it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** The repository root (tests run from out/test/). */
export const ROOT = join(__dirname, '..', '..');
export const REWIND_BIN = join(ROOT, 'bin', 'rewind.js');
export const DEMO_KERNEL = join(ROOT, 'guests', 'demo', 'build', 'kernel.elf');
export const DEMO_INPUTS = join(ROOT, 'guests', 'demo', 'inputs');

export function requireDemoKernel(): void {
  if (!existsSync(DEMO_KERNEL)) throw new Error(`demo guest not built: run \`npm run setup\` (missing ${DEMO_KERNEL})`);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `rewind ARGS` as a user would, with an optional environment override. */
export function runRewind(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REWIND_BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    // Settles only once the process is gone, so that a suite's check for leftover QEMU processes
    // does not race the watchdogs that kill them when their rewind process dies.
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`rewind ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 120_000} ms\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A temporary folder removed when the test or suite ends, pass or fail: pass node:test's `after`
 * (in a suite) or `(fn) => t.after(fn)` (in a test).
 */
export function tempDir(onCleanup: (fn: () => void) => void, prefix = 'rewind-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** sha256 of every file of a directory, by relative path, plus the mode bits. */
export async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string): Promise<void> {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await fs.stat(p);
        out[relative(dir, p)] = createHash('sha256').update(await fs.readFile(p)).digest('hex') + ':' + (st.mode & 0o777).toString(8);
      }
    }
  }
  await walk(dir);
  return out;
}

/** Copies a bundle to a writable place, for tests that damage it on purpose. */
export async function copyBundle(src: string, dest: string): Promise<string> {
  await fs.cp(src, dest, { recursive: true });
  async function chmodAll(d: string): Promise<void> {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await chmodAll(p);
      else await fs.chmod(p, 0o644);
    }
  }
  await chmodAll(dest);
  return dest;
}

/**
 * Records the demo guest running one long computation (`spin MILLIONS`: about 9e6 instructions per
 * million) with `init` as its only snapshot and no index, into DIR/NAME: a replay through it lasts
 * seconds on any machine, for tests that interrupt, stop or kill one on its way. (Not an idle stretch:
 * patches/qemu-next/0002 replays those at CPU speed.)
 */
export async function recordLongComputation(dir: string, name: string, millions: number): Promise<string> {
  const input = join(dir, `${name}.txt`);
  await fs.writeFile(input, `expect ready\nexpect > \nsend spin ${millions}\\n\nexpect spin done: \nexpect > \nsend poweroff\\n\nexpect Power off.\n`);
  const bundle = join(dir, `${name}.rewind`);
  const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', input, '--out', bundle, '--quiet', '--snapshot-every', '0', '--no-index'], { timeoutMs: 600_000 });
  assert.equal(r.code, 0, r.stderr);
  return bundle;
}

/**
 * Records the demo guest's overflow input (snapshots every 2M instructions) into DIR/overflow.rewind
 * and indexes it: the recording the index and language-server tests query.
 */
export async function recordIndexedOverflow(dir: string): Promise<string> {
  const bundle = join(dir, 'overflow.rewind');
  const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'overflow.txt'), '--out', bundle, '--quiet', '--snapshot-every', '2M']);
  assert.equal(r.code, 0, r.stderr);
  const ix = await runRewind(['index', bundle]);
  assert.equal(ix.code, 0, ix.stderr);
  return bundle;
}
