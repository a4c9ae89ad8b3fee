import type { Socket } from 'node:net';
import { connectWithRetry } from '../util/unix-socket';

/**
 * A small client of the GDB remote serial protocol, for talking to QEMU's gdbstub directly (the
 * replay engine reads registers and memory, and sets breakpoints, without a gdb process).
 * One request at a time; no-ack mode once negotiated.
 */
export class RspClient {
  private buf = '';
  private waiter?: { resolve(packet: string): void; reject(e: Error): void };
  private noAck = false;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('close', () => this.onClose());
    socket.on('error', () => this.onClose());
  }

  static connect(path: string, timeoutMs = 10_000): Promise<RspClient> {
    return connectWithRetry(path, 'the gdbstub at', timeoutMs, async (socket) => {
      const c = new RspClient(socket);
      await c.request('qSupported:swbreak+;hwbreak+');
      if ((await c.request('QStartNoAckMode')) === 'OK') c.noAck = true;
      return c;
    });
  }


  /** Sends one packet and waits for its reply (serialised with every other request). */
  request(payload: string, timeoutMs = 30_000): Promise<string> {
    const run = () => this.exchange(payload, timeoutMs);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.socket.destroy();
    this.onClose();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends ^C: the target stops and the pending continue/step request gets its stop reply. */
  interrupt(): void {
    if (!this.closed) this.socket.write('\x03');
  }

  private exchange(payload: string, timeoutMs: number): Promise<string> {
    if (this.closed) return Promise.reject(new Error('gdbstub connection closed'));
    return new Promise<string>((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`gdbstub did not answer "${payload.slice(0, 20)}" within ${timeoutMs / 1000} s`));
      }, timeoutMs) : undefined;
      this.waiter = {
        resolve: (p) => {
          if (timer) clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          if (timer) clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write(frame(payload));
      this.drain();
    });
  }

  private onData(d: string): void {
    this.buf += d;
    this.drain();
  }

  private drain(): void {
    for (;;) {
      // Skip acks and stray bytes up to the next packet start.
      const start = this.buf.indexOf('$');
      if (start < 0) {
        this.buf = '';
        return;
      }
      const hash = this.buf.indexOf('#', start);
      if (hash < 0 || this.buf.length < hash + 3) {
        this.buf = this.buf.slice(start);
        return;
      }
      const body = this.buf.slice(start + 1, hash);
      this.buf = this.buf.slice(hash + 3);
      if (!this.noAck) this.socket.write('+');
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve(decodeRunLength(body));
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.waiter?.reject(new Error('gdbstub connection closed'));
    this.waiter = undefined;
  }
}

function frame(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return `$${payload}#${sum.toString(16).padStart(2, '0')}`;
}

/** Expands the protocol's run-length encoding: "X*" + (n+29) repeats X n more times. */
export function decodeRunLength(s: string): string {
  if (s.indexOf('*') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '*' && i + 1 < s.length && out.length > 0) {
      out += out[out.length - 1]!.repeat(s.charCodeAt(i + 1) - 29);
      i++;
    } else out += c;
  }
  return out;
}
