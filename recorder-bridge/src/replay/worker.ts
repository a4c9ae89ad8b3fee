import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '../bundle/reader';
import type { SnapshotEntry } from '../bundle/manifest';
import { UserError } from '../errors';
import { RspClient } from '../gdb/rsp-client';
import { decodeRegisters, pcName, type X86Registers } from '../gdb/x86-registers';
import { QmpClient, QmpTimeoutError } from '../qemu/qmp';
import { requireTool } from '../qemu/tools';
import type { TimePoint } from '../timepoint';
import { killGroup, spawnGuarded, waitForExit } from '../util/processes';
import type { ReplayWorkspace } from './workspace';

/** Why a worker stopped after running. */
export type StopCause =
  | { kind: 'time'; icount: TimePoint } // reached the requested time point
  | { kind: 'breakpoint'; icount: TimePoint; address: bigint }
  | { kind: 'watchpoint'; icount: TimePoint; address: bigint; dataAddress: bigint }
  | { kind: 'end'; icount: TimePoint }; // the recording ended first

export interface Breakpoint {
  /** Code address (a software breakpoint at it). */
  address: bigint;
}

export interface Watchpoint {
  address: bigint;
  size: number;
  access: 'write' | 'read' | 'readWrite';
}

/** A snapshot a worker can start from, and the qcow2 image that holds it. */
export interface LadderPoint extends SnapshotEntry {
  /** Image file holding this snapshot; workers start from a private copy of it. */
  image: string;
  /** 'record': taken while recording (in the bundle); 'replay': added by the engine. */
  source: 'record' | 'replay';
}

let nextWorkerId = 1;

/** A replay process that does not answer QMP for this long is taken for hung. */
export const DEFAULT_HANG_MS = 20_000;

/**
 * One QEMU replay process, started paused from one snapshot of a bundle. It only moves forward:
 * QEMU deadlocks when a replay process loads a second snapshot (see docs/replay-research.md), so
 * going back means another worker. Control is QMP (time: replay-break, cont) plus the gdbstub
 * (registers, memory, breakpoints, watchpoints), both on private Unix sockets.
 */
export class ReplayWorker {
  private icountCache: TimePoint;
  private busy = false;
  private dead = false;
  private hung = false;
  /** The image holds snapshots of the ladder: keep the file when the process goes. */
  private retainImage = false;
  /** Wall time spent running since the start or the last snapshot this worker saved. */
  private runMsSinceSnapshot = 0;

  private constructor(
    readonly id: number,
    readonly snapshot: LadderPoint,
    private readonly child: ChildProcess,
    private readonly qmp: QmpClient,
    private readonly rsp: RspClient,
    private readonly dir: string,
    private readonly wide: boolean,
    private readonly endIcount: TimePoint,
    private stderr: { text: string },
    private readonly image: string,
    private readonly ws: ReplayWorkspace,
    private readonly hangMs: number,
  ) {
    this.icountCache = snapshot.icount;
    child.once('exit', () => (this.dead = true));
    qmp.on('close', () => (this.dead = true));
  }

  /** Starts a paused replay process at `snapshot`. */
  static async start(bundle: Bundle, ws: ReplayWorkspace, snapshot: LadderPoint, endIcount: TimePoint, hangMs = DEFAULT_HANG_MS): Promise<ReplayWorker> {
    const qemu = requireTool(bundle.manifest.qemu.binary);
    const id = nextWorkerId++;
    const dir = join(ws.dir, `w${id}-${process.pid}`);
    await fs.mkdir(dir, { recursive: true });
    const image = await ws.newImage(snapshot.image);
    const argv = [
      ...ws.replayArgs(bundle, snapshot.name, image),
      '-chardev', `file,id=con0,path=${join(dir, 'console.out')}`,
      '-serial', 'chardev:con0',
      '-qmp', `unix:${join(dir, 'qmp.sock')},server=on,wait=off`,
      '-gdb', `unix:${join(dir, 'gdb.sock')},server=on,wait=off`,
      '-monitor', 'none',
      '-no-shutdown',
      '-S',
    ];
    const child = spawnGuarded(qemu, argv);
    const stderr = { text: '' };
    child.stderr!.on('data', (d: Buffer) => (stderr.text = (stderr.text + d.toString()).slice(-4096)));
    try {
      const exited = waitForExit(child).then(({ code }) => {
        throw new UserError(`a replay process exited (code ${code}) while starting at snapshot ${snapshot.name}: ${stderr.text.trim().split('\n').pop() ?? ''}`, 'replay-failed');
      });
      const qmp = await Promise.race([QmpClient.connect(join(dir, 'qmp.sock')), exited]);
      const rsp = await Promise.race([RspClient.connect(join(dir, 'gdb.sock')), exited]);
      exited.catch(() => undefined);
      const w = new ReplayWorker(id, snapshot, child, qmp, rsp, dir, bundle.manifest.qemu.binary.endsWith('x86_64'), endIcount, stderr, image, ws, hangMs);
      w.icountCache = await qmp.icount();
      return w;
    } catch (e) {
      killGroup(child);
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(image, { force: true });
      throw e;
    }
  }

  /** The worker's current time point (as of its last stop). */
  get icount(): TimePoint {
    return this.icountCache;
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
   * Breakpoints and watchpoints are inserted for this run only.
   */
  async run(opts: { until?: TimePoint; breakpoints?: Breakpoint[]; watchpoints?: Watchpoint[] }): Promise<StopCause> {
    this.enter();
    const bps = opts.breakpoints ?? [];
    const wps = opts.watchpoints ?? [];
    try {
      const until = Math.min(opts.until ?? this.endIcount, this.endIcount);
      if (this.icountCache >= until) return { kind: this.icountCache >= this.endIcount ? 'end' : 'time', icount: this.icountCache };
      // Step off a breakpoint we are sitting on, so that it does not trigger again at once.
      if (bps.length > 0) {
        const pc = await this.pc();
        if (bps.some((b) => b.address === pc)) {
          await this.read('s');
          this.icountCache = await this.currentIcount();
          if (this.icountCache >= until) return { kind: 'time', icount: this.icountCache };
        }
      }
      for (const b of bps) await this.expectOk(`Z0,${b.address.toString(16)},1`);
      for (const w of wps) await this.expectOk(`Z${WATCH_TYPE[w.access]},${w.address.toString(16)},${w.size}`);
      await this.control('replay-break', { icount: until });
      let reply: string;
      const started = Date.now();
      const watchdog = this.watchForHang();
      try {
        reply = await this.rsp.request(this.wide ? 'vCont;c' : 'c', 0);
      } catch (e) {
        throw this.hung ? new UserError(`a replay process stopped responding for ${this.hangMs / 1000} s and was killed`, 'replay-hung') : e;
      } finally {
        clearInterval(watchdog);
        this.runMsSinceSnapshot += Date.now() - started;
        await this.qmp.execute('replay-delete-break').catch(() => undefined);
        for (const b of bps) await this.rsp.request(`z0,${b.address.toString(16)},1`).catch(() => undefined);
        for (const w of wps) await this.rsp.request(`z${WATCH_TYPE[w.access]},${w.address.toString(16)},${w.size}`).catch(() => undefined);
      }
      this.icountCache = await this.currentIcount();
      const watch = /(?:^|;)(watch|rwatch|awatch):([0-9a-fA-F]+);/.exec(reply.slice(3) + ';');
      if (watch) return { kind: 'watchpoint', icount: this.icountCache, address: await this.pc(), dataAddress: BigInt('0x' + watch[2]) };
      const pc = await this.pc();
      if (bps.some((b) => b.address === pc) && this.icountCache < until) return { kind: 'breakpoint', icount: this.icountCache, address: pc };
      if (this.icountCache >= this.endIcount || (await this.atEnd())) return { kind: 'end', icount: this.icountCache };
      return { kind: 'time', icount: this.icountCache };
    } finally {
      this.busy = false;
    }
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
      const out = await this.ws.withImage(this.image, () => this.qmp.hmp(`savevm ${name}`));
      if (/error/i.test(out)) return undefined;
      this.retainImage = true;
      this.runMsSinceSnapshot = 0;
      return { name, icount: this.icountCache, vmClockNs: 0, vmStateBytes: 0, image: this.image, source: 'replay' };
    } finally {
      this.busy = false;
    }
  }

  /**
   * While the guest runs, QEMU's main loop keeps answering QMP (even through idle stretches, which
   * replay slowly). A process that stops answering is deadlocked or stopped: it is killed, which
   * ends the pending continue, and the engine replaces it.
   */
  private watchForHang(): NodeJS.Timeout {
    let probing = false;
    const timer = setInterval(() => {
      if (probing || this.dead) return;
      probing = true;
      this.qmp.execute('query-status', undefined, this.hangMs).then(
        () => (probing = false),
        () => {
          this.hung = true;
          this.dead = true;
          killGroup(this.child);
        },
      );
    }, Math.min(2000, this.hangMs / 4));
    return timer;
  }

  /** Passes one read-only gdb remote-protocol packet to this process's gdbstub (the relay uses it). */
  gdbPacket(packet: string): Promise<string> {
    return this.read(packet);
  }

  /**
   * A request to a paused process. One that does not answer within the hang timeout is taken for
   * hung (stopped or deadlocked) and killed, so that the engine replaces it.
   */
  private async read(packet: string): Promise<string> {
    try {
      return await this.rsp.request(packet, this.hangMs);
    } catch (e) {
      if (!this.rsp.isClosed) {
        this.hung = true;
        this.dead = true;
        killGroup(this.child);
      }
      throw e;
    }
  }

  /** A QMP command to this process, under the same hang rule as `read`. */
  private async control<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await this.qmp.execute<T>(command, args, this.hangMs);
    } catch (e) {
      if (e instanceof QmpTimeoutError) {
        this.hung = true;
        this.dead = true;
        killGroup(this.child);
      }
      throw e;
    }
  }

  private async currentIcount(): Promise<TimePoint> {
    return (await this.control<{ icount?: number }>('query-replay')).icount ?? 0;
  }

  /** Stops a running continue (^C): it returns with a 'time' stop where it is. */
  interrupt(): void {
    this.rsp.interrupt();
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
  }

  private async expectOk(packet: string): Promise<void> {
    const r = await this.rsp.request(packet);
    if (r !== 'OK') throw new UserError(`the gdbstub refused "${packet}" (${r || 'unsupported'})`, 'gdbstub-refused');
  }

  /** The replay has stopped for good: the recorded shutdown (with -no-shutdown) or the log's end. */
  private async atEnd(): Promise<boolean> {
    const status = await this.control<{ status: string }>('query-status');
    return status.status === 'shutdown' || /replay file is over/.test(this.stderr.text);
  }
}

const WATCH_TYPE: Record<Watchpoint['access'], number> = { write: 2, read: 3, readWrite: 4 };
