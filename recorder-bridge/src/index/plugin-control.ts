/**
 * The index plugin's control socket: one line per command ("mark", "drop"), one line per answer
 * ("ok BYTES" or "err MESSAGE"). The plugin serves it from a thread of its own; commands are only
 * sent while the replay is paused (see recorder-bridge/native/rewind-index.c).
 */
import type { Socket } from 'node:net';
import { connectWithRetry } from '../util/unix-socket';

/** How long an answer may take: a mark of a Linux bucket scans a few hundred thousand counters. */
const ANSWER_MS = 30_000;

export class PluginControl {
  private pending = '';
  private waiter?: { resolve: (line: string) => void; reject: (e: Error) => void };
  private closedWith?: Error;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.pending += d;
      const nl = this.pending.indexOf('\n');
      if (nl < 0 || !this.waiter) return;
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(line);
    });
    const closed = (e?: Error) => {
      this.closedWith ??= e ?? new Error('the index plugin closed its control socket (the replay process ended?)');
      this.waiter?.reject(this.closedWith);
      this.waiter = undefined;
    };
    socket.on('error', closed);
    socket.on('close', () => closed());
  }

  /** Connects to the plugin of a process that has just started (it listens before QEMU's main loop runs). */
  static async connect(path: string): Promise<PluginControl> {
    return connectWithRetry(path, 'the index plugin at', 10_000, async (s) => new PluginControl(s));
  }

  /** Ends the bucket: the plugin appends it to its output; resolves to the record's size in bytes. */
  async mark(): Promise<number> {
    return this.command('mark');
  }

  /** Discards the bucket (what ran before the first boundary). */
  async drop(): Promise<void> {
    await this.command('drop');
  }

  close(): void {
    this.socket.destroy();
  }

  private async command(cmd: string): Promise<number> {
    if (this.closedWith) throw this.closedWith;
    if (this.waiter) throw new Error('index plugin: a command is already in flight');
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<string>((resolve, reject) => {
      this.waiter = { resolve, reject };
      timer = setTimeout(() => reject(new Error(`the index plugin did not answer "${cmd}" within ${ANSWER_MS / 1000} s`)), ANSWER_MS);
    });
    try {
      this.socket.write(`${cmd}\n`);
      const line = await answer;
      const m = /^ok (\d+)$/.exec(line);
      if (!m) throw new Error(`the index plugin answered "${cmd}" with "${line}"`);
      return Number(m[1]);
    } finally {
      clearTimeout(timer);
      this.waiter = undefined;
    }
  }
}
