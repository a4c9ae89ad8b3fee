import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { ReplayEngine } from '../replay/engine';
import type { Breakpoint, StopCause, Watchpoint } from '../replay/worker';
import { decodeRunLength } from './rsp-client';

/**
 * A gdb remote-protocol server in front of the replay engine, for plain gdb users:
 * `target remote :PORT`. gdb believes it talks to one QEMU gdbstub; the relay answers execution
 * packets with the engine (continue, step, and the reverse ones: `bc`, `bs`) and passes reads to
 * whichever replay process holds the current time, so switching processes stays invisible.
 * Writes to registers or memory are refused: a recording is history.
 */
export class GdbRelay {
  private server?: Server;
  private readonly breakpoints = new Map<string, Breakpoint>();
  private readonly watchpoints = new Map<string, Watchpoint>();

  constructor(
    private readonly engine: ReplayEngine,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Listens on host:port (port 0: any free port); returns the bound address. */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const server = createServer((s) => this.serve(s));
      server.once('error', reject);
      server.listen(port, host, () => resolve(server.address() as AddressInfo));
      this.server = server;
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private serve(socket: Socket): void {
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    let buf = '';
    let noAck = false;
    let busy: Promise<void> = Promise.resolve();
    let running = false;
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
          if (running) this.engine.interrupt();
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
          if (packet === 'QStartNoAckMode') {
            send('OK');
            noAck = true;
            return;
          }
          running = /^(c|s|bc|bs|vCont;[cs])/.test(packet);
          try {
            const reply = await this.handle(packet);
            if (reply === undefined) {
              socket.end();
              return;
            }
            send(reply);
          } catch (e) {
            this.log(`relay: ${packet.slice(0, 30)}: ${(e as Error).message}`);
            send('E01');
          } finally {
            running = false;
          }
        });
      }
    });
    socket.on('error', () => undefined);
  }

  /** One packet in, one reply out; undefined closes the connection. */
  private async handle(packet: string): Promise<string | undefined> {
    const e = this.engine;
    if (packet.startsWith('qSupported')) {
      return 'PacketSize=4000;qXfer:features:read+;ReverseStep+;ReverseContinue+;swbreak+;hwbreak+;QStartNoAckMode+';
    }
    if (packet === 'vMustReplyEmpty') return '';
    if (packet === '?') return this.stopReply({ kind: 'time', icount: e.icount });
    if (packet === 'vCont?') return 'vCont;c;C;s;S';
    if (packet === 'c' || packet.startsWith('vCont;c') || packet.startsWith('vCont;C') || /^C[0-9a-f]{2}$/.test(packet)) {
      return this.stopReply(await e.continueForward(this.points()));
    }
    if (packet === 's' || packet.startsWith('vCont;s') || packet.startsWith('vCont;S') || /^S[0-9a-f]{2}$/.test(packet)) {
      const before = e.icount;
      const at = await e.stepi();
      return this.stopReply(at === before ? { kind: 'end', icount: at } : { kind: 'time', icount: at });
    }
    if (packet === 'bs') {
      if (e.icount === 0) return this.stopReply({ kind: 'start', icount: 0 });
      await e.reverseStepi();
      return this.stopReply({ kind: 'time', icount: e.icount });
    }
    if (packet === 'bc') return this.stopReply(await e.reverseContinue(this.points()));
    const z = /^([zZ])([0-4]),([0-9a-fA-F]+),([0-9a-fA-F]+)/.exec(packet);
    if (z) return this.breakpoint(z[1] === 'Z', Number(z[2]), BigInt('0x' + z[3]), parseInt(z[4]!, 16));
    if (packet.startsWith('qRcmd,')) return hex(await this.monitor(Buffer.from(packet.slice(6), 'hex').toString('latin1').trim()));
    if (/^[GPMX]/.test(packet)) return 'E01'; // a recording is history: no writes
    if (packet === 'k') return undefined;
    if (packet.startsWith('D')) return 'OK';
    if (packet.startsWith('vCont') || packet.startsWith('vRun') || packet.startsWith('vAttach')) return '';
    // Everything else (registers, memory, threads, target description) is a read: pass it on.
    return e.gdbPacket(packet);
  }

  /**
   * `monitor` commands: time travel gdb has no command for. gdb does not know that the time
   * changed, so after `monitor seek` run `maintenance flush register-cache` (or any step).
   */
  private async monitor(cmd: string): Promise<string> {
    const e = this.engine;
    const [verb, arg] = cmd.split(/\s+/, 2);
    if (verb === 'icount' || verb === 'info') {
      return `icount ${e.icount} of ${e.end}; snapshots: ${e.snapshots().map((s) => `${s.name}@${s.icount}`).join(', ')}\n`;
    }
    if (verb === 'seek') {
      const n = Number(arg);
      if (!arg || !Number.isInteger(n) || n < 0) return 'usage: monitor seek ICOUNT\n';
      await e.seek(n);
      return `at icount ${e.icount}; now run: maintenance flush register-cache\n`;
    }
    return 'Rewind monitor commands: icount, seek ICOUNT\n';
  }

  private points(): { breakpoints: Breakpoint[]; watchpoints: Watchpoint[] } {
    return { breakpoints: [...this.breakpoints.values()], watchpoints: [...this.watchpoints.values()] };
  }

  private breakpoint(insert: boolean, type: number, address: bigint, size: number): string {
    const key = `${type}:${address}:${size}`;
    if (type <= 1) {
      if (insert) this.breakpoints.set(key, { address });
      else this.breakpoints.delete(key);
    } else {
      const access = type === 2 ? 'write' : type === 3 ? 'read' : 'readWrite';
      if (insert) this.watchpoints.set(key, { address, size, access });
      else this.watchpoints.delete(key);
    }
    return 'OK';
  }

  /** A T stop reply; gdb shows the end of the recording as "No more reverse-execution history". */
  private stopReply(stop: StopCause | { kind: 'start'; icount: 0 }): string {
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
        return 'T05thread:01;';
    }
  }
}

function hex(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}
