/**
 * The command line behaves like one: help for every command in the usual three ways, the usage on
 * stderr when no command is given, and output into a pipe whose reader goes away (`| head`) ends
 * quietly, while other output errors still say so.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO_INPUTS, DEMO_KERNEL, REWIND_BIN, ROOT, requireDemoKernel, runRewind, tempDir, type CliResult } from './helpers';

const COMMANDS = ['record', 'info', 'events', 'check', 'index', 'salvage', 'replay', 'bridge', 'dap', 'lsp'];

function assertNoStackTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /at .*\.js:\d+|Error:|node:internal/, `a stack trace on stderr:\n${stderr}`);
}

/**
 * Runs `rewind ARGS | READER...` in bash: a real pipe (Node's own stdio "pipes" are socket pairs,
 * whose buffers hold more than a pipe does), so the reader (e.g. head -n 3) may close it early.
 */
function pipeInto(args: string[], reader: string[], errFile: string): Promise<{ code: number; stderr: string; read: string }> {
  return new Promise((resolve, reject) => {
    const script = '"$@" 2>"$ERR_FILE" | $READER; echo "rewind exit ${PIPESTATUS[0]}" >&2';
    const sh = spawn('bash', ['-c', script, 'rewind-pipe', process.execPath, REWIND_BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ERR_FILE: errFile, READER: reader.join(' ') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let read = '';
    let status = '';
    sh.stdout.on('data', (d: Buffer) => (read += d.toString()));
    sh.stderr.on('data', (d: Buffer) => (status += d.toString()));
    const timer = setTimeout(() => {
      sh.kill('SIGKILL');
      reject(new Error(`rewind ${args.join(' ')} | ${reader.join(' ')} did not finish`));
    }, 60_000);
    sh.on('error', reject);
    sh.on('close', () => {
      clearTimeout(timer);
      const m = /rewind exit (\d+)/.exec(status);
      if (!m) return reject(new Error(`no exit status: ${status}`));
      resolve({ code: Number(m[1]), stderr: readFileSync(errFile, 'utf8'), read });
    });
  });
}

describe('rewind help', () => {
  it('prints each command\'s help for `CMD --help`, `CMD -h` and `help CMD`, on stdout with exit 0', async () => {
    for (const cmd of COMMANDS) {
      const forms: CliResult[] = await Promise.all([runRewind([cmd, '--help']), runRewind([cmd, '-h']), runRewind(['help', cmd])]);
      for (const r of forms) {
        assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
        assert.equal(r.stderr, '');
        assert.match(r.stdout, new RegExp(`^Usage: rewind ${cmd}\\b`));
        assert.equal(r.stdout, forms[0]!.stdout);
      }
    }
  });

  it('keeps the options in the commands\' help and a short overview', async () => {
    const record = await runRewind(['record', '--help']);
    for (const option of ['--kernel FILE', '--linux', '--disk FILE', '--snapshot-every N', '--max-log SIZE', '--stop-on TEXT']) {
      assert.match(record.stdout, new RegExp(`^  ${option.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'), option);
    }
    assert.match((await runRewind(['salvage', '--help'])).stdout, /--out DIR/);
    assert.match((await runRewind(['events', '-h'])).stdout, /--kind K\[,K\.\.\.\]/);
    const overview = await runRewind(['help']);
    assert.equal(overview.code, 0);
    for (const cmd of COMMANDS) assert.match(overview.stdout, new RegExp(`^  ${cmd} +\\S`, 'm'), cmd);
    assert.doesNotMatch(overview.stdout, /--max-log|--snapshot-every/, 'record options belong to record\'s help');
    assert.match(overview.stdout, /rewind help COMMAND/);
    assert.match(overview.stdout, /\| head\), the command ends quietly with 0/);
    for (const flag of ['--help', '-h']) {
      const r = await runRewind([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, overview.stdout);
      assert.equal(r.stderr, '');
    }
  });

  it('prints the usage on stderr with exit 2 when no command is given', async () => {
    const r = await runRewind([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, (await runRewind(['help'])).stdout);
  });

  it('names the commands for `help NOSUCH` and an unknown command, and points to a command\'s help for a bad option', async () => {
    const r = await runRewind(['help', 'teleport']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^rewind: there is no command "teleport"; the commands are record, info, events, check, index, salvage, replay, bridge, dap, lsp\n$/);
    const unknown = await runRewind(['teleport']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "teleport"; the commands are record, info/);
    const bad = await runRewind(['events', 'x.rewind', '--bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown option '--bogus'.*run `rewind events --help`/);
  });

  it('`rewind dap --help` and `rewind lsp --help` print the help instead of starting the server', async () => {
    for (const command of ['dap', 'lsp']) {
      for (const flag of ['--help', '-h']) {
        // The server would wait on stdin for messages; runRewind gives it none and waits for the exit.
        const r = await runRewind([command, flag], { timeoutMs: 20_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Usage: rewind ${command}`));
        assert.doesNotMatch(r.stdout, /Content-Length/);
      }
    }
    const bad = await runRewind(['lsp', '--port', '9'], { timeoutMs: 20_000 });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /rewind lsp takes no arguments but --stdio/);
  });
});

describe('output into a closed pipe', { timeout: 300_000 }, () => {
  const dir = tempDir(after);
  let bundle: string;
  let fullBytes: number;

  before(async () => {
    requireDemoKernel();
    bundle = join(dir, 'basic.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'basic.txt'), '--out', bundle, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const all = await runRewind(['events', bundle]);
    assert.equal(all.code, 0, all.stderr);
    fullBytes = Buffer.byteLength(all.stdout);
    // More than a pipe holds (64 KiB) plus what head reads at once: rewind is still writing when the reader goes away.
    assert.ok(fullBytes > 128 * 1024, `only ${fullBytes} bytes of events`);
  });

  it('`rewind events B | head -n 3` ends quietly with exit 0', async () => {
    const r = await pipeInto(['events', bundle], ['head', '-n', '3'], join(dir, 'events.err'));
    assert.equal(r.read.split('\n').length, 4, r.read);
    assert.match(r.read, /^#0 /);
    assertNoStackTrace(r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
  });

  it('`rewind events B --json | head -c 100` too, and `rewind help | head -n 1`', async () => {
    const r = await pipeInto(['events', bundle, '--json'], ['head', '-c', '100'], join(dir, 'json.err'));
    assert.equal(r.read.length, 100);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    const help = await pipeInto(['help', 'record'], ['head', '-n', '1'], join(dir, 'help.err'));
    assert.equal(help.read, 'Usage: rewind record --kernel FILE [options]\n');
    assert.equal(help.stderr, '');
    assert.equal(help.code, 0);
  });

  it('does not swallow other output errors: a full disk is an error with a message', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn('bash', ['-c', '"$0" "$1" events "$2" > /dev/full', process.execPath, REWIND_BIN, bundle], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^rewind: cannot write the output: ENOSPC: no space left on device/);
    assertNoStackTrace(r.stderr.replace(/ENOSPC: no space left on device, write/, ''));
  });
});
