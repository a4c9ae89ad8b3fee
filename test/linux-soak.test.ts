/**
 * The soak of test/soak.ts on the Linux fixture (Debian's cloud kernel booting a busybox workload,
 * about 1.5e9 instructions): random seeks, steps back by line and instruction, reverse continues
 * with breakpoints and a watchpoint, forward steps, on ONE DAP session; every stop compared with one
 * sorted forward replay: 0 mismatches, and no operation may fail for the engine's sake.
 *
 * In `npm test`: 120 operations with a fixed seed. The long run, 1,000 operations:
 *   npm run soak:linux          (REWIND_SOAK_OPS=N and REWIND_SOAK_SEED=N change it)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RewindDapClient } from './support/dap-client';
import { WRITE_BYTES } from './linux-fixture';
import { useLinuxSession } from './linux-session';
import { runSoak, type BreakpointConfig } from './soak';

const REGISTERS = ['rip', 'rsp', 'rbp', 'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'eflags'];
const OPS = Number(process.env.REWIND_SOAK_OPS ?? 120);
const SEED = Number(process.env.REWIND_SOAK_SEED ?? 1203);

/** Rare and frequent breakpoints, a watchpoint on the tick's counter, and none. */
function linuxConfigs(): BreakpointConfig[] {
  const set = async (c: RewindDapClient, fns: Array<{ name: string; condition?: string }>, data?: string) => {
    await c.dc.setFunctionBreakpointsRequest({ breakpoints: fns });
    let bps: Array<{ verified: boolean; message?: string }> = [];
    if (data) {
      const info = (await c.dc.dataBreakpointInfoRequest({ name: data, frameId: (await c.stack())[0]!.id })).body;
      assert.ok(info.dataId, `no data breakpoint for ${data}: ${info.description}`);
      bps = (await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId!, accessType: 'write' }] })).body.breakpoints;
      assert.equal(bps[0]!.verified, true, bps[0]!.message);
    } else {
      await c.dc.setDataBreakpointsRequest({ breakpoints: [] });
    }
  };
  return [
    { name: `function ksys_write if count == ${WRITE_BYTES} (3 hits)`, apply: (c) => set(c, [{ name: 'ksys_write', condition: `count == ${WRITE_BYTES}` }]) },
    { name: 'function ksys_write', apply: (c) => set(c, [{ name: 'ksys_write' }]) },
    { name: 'data breakpoint on jiffies_64', apply: (c) => set(c, [], 'jiffies_64') },
    { name: 'function do_timer, data breakpoint on jiffies_64', apply: (c) => set(c, [{ name: 'do_timer' }], 'jiffies_64') },
    { name: 'none (only the panic filter)', apply: (c) => set(c, []) },
  ];
}

// About 5 s an operation on a 2-core machine, more when it is loaded: the suite's time limit grows
// with the count (the long run's 1,000 operations timed out at a fixed hour, 700 done).
const TIMEOUT_MS = Math.max(3_600_000, OPS * 30_000);

describe('Linux soak: random time travel on one DAP session against a straight replay', { timeout: TIMEOUT_MS }, () => {
  const session = useLinuxSession();
  const c = session.c;

  it(`${OPS} operations (seed ${SEED}): 0 mismatches, none failed`, async (t) => {
    if (session.skip()) return t.skip(session.skip());
    const f = session.fixture();
    const started = Date.now();
    const report = await runSoak(c, { bundle: f.bundle, launch: { symbols: [f.vmlinux] }, elf: f.vmlinux, registers: REGISTERS, pc: 'rip', configs: linuxConfigs() }, { seed: SEED, operations: OPS, operationTimeoutMs: 300_000 });
    console.log(`# Linux soak: ${report.operations} operations in ${((Date.now() - started) / 1000).toFixed(0)} s (session ${(report.sessionMs / 1000).toFixed(0)} s, straight replay ${(report.truthMs / 1000).toFixed(0)} s)`);
    assert.equal(report.mismatches.length, 0);
  });
});
