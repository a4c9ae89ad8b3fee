import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { connectWithRetry } from '../util/unix-socket';

/** An asynchronous QMP event, e.g. { event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' } }. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export class QmpError extends Error {
  constructor(readonly command: string, readonly errorClass: string, desc: string) {
    super(`QMP ${command}: ${desc}`);
  }
}

export class QmpTimeoutError extends Error {
  constructor(readonly command: string, timeoutMs: number) {
    super(`QMP ${command}: QEMU did not answer within ${timeoutMs / 1000} s`);
  }
}

interface Pending {
  command: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * A small QMP client over a Unix socket: line-delimited JSON, commands answered in order with ids.
 * Emits 'event' (QmpEvent) and 'close'.
 */
export class QmpClient extends EventEmitter {
  private buffer = '';
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private closed = false;

  private constructor(private readonly socket: Socket) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => this.onClose());
  }

  /** Connects (retrying while QEMU creates the socket), reads the greeting, negotiates capabilities. */
  static connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    return connectWithRetry(path, "QEMU's QMP socket", timeoutMs, async (socket, msLeft) => {
      const client = new QmpClient(socket);
      await client.greeting(msLeft);
      await client.execute('qmp_capabilities');
      return client;
    });
  }


  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Runs a command. A QEMU whose main loop is stuck never answers, so every command has a
   * deadline (default 30 s) after which it fails with a QmpTimeoutError.
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`QMP ${command}: connection closed`));
    const id = String(this.nextId++);
    const msg = JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs);
      const settle = <F extends (v: never) => void>(f: F) => ((v: never) => {
        clearTimeout(timer);
        f(v);
      }) as F;
      this.pending.set(id, { command, resolve: settle(resolve as (v: unknown) => void), reject: settle(reject) });
      this.socket.write(msg + '\n');
    });
  }

  /** Runs a human monitor command (e.g. "savevm s1") and returns its text output. */
  hmp(commandLine: string): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine });
  }

  /** The current instruction count of a recording or replaying VM. */
  async icount(): Promise<number> {
    const r = await this.execute<{ icount?: number }>('query-replay');
    return r.icount ?? 0;
  }

  /**
   * Resolves once QEMU's end of the connection has closed, which is after every event it wrote has
   * been read (or after `timeoutMs`). An exited QEMU's last events can still be in the socket when
   * its exit is noticed: read them before judging why it exited.
   */
  whenClosed(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.removeListener('close', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.once('close', done);
    });
  }

  close(): void {
    this.socket.destroy();
    this.onClose();
  }

  private greetingWaiter?: (ok: boolean) => void;

  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no QMP greeting')), Math.max(timeoutMs, 100));
      this.greetingWaiter = (ok) => {
        clearTimeout(t);
        if (ok) resolve();
        else reject(new Error('connection closed before the QMP greeting'));
      };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('QMP' in msg) {
      this.greetingWaiter?.(true);
      this.greetingWaiter = undefined;
      return;
    }
    if (typeof msg.event === 'string') {
      this.emit('event', msg as unknown as QmpEvent);
      return;
    }
    const id = msg.id as string | undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p) return;
    this.pending.delete(id!);
    if ('error' in msg) {
      const err = msg.error as { class?: string; desc?: string };
      p.reject(new QmpError(p.command, err.class ?? 'GenericError', err.desc ?? 'failed'));
    } else {
      p.resolve(msg.return);
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.greetingWaiter?.(false);
    for (const p of this.pending.values()) p.reject(new Error(`QMP ${p.command}: QEMU closed the connection`));
    this.pending.clear();
    this.emit('close');
  }
}
