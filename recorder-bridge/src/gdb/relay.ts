import { promises as fs } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { CancelledError } from '../errors';
import type { Breakpoint, Watchpoint } from '../replay/worker';
import { listenUnixSocket } from '../util/unix-socket';
import { rangeStep, type RangeStepTarget } from './range-step';
import { isReadPacket } from './read-packets';
import type { RelayPoints, RelayStop, RelayTarget } from './relay-target';
import { decodeRunLength } from './rsp-client';

export type { RelayPoints, RelaySnapshot, RelayStop, RelayTarget } from './relay-target';
export { EngineRelayTarget } from './relay-target';

/** The execution packets: c/vCont;c, s/vCont;s, vCont;r (range-step.ts), bc, bs, and `monitor seek`. */
export type RelayExecutionKind = 'continue' | 'stepi' | 'rangeStep' | 'reverseContinue' | 'reverseStepi' | 'seek';

/** Told to the relay's owner around every execution packet (for progress and events). */
export type RelayExecutionEvent =
  | { phase: 'start'; kind: RelayExecutionKind; packet: string }
  /** `interrupted`: a ^C (or relay.interrupt()) stopped it; a cancelled reverse continue ends as a 'time' stop where it started. */
  | { phase: 'end'; kind: RelayExecutionKind; packet: string; stop: RelayStop; interrupted: boolean }
  | { phase: 'error'; kind: RelayExecutionKind; packet: string; error: Error };

export interface GdbRelayOptions {
  /** Diagnostics (failed packets). */
  log?: (line: string) => void;
  onExecution?: (e: RelayExecutionEvent) => void;
}

/** One gdb connection: its selected thread and the execution packet in flight. */
interface Conn {
  /** The thread gdb selected for reads (Hg); passed with every read, since the process behind the current time changes. */
  thread?: string;
  running?: AbortController;
  /** A ^C came while no execution ran: it is for the execution packet queued behind it. */
  interruptPending?: boolean;
}

/**
 * A gdb remote-protocol server in front of a time-travelling target (the replay engine in process,
 * or a bridge session): gdb believes it talks to one QEMU gdbstub; the relay answers execution
 * packets with the target (continue, step, and the reverse ones: `bc`, `bs`) and passes reads to
 * whichever replay process holds the current time, so switching processes stays invisible.
 * Writes to registers or memory are refused: a recording is history.
 */
export class GdbRelay {
  private server?: Server;
  private socketPath?: string;
  private readonly breakpoints = new Map<string, Breakpoint>();
  private readonly watchpoints = new Map<string, Watchpoint>();
  private readonly conns = new Set<Conn>();
  private readonly sockets = new Set<Socket>();
  private readonly log: (line: string) => void;
  private readonly onExecution?: (e: RelayExecutionEvent) => void;
  /** The guest's code is 64-bit (from the target description; asked once). */
  private is64?: boolean;

  constructor(
    private readonly target: RelayTarget,
    opts: GdbRelayOptions | ((line: string) => void) = {},
  ) {
    const o = typeof opts === 'function' ? { log: opts } : opts;
    this.log = o.log ?? (() => undefined);
    if (o.onExecution) this.onExecution = o.onExecution;
  }

  /** Listens on host:port (port 0: any free port); returns the bound address. */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const server = this.createServer();
      server.once('error', reject);
      server.listen(port, host, () => resolve(server.address() as AddressInfo));
    });
  }

  /**
   * Listens on a Unix socket (created 0600: only its owner can connect; gdb: `target remote PATH`).
   * A stale socket file is replaced; a live one is not. The file is removed by close().
   */
  async listenUnix(path: string): Promise<string> {
    const server = this.createServer();
    await listenUnixSocket(server, path);
    this.socketPath = path;
    return path;
  }

  /** Stops the execution packet in flight (as gdb's ^C does); false when none runs. */
  interrupt(): boolean {
    let any = false;
    for (const c of this.conns) {
      if (c.running && !c.running.signal.aborted) {
        c.running.abort();
        any = true;
      }
    }
    return any;
  }

  /** Stops listening and drops the gdb connections (a running execution is cancelled). */
  async close(): Promise<void> {
    this.interrupt();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    if (this.socketPath) await fs.rm(this.socketPath, { force: true });
    this.socketPath = undefined;
  }

  private createServer(): Server {
    const server = createServer((s) => this.serve(s));
    this.server = server;
    return server;
  }

  private serve(socket: Socket): void {
    socket.setEncoding('latin1');
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    const conn: Conn = {};
    this.conns.add(conn);
    this.sockets.add(socket);
    let buf = '';
    let noAck = false;
    let busy: Promise<void> = Promise.resolve();
    const send = (payload: string) => {
      let sum = 0;
      for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
      socket.write(`$${payload}#${sum.toString(16).padStart(2, '0')}`);
    };
    socket.on('data', (d: string) => {
      buf += d;
      for (;;) {
        if (buf.startsWith('\x03')) {
          buf = buf.slice(1);
          // ^C: stops a continue where it is, cancels a reverse continue. gdb sends it only after a
          // resume packet, which may still wait in the queue: then it applies to that one.
          if (conn.running) conn.running.abort();
          else conn.interruptPending = true;
          continue;
        }
        if (buf.startsWith('+') || buf.startsWith('-')) {
          buf = buf.slice(1);
          continue;
        }
        const start = buf.indexOf('$');
        const hash = buf.indexOf('#', start);
        if (start < 0 || hash < 0 || buf.length < hash + 3) return;
        const packet = decodeRunLength(buf.slice(start + 1, hash));
        buf = buf.slice(hash + 3);
        if (!noAck) socket.write('+');
        busy = busy.then(async () => {
          if (socket.destroyed) return;
          if (packet === 'QStartNoAckMode') {
            send('OK');
            noAck = true;
            return;
          }
          try {
            const reply = await this.handle(conn, packet);
            if (reply === undefined) {
              socket.end();
              return;
            }
            send(reply);
          } catch (e) {
            this.log(`relay: ${packet.slice(0, 30)}: ${(e as Error).message}`);
            send('E01');
          }
        });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      conn.running?.abort(); // gdb went away: do not leave a long reverse continue running
      this.conns.delete(conn);
      this.sockets.delete(socket);
    });
  }

  /** One packet in, one reply out; undefined closes the connection. */
  private async handle(conn: Conn, packet: string): Promise<string | undefined> {
    const t = this.target;
    if (packet.startsWith('qSupported')) {
      // 0x1000 bytes: QEMU's gdbstub answers E22 to memory reads of more than 2048 bytes (4096 hex digits).
      return 'PacketSize=1000;qXfer:features:read+;ReverseStep+;ReverseContinue+;swbreak+;hwbreak+;QStartNoAckMode+';
    }
    if (packet === 'vMustReplyEmpty') return '';
    if (packet === '?') return this.stopReply({ kind: 'time', icount: (await t.position()).icount }, false);
    if (packet === 'vCont?') return 'vCont;c;C;s;S;r';
    const range = /^vCont;r([0-9a-fA-F]+),([0-9a-fA-F]+)/.exec(packet);
    if (range) {
      const target = await this.rangeStepTarget(conn);
      return this.execute(conn, 'rangeStep', packet, (signal) => rangeStep(target, BigInt('0x' + range[1]), BigInt('0x' + range[2]), signal));
    }
    if (packet === 'c' || packet.startsWith('vCont;c') || packet.startsWith('vCont;C') || /^C[0-9a-f]{2}$/.test(packet)) {
      return this.execute(conn, 'continue', packet, (signal) => t.continueForward(this.points(), signal));
    }
    if (packet === 's' || packet.startsWith('vCont;s') || packet.startsWith('vCont;S') || /^S[0-9a-f]{2}$/.test(packet)) {
      return this.execute(conn, 'stepi', packet, async () => {
        const before = (await t.position()).icount;
        const at = await t.stepi();
        return at === before ? { kind: 'end', icount: at } : { kind: 'time', icount: at };
      });
    }
    if (packet === 'bs') {
      return this.execute(conn, 'reverseStepi', packet, async () => {
        if ((await t.position()).icount === 0) return { kind: 'start', icount: 0 };
        return { kind: 'time', icount: await t.reverseStepi() };
      });
    }
    if (packet === 'bc') return this.execute(conn, 'reverseContinue', packet, (signal) => t.reverseContinue(this.points(), signal));
    const z = /^([zZ])([0-4]),([0-9a-fA-F]+),([0-9a-fA-F]+)/.exec(packet);
    if (z) return this.breakpoint(z[1] === 'Z', Number(z[2]), BigInt('0x' + z[3]), parseInt(z[4]!, 16));
    if (packet.startsWith('qRcmd,')) return hex(await this.monitor(conn, Buffer.from(packet.slice(6), 'hex').toString('latin1').trim()));
    if (/^[GPMX]/.test(packet)) return 'E01'; // a recording is history: no writes
    if (packet === 'k') return undefined;
    if (packet.startsWith('D')) return 'OK';
    if (packet.startsWith('vCont') || packet.startsWith('vRun') || packet.startsWith('vAttach')) return '';
    if (packet.startsWith('Hc')) return 'OK'; // which thread runs is the target's business
    if (packet.startsWith('Hg')) {
      const reply = await t.gdbPacket(packet);
      if (reply === 'OK') conn.thread = packet.slice(2);
      return reply;
    }
    // Registers, memory, threads, target description: read where the current time is, for gdb's thread.
    if (isReadPacket(packet)) return t.gdbPacket(packet, conn.thread);
    return ''; // unsupported
  }

  /**
   * Runs one execution packet: the owner is told when it starts and ends; ^C aborts its signal.
   * A cancelled reverse continue is answered with a plain stop where the time still is.
   */
  private async execute(conn: Conn, kind: RelayExecutionKind, packet: string, op: (signal: AbortSignal) => Promise<RelayStop>): Promise<string> {
    const ac = new AbortController();
    conn.running = ac;
    if (conn.interruptPending) ac.abort();
    conn.interruptPending = false;
    this.tell({ phase: 'start', kind, packet });
    try {
      let stop: RelayStop;
      try {
        stop = await op(ac.signal);
      } catch (e) {
        if (!ac.signal.aborted || !isCancellation(e)) throw e;
        stop = { kind: 'time', icount: (await this.target.position()).icount };
      }
      const interrupted = ac.signal.aborted && stop.kind === 'time';
      this.tell({ phase: 'end', kind, packet, stop, interrupted });
      return this.stopReply(stop, interrupted);
    } catch (e) {
      this.tell({ phase: 'error', kind, packet, error: e as Error });
      throw e;
    } finally {
      if (conn.running === ac) conn.running = undefined;
    }
  }

  private tell(e: RelayExecutionEvent): void {
    try {
      this.onExecution?.(e);
    } catch (err) {
      this.log(`relay: onExecution: ${(err as Error).message}`);
    }
  }

  /**
   * `monitor` commands: time travel gdb has no command for. gdb does not know that the time
   * changed, so after `monitor seek` run `maintenance flush register-cache` (or any step).
   */
  private async monitor(conn: Conn, cmd: string): Promise<string> {
    const t = this.target;
    const [verb, arg] = cmd.split(/\s+/, 2);
    if (verb === 'icount' || verb === 'info') {
      const [p, snaps] = await Promise.all([t.position(), t.snapshots()]);
      return `icount ${p.icount} of ${p.end}; snapshots: ${snaps.map((s) => `${s.name}@${s.icount}`).join(', ')}\n`;
    }
    if (verb === 'seek') {
      const n = Number(arg);
      if (!arg || !Number.isInteger(n) || n < 0) return 'usage: monitor seek ICOUNT\n';
      await this.execute(conn, 'seek', `monitor seek ${n}`, async () => ({ kind: 'time', icount: await t.seek(n) }));
      return `at icount ${(await t.position()).icount}; now run: maintenance flush register-cache\n`;
    }
    return 'Rewind monitor commands: icount, seek ICOUNT\n';
  }

  /** Range stepping's view of the target, for gdb's selected thread. */
  private async rangeStepTarget(conn: Conn): Promise<RangeStepTarget> {
    const t = this.target;
    // QEMU's x86 gdbstub describes the guest as i386:x86-64 (pc = register 16, rip) or i386 (8, eip).
    this.is64 ??= /i386:x86-64/.test(await t.gdbPacket('qXfer:features:read:target.xml:0,ffb', conn.thread));
    const is64 = this.is64;
    return {
      is64,
      icount: async () => (await t.position()).icount,
      pc: async () => littleEndian(await t.gdbPacket(is64 ? 'p10' : 'p8', conn.thread)),
      code: async (address) => {
        const reply = await t.gdbPacket(`m${address.toString(16)},10`, conn.thread);
        return /^E[0-9a-fA-F]{2}$/.test(reply) ? Buffer.alloc(0) : Buffer.from(reply, 'hex');
      },
      stepi: () => t.stepi(),
      continueTo: (address, signal) => {
        const points = this.points();
        return t.continueForward({ breakpoints: [...points.breakpoints, { address }], watchpoints: points.watchpoints }, signal);
      },
      hasBreakpoint: (address) => [...this.breakpoints.values()].some((b) => b.address === address),
    };
  }

  private points(): RelayPoints {
    return { breakpoints: [...this.breakpoints.values()], watchpoints: [...this.watchpoints.values()] };
  }

  private breakpoint(insert: boolean, type: number, address: bigint, size: number): string {
    const key = `${type}:${address}:${size}`;
    if (type <= 1) {
      if (insert) this.breakpoints.set(key, { address });
      else this.breakpoints.delete(key);
    } else {
      const access = type === 2 ? 'write' : type === 3 ? 'read' : 'readWrite';
      // gdb's `watch` (Z2) reports a write only where the value changed: the engine skips the others (watch-changes.ts).
      if (insert) this.watchpoints.set(key, { address, size, access, ...(type === 2 ? { changes: true } : {}) });
      else this.watchpoints.delete(key);
    }
    return 'OK';
  }

  /**
   * A T stop reply; gdb shows the ends of the recording as "No more reverse-execution history",
   * and an interrupted execution as SIGINT.
   */
  private stopReply(stop: RelayStop, interrupted: boolean): string {
    switch (stop.kind) {
      case 'breakpoint':
        return 'T05swbreak:;thread:01;';
      case 'watchpoint': {
        const w = [...this.watchpoints.values()].find((x) => stop.dataAddress >= x.address && stop.dataAddress < x.address + BigInt(x.size));
        const name = w?.access === 'read' ? 'rwatch' : w?.access === 'readWrite' ? 'awatch' : 'watch';
        return `T05${name}:${stop.dataAddress.toString(16)};thread:01;`;
      }
      case 'start':
        return 'T05replaylog:begin;thread:01;';
      case 'end':
        return 'T05replaylog:end;thread:01;';
      default:
        return interrupted ? 'T02thread:01;' : 'T05thread:01;';
    }
  }
}

function isCancellation(e: unknown): boolean {
  return e instanceof CancelledError || (e as { code?: unknown } | undefined)?.code === 'cancelled';
}

/** A register as the `p` packet gives it: little-endian hex. */
function littleEndian(reply: string): bigint {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(reply)) throw new Error(`unexpected register reply ${JSON.stringify(reply.slice(0, 20))}`);
  return BigInt('0x' + (reply.match(/../g) ?? []).reverse().join(''));
}

function hex(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}
