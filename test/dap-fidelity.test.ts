/**
 * Fidelity soak test of the debug adapter on the demo guest: a few hundred random operations on ONE
 * DAP session over a real demo recording that spans several snapshots, every stop compared with a
 * straight forward replay (test/soak.ts has the operations and the checks).
 *
 * Reproducing a failure: the seed is printed; `REWIND_FIDELITY_SEED=N` replays the same choices,
 * and `REWIND_FIDELITY_BUNDLE=PATH` runs them on the recording kept from the failing run (its path
 * is printed). `REWIND_FIDELITY_OPS=N` changes the number of operations (default 220).
 */
import assert from 'node:assert/strict';
import { promises as fs, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { RewindDapClient } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';
import { DEMO_KERNEL, requireDemoKernel, ROOT, runRewind } from './helpers';
import { runSoak, type BreakpointConfig } from './soak';

const DEMO_SRC = join(ROOT, 'guests', 'demo');

/** The registers compared with the ground truth (the Registers scope's General group). */
const REGISTERS = ['rip', 'rsp', 'rbp', 'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'eflags'];

/**
 * Boot, a few commands, the overflow of bug (a) (config_set_name writes past machine_name into
 * heartbeat_interval), then a computation long enough to hold snapshots; the recording stops when
 * the computation is done (`--stop-on`). The typing comes first on purpose: replaying typed input
 * after a long computation is slow (about 0.5 s per character, measured), which would make every
 * move across it cost seconds.
 */
const INPUT = [
  'expect ready',
  'expect > ',
  'send hello\\n',
  'expect hello, world',
  'expect > ',
  'send ticks\\n',
  'expect ticks: ',
  'expect > ',
  'send name build-server-rack-42-eu-west-1\\n',
  'expect name set',
  'expect > ',
  'send whoami\\n',
  'expect build-server-rac',
  'expect > ',
  'send spin 3\\n',
  'expect spin done',
  '',
].join('\n');

function lineOf(file: string, text: string): number {
  const i = readFileSync(join(DEMO_SRC, file), 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} not found in ${file}`);
  return i + 1;
}

/** Breakpoint sets the soak switches between: functions, lines, data breakpoints, none. */
function demoConfigs(): BreakpointConfig[] {
  const configC = join(DEMO_SRC, 'config.c');
  const interruptsC = join(DEMO_SRC, 'interrupts.c');
  const copyLine = lineOf('config.c', 'cfg.machine_name[i] = name[i];');
  const tickLine = lineOf('interrupts.c', 'ticks++;');
  const dataId = async (c: RewindDapClient, expression: string): Promise<string> => {
    const info = (await c.dc.dataBreakpointInfoRequest({ name: expression, frameId: (await c.stack())[0]!.id })).body;
    assert.ok(info.dataId, `no data breakpoint for ${expression}: ${info.description}`);
    return info.dataId!;
  };
  const set = async (c: RewindDapClient, fns: string[], config: number[], interrupts: number[], data?: string) => {
    await c.dc.setFunctionBreakpointsRequest({ breakpoints: fns.map((name) => ({ name })) });
    await c.dc.setBreakpointsRequest({ source: { path: configC }, breakpoints: config.map((line) => ({ line })) });
    await c.dc.setBreakpointsRequest({ source: { path: interruptsC }, breakpoints: interrupts.map((line) => ({ line })) });
    const bps = (await c.dc.setDataBreakpointsRequest({ breakpoints: data ? [{ dataId: await dataId(c, data), accessType: 'write' }] : [] })).body.breakpoints;
    if (data) assert.equal(bps[0]!.verified, true, bps[0]!.message);
  };
  return [
    { name: 'functions serial_putc, config_set_name', apply: (c) => set(c, ['serial_putc', 'config_set_name'], [], []) },
    { name: `lines interrupts.c:${tickLine} (timer_irq), config.c:${copyLine}`, apply: (c) => set(c, [], [copyLine], [tickLine]) },
    { name: 'function config_set_name, data breakpoint on cfg.heartbeat_interval', apply: (c) => set(c, ['config_set_name'], [], [], 'cfg.heartbeat_interval') },
    { name: 'data breakpoint on ticks, function serial_putc', apply: (c) => set(c, ['serial_putc'], [], [], 'ticks') },
    { name: 'none (only the panic filter)', apply: (c) => set(c, [], [], []) },
  ];
}

describe('debug adapter fidelity: random operations against a straight replay', { timeout: 900_000 }, () => {
  const seed = process.env.REWIND_FIDELITY_SEED !== undefined ? Number(process.env.REWIND_FIDELITY_SEED) : Math.floor(Math.random() * 2 ** 31);
  const opCount = Number(process.env.REWIND_FIDELITY_OPS ?? 220);
  const dir = mkdtempSync(join(tmpdir(), 'rewind-dap-fidelity-'));
  let bundle: string;
  let client: RewindDapClient | undefined;
  let failed = false;

  before(async () => {
    requireDemoKernel();
    assert.ok(Number.isSafeInteger(seed), 'REWIND_FIDELITY_SEED must be an integer');
    if (process.env.REWIND_FIDELITY_BUNDLE) {
      bundle = process.env.REWIND_FIDELITY_BUNDLE;
      return;
    }
    const script = join(dir, 'input.txt');
    await fs.writeFile(script, INPUT);
    bundle = join(dir, 'fidelity.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', bundle, '--quiet', '--snapshot-every', '1M', '--stop-on', 'spin done']);
    assert.equal(r.code, 0, r.stderr);
    // Moves must cross slices. The verification replay adds snapshots where the recorder's (a 25 ms
    // poll) left more than twice the interval: a recording of several intervals always has some.
    const m = (await Bundle.open(bundle)).manifest;
    const inside = m.snapshots.list.filter((s) => s.icount > 0 && s.icount < m.recording.totalIcount);
    assert.ok(inside.length >= 2, `only ${inside.length} snapshot(s) after the start in ${bundle}`);
    assert.ok(m.snapshots.list.every((s) => s.verified), 'every snapshot of a new recording is verified');
  });

  after(async () => {
    await client?.stop().catch(() => undefined);
    try {
      await assertNoLeftovers(bundle ?? dir);
    } finally {
      if (failed && !process.env.REWIND_FIDELITY_BUNDLE && bundle) {
        const kept = join(tmpdir(), `rewind-fidelity-seed-${seed}.rewind`);
        await fs.rm(kept, { recursive: true, force: true });
        await fs.cp(bundle, kept, { recursive: true }).catch(() => undefined);
        console.log(`# kept the recording: REWIND_FIDELITY_SEED=${seed} REWIND_FIDELITY_BUNDLE=${kept}`);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`${opCount} random operations on one session; every stop matches the straight replay`, async () => {
    console.log(`# fidelity seed ${seed} (set REWIND_FIDELITY_SEED to repeat it), ${opCount} operations`);
    const c = new RewindDapClient();
    client = c;
    await c.start();
    try {
      await runSoak(c, { bundle, elf: DEMO_KERNEL, registers: REGISTERS, pc: 'rip', configs: demoConfigs() }, { seed, operations: opCount, verbose: process.env.REWIND_FIDELITY_VERBOSE === '1' });
    } catch (e) {
      failed = true;
      throw e;
    }
  });
});
