import { EventEmitter } from 'node:events';
import { CancelledError } from '../errors';
import type { TimePoint } from '../timepoint';

/** One line of console output, with the icount observed when its end reached the host. */
export interface ConsoleLine {
  text: string;
  /**
   * An upper bound of the time point at which the guest printed the line: the icount QEMU reported
   * just after the line's newline arrived on the host. Absent when it could not be read.
   */
  icount?: TimePoint;
}

/**
 * Everything the guest printed on its serial console, as raw bytes (kept as a latin1 string so
 * that every byte survives) and as lines. Emits 'data' on every chunk.
 */
export class ConsoleTranscript extends EventEmitter {
  private text = '';
  private partial = '';
  readonly lines: ConsoleLine[] = [];

  get raw(): string {
    return this.text;
  }

  get length(): number {
    return this.text.length;
  }

  /** Adds a chunk; returns the lines it completed (their icount is stamped later). */
  append(chunk: Buffer): ConsoleLine[] {
    const s = chunk.toString('latin1');
    this.text += s;
    const done: ConsoleLine[] = [];
    const parts = (this.partial + s).split('\n');
    this.partial = parts.pop()!;
    for (const p of parts) {
      const line: ConsoleLine = { text: p.replace(/\r+$/, '') };
      this.lines.push(line);
      done.push(line);
    }
    this.emit('data', s);
    return done;
  }

  /** Closes the last unterminated line, if any, at the end of a recording. */
  finish(icount?: TimePoint): void {
    if (this.partial.replace(/\r/g, '') !== '') {
      this.lines.push({ text: this.partial.replace(/\r+$/, ''), ...(icount === undefined ? {} : { icount }) });
    }
    this.partial = '';
  }

  /** The last few lines, for progress display. */
  tail(n: number): string[] {
    const all = this.lines.map((l) => l.text);
    if (this.partial) all.push(this.partial.replace(/\r/g, ''));
    return all.slice(-n);
  }

  /**
   * Waits until `text` appears in the output at or after `from`; resolves with the offset just past
   * the match. Rejects on timeout (with `onTimeout`'s error) or cancellation.
   */
  waitFor(text: string, from: number, opts: { timeoutMs: number; signal?: AbortSignal; onTimeout: () => Error }): Promise<number> {
    const found = this.text.indexOf(text, from);
    if (found >= 0) return Promise.resolve(found + text.length);
    return new Promise<number>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.removeListener('data', onData);
        this.removeListener('closed', onClosed);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onData = () => {
        // Search only the tail that can contain a new match.
        const start = Math.max(from, this.text.length - 4096 - text.length);
        const i = this.text.indexOf(text, start);
        if (i >= 0) {
          cleanup();
          resolve(i + text.length);
        }
      };
      const onClosed = () => {
        cleanup();
        reject(opts.onTimeout());
      };
      const onAbort = () => {
        cleanup();
        reject(new CancelledError('recording input'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(opts.onTimeout());
      }, opts.timeoutMs);
      this.on('data', onData);
      this.once('closed', onClosed);
      opts.signal?.addEventListener('abort', onAbort);
    });
  }

  /** Marks the console as closed (the guest is gone): pending waits fail at once. */
  close(): void {
    this.emit('closed');
  }
}
