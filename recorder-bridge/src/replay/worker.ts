import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '../bundle/reader';
import { UserError } from '../errors';
import type { RspClient } from '../gdb/rsp-client';
import { decodeRegisters, pcName, type X86Registers } from '../gdb/x86-registers';
import { QmpTimeoutError, type QmpClient } from '../qemu/qmp';
import type { TimePoint } from '../timepoint';
import { groupPids, groupStat, killGroup, processCpuTicks, waitForExit } from '../util/processes';
import { watchForHang } from './hang-watch';
import { launchReplay, SNAPSHOT_IO_MS, type BlankProcess, type ReplayProcess } from './replay-process';
import { sampleAtTrigger } from './task-sample';
import { ChangeFilter } from './watch-changes';
import type { Breakpoint, LadderPoint, RunOptions, StartOptions, StopCause, Trigger, Watchpoint, WorkerRun } from './worker-types';
import type { ReplayWorkspace } from './workspace';
import { deliveryOf, watchOf, type WatchAccess } from './stop-reply';

export type { Breakpoint, LadderPoint, RunOptions, StartOptions, StopCause, Trigger, Watchpoint, WorkerRun } from './worker-types';

/** A process that does not answer for this long, or whose icount stays frozen this long on a busy core, is hung (hang-watch.ts). */
export const DEFAULT_HANG_MS = 1_500;

/**
 * One QEMU replay process, started paused from one snapshot of a bundle. It only moves forward:
 * QEMU deadlocks when a replay process loads a second snapshot (see docs/replay-research.md), so
 * going back means another worker. Control is QMP (time: replay-break, cont) plus the gdbstub
 * (registers, memory, breakpoints, watchpoints), both on private Unix sockets. Launching the
 * process is replay-process.ts's; this class drives it and watches it for hangs.
 */
export class ReplayWorker {
  private icountCache: TimePoint;
  private busy = false;
  private dead = false;
  private hung = false;
  /** Why the watchdog took the process for hung (for the error message). */
  private hungWhy?: string;
  /** Operations started on this process (ping() tells idle silence from a busy main loop). */
  private uses = 0;
  /** When and why the watchdog killed this process (diagnostics: how fast hangs are noticed). */
  hangNoticed?: { why: string; at: number };
  /** The image holds snapshots of the ladder: keep the file when the process goes. */
  private retainImage = false;
  /** How long the process may be silent at no CPU while it runs (StartOptions.idleSilenceMs). */
  private idleSilenceMs: number | undefined;
  /** Wall time spent running since the start or the last snapshot this worker saved. */
  private runMsSinceSnapshot = 0;
  /** A continue is in flight: only then may ^C be sent (a stopped gdbstub must not get a stray one). */
  private continuing = false;
  /** Where the process stands was reached by a replay-break (or the snapshot load): the kind of stop `savevm` was measured to reload. */
  private atReplayBreak = true;
  /** The thread last selected with Hg for reads; QEMU reselects the stopped CPU at every stop. */
  private readThread?: string;

  /** The processes of this worker's group (QEMU and its watchdog), read once: see cpuTicks. */
  private groupPids?: string[];

  readonly id: number;
  private readonly child: ChildProcess;
  private readonly qmp: QmpClient;
  private readonly rsp: RspClient;
  private readonly dir: string;
  private readonly wide: boolean;
  private readonly stderr: { text: string };
  private readonly image: string;

  private constructor(
    p: ReplayProcess,
    readonly snapshot: LadderPoint,
    private readonly endIcount: TimePoint,
    private readonly ws: ReplayWorkspace,
    private readonly hangMs: number,
    private readonly onRun: ((run: WorkerRun) => void) | undefined,
  ) {
    this.id = p.id;
    this.child = p.child;
    this.qmp = p.qmp;
    this.rsp = p.rsp;
    this.dir = p.dir;
    this.wide = p.wide;
    this.stderr = p.stderr;
    this.image = p.image;
    this.icountCache = p.icount;
    this.child.once('exit', () => (this.dead = true));
    this.qmp.on('close', () => (this.dead = true));
  }

  /** Starts a replay process from `snapshot`, paused (see launchReplay in replay-process.ts for where it stops first). */
  static async start(bundle: Bundle, ws: ReplayWorkspace, snapshot: LadderPoint, endIcount: TimePoint, opts: StartOptions = {}, blank?: BlankProcess): Promise<ReplayWorker> {
    const hangMs = opts.hangMs ?? DEFAULT_HANG_MS;
    const w = new ReplayWorker(await launchReplay(bundle, ws, snapshot, endIcount, opts, hangMs, blank), snapshot, endIcount, ws, hangMs, opts.onRun);
    w.retainImage = opts.image !== undefined;
    w.idleSilenceMs = opts.idleSilenceMs;
    return w;
  }

  /** The worker's current time point (as of its last stop). */
  get icount(): TimePoint {
    return this.icountCache;
  }

  /**
   * CPU time (clock ticks, 100 a second) the replay process has used so far: a stretch that took
   * wall time without CPU time was the replay waiting for the wall clock (an idle stretch).
   */
  cpuTicks(): number {
    return this.processIds().reduce((n, pid) => n + processCpuTicks(pid), 0);
  }

  /** The PIDs of the replay's processes (QEMU and its watchdog), read once. */
  processIds(): string[] {
    if (this.child.pid === undefined) return [];
    return (this.groupPids ??= groupPids(this.child.pid));
  }

  /** False once the process exited or either of its connections closed (QEMU died or was killed). */
  get alive(): boolean {
    return !this.dead && !this.rsp.isClosed && !this.qmp.isClosed;
  }

  get isBusy(): boolean {
    return this.busy;
  }

  /** Runs forward to exactly `target` (or to the end of the recording, if that comes first). */
  async runTo(target: TimePoint): Promise<StopCause> {
    if (target < this.icountCache) throw new Error(`worker ${this.id} is at ${this.icountCache}, cannot run back to ${target}`);
    if (target === this.icountCache) return { kind: 'time', icount: target };
    return this.run({ until: target });
  }

  /**
   * Continues until a breakpoint or watchpoint triggers, `until` is reached, or the recording ends.
   * Breakpoints and watchpoints are inserted for this run only. A breakpoint hit that its stack
   * filter rejects is stepped over without being reported. An aborted `signal` interrupts the run
   * where it is (a 'time' stop).
   */
  async run(opts: RunOptions): Promise<StopCause> {
    return (await this.runWith(opts, false, () => false)).stop;
  }

  /**
   * Runs to `until` (or the end, or the `signal`) and collects every trigger on the way, as `run`
   * would report them one by one; but the breakpoints and the replay-break are set once for the
   * whole run, not once per hit: a scan over a loop hits its breakpoints hundreds of times, and
   * each of those round trips costs about as much as the replay between two hits. With `limit`,
   * it stops at that many triggers, standing at the last.
   */
  async collect(opts: RunOptions, limit = Infinity): Promise<{ hits: Trigger[]; stop: StopCause }> {
    const hits: Trigger[] = [];
    const r = await this.runWith(opts, true, (hit) => hits.push(hit) < limit);
    return { hits, stop: r.stop };
  }

  /** The run loop: `onHit` says whether to go on after a trigger (true) or stop there (false). */
  private async runWith(opts: RunOptions, scan: boolean, onHit: (hit: Trigger) => boolean): Promise<{ stop: StopCause }> {
    this.enter();
    const from = this.icountCache;
    const startedNs = process.hrtime.bigint();
    const bps = opts.breakpoints ?? [];
    const wps = opts.watchpoints ?? [];
    this.readThread = undefined;
    const timeStop = (): { stop: StopCause } => ({ stop: { kind: this.icountCache >= this.endIcount ? 'end' : 'time', icount: this.icountCache } });
    try {
      const until = Math.min(opts.until ?? this.endIcount, this.endIcount);
      if (this.icountCache >= until) return timeStop();
      if (opts.signal?.aborted) return { stop: { kind: 'time', icount: this.icountCache } };
      // Step off a breakpoint we are sitting on, so that it does not trigger again at once. A scan
      // (its range starts here) and a run that arrived here by a seek count it first.
      if (bps.length > 0) {
        const regs = await this.registers();
        const pc = regs[pcName(this.wide)] ?? 0n;
        const at = bps.filter((b) => b.address === pc);
        if (at.length > 0) {
          const hit = { kind: 'breakpoint' as const, icount: this.icountCache, address: pc, ...(await sampleAtTrigger(this, opts.sample)) };
          if ((scan || opts.arrived) && at.some((b) => stackAccepts(b, regs[this.wide ? 'rsp' : 'esp'] ?? 0n)) && !onHit(hit)) return { stop: hit };
          await this.step();
          if (this.icountCache >= until) return { stop: { kind: 'time', icount: this.icountCache } };
        }
      }
      for (const b of uniqueAddresses(bps)) await this.expectOk(`Z0,${b.toString(16)},1`);
      for (const w of wps) await this.expectOk(`Z${WATCH_TYPE[w.access]},${w.address.toString(16)},${w.size.toString(16)}`);
      await this.control('replay-break', { icount: until });
      const changes = await ChangeFilter.start(wps, (a, n) => this.readMemory(a, n));
      try {
        for (;;) {
          if (opts.signal?.aborted) return { stop: { kind: 'time', icount: this.icountCache } };
          const reply = await this.resume(opts.signal);
          this.icountCache = await this.currentIcount();
          const watch = watchOf(reply);
          if (watch !== undefined) {
            // A write of the value already there, to a watch for changes, is no trigger.
            const trigger = !changes || (await changes.triggers(watch.address));
            const hit = trigger && { kind: 'watchpoint' as const, icount: this.icountCache, address: await this.pc(), dataAddress: watch.address, ...deliveryOf(watch), ...(await sampleAtTrigger(this, opts.sample)) };
            if (hit && !onHit(hit)) return { stop: hit };
            if (this.icountCache >= until) return hit ? { stop: hit } : timeStop();
            continue;
          }
          // Without breakpoints no register read: the index pass stops this way at every bucket.
          const regs = bps.length > 0 ? await this.registers() : undefined;
          const pc = regs?.[pcName(this.wide)] ?? 0n;
          const at = bps.filter((b) => b.address === pc);
          if (regs && at.length > 0 && this.icountCache < until) {
            const sp = regs[this.wide ? 'rsp' : 'esp'] ?? 0n;
            if (at.some((b) => stackAccepts(b, sp))) {
              const hit = { kind: 'breakpoint' as const, icount: this.icountCache, address: pc, ...(await sampleAtTrigger(this, opts.sample)) };
              if (!onHit(hit)) return { stop: hit };
            }
            // Rejected by its stack filter, or collected: step over it (single-stepping ignores breakpoints) and go on.
            const stepped = await this.step();
            if (stepped !== undefined && (!changes || (await changes.triggers(stepped.address)))) {
              const hit = { kind: 'watchpoint' as const, icount: this.icountCache, address: await this.pc(), dataAddress: stepped.address, ...deliveryOf(stepped), ...(await sampleAtTrigger(this, opts.sample)) };
              if (!onHit(hit)) return { stop: hit };
            }
            if (this.icountCache >= until) return timeStop();
            continue;
          }
          // A stop at the replay-break short of the recording's end is not its end (no QMP round trip).
          const atBreak = this.icountCache === until && until < this.endIcount;
          if (this.icountCache >= this.endIcount || (!atBreak && (await this.atEnd()))) return { stop: { kind: 'end', icount: this.icountCache } };
          // Only a stop at the replay-break itself is one savevm was measured to reload.
          this.atReplayBreak = this.icountCache === until && !opts.signal?.aborted;
          return { stop: { kind: 'time', icount: this.icountCache } };
        }
      } finally {
        // Nothing to clean up in a process that is gone (and one that hangs here is taken for hung).
        if (!this.dead) {
          await this.control('replay-delete-break').catch(() => undefined);
          for (const b of uniqueAddresses(bps)) await this.read(`z0,${b.toString(16)},1`).catch(() => undefined);
          for (const w of wps) await this.read(`z${WATCH_TYPE[w.access]},${w.address.toString(16)},${w.size.toString(16)}`).catch(() => undefined);
        }
      }
    } finally {
      this.busy = false;
      const traps = bps.length + wps.length > 0;
      this.onRun?.({ pid: this.child.pid, from, to: this.icountCache, traps, scan, startedNs, endedNs: process.hrtime.bigint() });
    }
  }

  /** Continues the paused process until it stops (breakpoint, watchpoint, replay-break, ^C, end); returns the stop reply. */
  private async resume(signal?: AbortSignal, packet = this.wide ? 'vCont;c' : 'c'): Promise<string> {
    this.atReplayBreak = false;
    const started = Date.now();
    const stopWatch = this.watchWhileRunning();
    const onAbort = () => this.interrupt();
    try {
      // The packet is written before any abort event can run (the request queue is empty: this worker is busy with us).
      const reply = this.rsp.request(packet, 0);
      this.continuing = packet !== 's';
      signal?.addEventListener('abort', onAbort);
      return await reply;
    } catch (e) {
      throw this.hung ? new UserError(`a replay process hung and was killed: ${this.hungWhy ?? `it stopped responding for ${this.hangMs / 1000} s`}`, 'replay-hung') : e;
    } finally {
      this.continuing = false;
      signal?.removeEventListener('abort', onAbort);
      stopWatch();
      this.runMsSinceSnapshot += Date.now() - started;
    }
  }

  /** One instruction forward (the gdbstub's step ignores breakpoints); returns the watchpoint's access when one triggered. */
  private async step(): Promise<WatchAccess | undefined> {
    // Watched like a continue, not timed like a read: the step of a `hlt` ends with the next interrupt.
    const reply = await this.resume(undefined, 's');
    this.icountCache = await this.currentIcount();
    return watchOf(reply);
  }

  /** True when the process stands where a replay-break (or the snapshot load) stopped it: a point `savevm` may save. */
  get savable(): boolean {
    return this.atReplayBreak;
  }

  get imagePath(): string {
    return this.image;
  }

  get replayMsSinceSnapshot(): number {
    return this.runMsSinceSnapshot;
  }

  /**
   * Saves a snapshot of the current time point into this worker's image (QEMU allows it in
   * replay at any point after a replay-break). Returns the ladder point, whose image is kept.
   */
  async saveSnapshot(name: string): Promise<LadderPoint | undefined> {
    this.enter();
    try {
      // The save holds QMP up for as long as it takes: only a stopped process is caught meanwhile.
      const stopWatch = watchForHang({ qmp: this.qmp, pgid: this.child.pid, noAnswerMs: SNAPSHOT_IO_MS, frozenMs: Infinity, onHung: (why) => this.declareHung(why) });
      const out = await this.ws
        .withImage(this.image, () => this.qmp.execute<string>('human-monitor-command', { 'command-line': `savevm ${name}` }, SNAPSHOT_IO_MS))
        .finally(stopWatch);
      if (/error/i.test(out)) return undefined;
      this.retainImage = true;
      this.runMsSinceSnapshot = 0;
      return { name, icount: this.icountCache, vmClockNs: 0, vmStateBytes: 0, image: this.image, source: 'replay' };
    } finally {
      this.busy = false;
    }
  }

  /** Watches the running process (replay/hang-watch.ts); a hung one is killed, which ends the pending continue. */
  private watchWhileRunning(): () => void {
    return watchForHang({
      qmp: this.qmp,
      pgid: this.child.pid,
      noAnswerMs: this.hangMs,
      frozenMs: this.hangMs,
      ...(this.idleSilenceMs !== undefined ? { idleSilenceMs: this.idleSilenceMs } : {}),
      onHung: (why) => this.declareHung(why),
    });
  }

  /** Kills a process taken for hung; the engine replaces it. */
  private declareHung(why: string): void {
    if (this.hung) return;
    this.hungWhy = why;
    this.hung = true;
    this.dead = true;
    this.hangNoticed = { why, at: Date.now() };
    killGroup(this.child);
  }

  /**
   * Passes one read-only gdb remote-protocol packet to this process's gdbstub (the engine checked
   * it). With `thread`, reads go to that thread (Hg first, unless it is still selected). `Hc` is
   * answered here: which thread runs is the engine's business.
   */
  async gdbPacket(packet: string, thread?: string): Promise<string> {
    if (/^Hc/.test(packet)) return 'OK';
    if (thread !== undefined && thread !== this.readThread) {
      const r = await this.read(`Hg${thread}`);
      if (r !== 'OK') return r;
      this.readThread = thread;
    }
    const reply = await this.read(packet);
    if (packet.startsWith('Hg')) this.readThread = reply === 'OK' ? packet.slice(2) : undefined;
    return reply;
  }

  /**
   * A request to a paused process. One that does not answer within the hang timeout is taken for
   * hung (stopped or deadlocked) and killed, so that the engine replaces it.
   */
  private async read(packet: string): Promise<string> {
    try {
      return await this.unlessStopped(this.rsp.request(packet, this.hangMs));
    } catch (e) {
      if (!this.rsp.isClosed) this.declareHung(`it did not answer gdb within ${this.hangMs / 1000} s`);
      throw e;
    }
  }

  /** A QMP command to this process, under the same hang rule as `read`. */
  private async control<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await this.unlessStopped(this.qmp.execute<T>(command, args, this.hangMs));
    } catch (e) {
      if (e instanceof QmpTimeoutError) this.declareHung(`it did not answer QMP within ${this.hangMs / 1000} s`);
      throw e;
    }
  }

  /**
   * A request in flight to a process stopped by a signal would wait the whole hang timeout: after
   * 100 ms without an answer, the process group is checked every 100 ms, and a stopped one is
   * killed at once (which ends the request), so that it is noticed well within 2 s even on a
   * loaded machine. Answers within 100 ms (nearly all) cost nothing.
   */
  private unlessStopped<T>(request: Promise<T>): Promise<T> {
    const pid = this.child.pid;
    if (pid === undefined) return request;
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      if (groupStat(pid).stopped) this.declareHung('it was stopped by a signal');
      else timer = setTimeout(check, 100);
    };
    timer = setTimeout(check, 100);
    return request.finally(() => clearTimeout(timer));
  }

  private async currentIcount(): Promise<TimePoint> {
    return (await this.control<{ icount?: number }>('query-replay')).icount ?? 0;
  }

  /** Stops a running continue (^C): it returns with a 'time' stop where it is. Does nothing while paused. */
  interrupt(): void {
    if (this.continuing) this.rsp.interrupt();
  }

  async registers(): Promise<X86Registers> {
    return decodeRegisters(await this.read('g'), this.wide);
  }

  async pc(): Promise<bigint> {
    return (await this.registers())[pcName(this.wide)] ?? 0n;
  }

  async readMemory(address: bigint, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let off = 0; off < length; off += 2048) {
      const n = Math.min(2048, length - off);
      const reply = await this.read(`m${(address + BigInt(off)).toString(16)},${n.toString(16)}`);
      if (/^E[0-9a-fA-F]{2}$/.test(reply)) throw new UserError(`cannot read guest memory at 0x${(address + BigInt(off)).toString(16)}`, 'memory-unreadable');
      parts.push(Buffer.from(reply, 'hex'));
    }
    return Buffer.concat(parts);
  }

  /** The console output this worker's replay has printed so far. */
  async consoleOutput(): Promise<Buffer> {
    return fs.readFile(join(this.dir, 'console.out')).catch(() => Buffer.alloc(0));
  }

  /** Ends the process through QMP `quit`, so that QEMU closes its image cleanly (killed when it does not). */
  async quit(): Promise<void> {
    this.dead = true;
    await this.qmp.execute('quit', undefined, 10_000).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([waitForExit(this.child).then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
    clearTimeout(timer);
    if (!gone) killGroup(this.child);
    await this.kill();
  }

  async kill(): Promise<void> {
    this.dead = true;
    this.qmp.close();
    this.rsp.close();
    killGroup(this.child);
    await waitForExit(this.child);
    await fs.rm(this.dir, { recursive: true, force: true });
    if (!this.retainImage) await fs.rm(this.image, { force: true });
  }

  /** PID of the watchdog shell, which is also the process group of this replay (see spawnGuarded). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private enter(): void {
    if (this.dead) throw new Error(`replay worker ${this.id} is dead: ${this.stderr.text.trim().split('\n').pop() ?? ''}`);
    if (this.busy) throw new Error(`replay worker ${this.id} is busy`);
    this.busy = true;
    this.uses++;
  }

  /**
   * Checks that an idle process still answers (a stopped or deadlocked one does not): one that
   * stays silent for the hang timeout while nothing used it is taken for hung and killed. False then.
   */
  async ping(): Promise<boolean> {
    if (this.dead || this.busy) return !this.dead;
    if (this.child.pid !== undefined && groupStat(this.child.pid).stopped) {
      this.declareHung('it was stopped by a signal while idle');
      return false;
    }
    const uses = this.uses;
    try {
      await this.qmp.execute('query-status', undefined, this.hangMs);
      return true;
    } catch {
      // Used meanwhile: a savevm or a load may hold QMP up; that op has its own watch.
      if (this.busy || this.uses !== uses || this.qmp.isClosed) return !this.dead;
      this.declareHung(`it did not answer QMP within ${this.hangMs / 1000} s while idle`);
      return false;
    }
  }

  private async expectOk(packet: string): Promise<void> {
    const r = await this.read(packet);
    if (r !== 'OK') throw new UserError(`the gdbstub refused "${packet}" (${r || 'unsupported'})`, 'gdbstub-refused');
  }

  /** The replay has stopped for good: the recorded shutdown (with -no-shutdown) or the log's end. */
  private async atEnd(): Promise<boolean> {
    const status = await this.control<{ status: string }>('query-status');
    return status.status === 'shutdown' || /replay file is over/.test(this.stderr.text);
  }
}

const WATCH_TYPE: Record<Watchpoint['access'], number> = { write: 2, read: 3, readWrite: 4 };

function stackAccepts(b: Breakpoint, sp: bigint): boolean {
  if (!b.stack) return true;
  return (b.stack.min === undefined || sp >= b.stack.min) && (b.stack.max === undefined || sp <= b.stack.max);
}

/** One gdbstub breakpoint per address, however many filters share it. */
function uniqueAddresses(bps: Breakpoint[]): bigint[] {
  return [...new Set(bps.map((b) => b.address))];
}
