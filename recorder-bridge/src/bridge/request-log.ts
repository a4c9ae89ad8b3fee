import { closeSync, openSync, writeSync } from 'node:fs';
import { UserError } from '../errors';

/**
 * One line per request (and per connection event), to a file or stderr. A file is written
 * synchronously, so that no line is lost when a signal ends the process.
 */
export class RequestLog {
  private readonly out?: NodeJS.WritableStream;
  private fd?: number;

  constructor(target: string | NodeJS.WritableStream | undefined) {
    if (typeof target === 'string') {
      try {
        this.fd = openSync(target, 'a', 0o600);
      } catch (e) {
        throw new UserError(`cannot open the log ${target}: ${(e as Error).message}`, 'bad-option');
      }
    } else {
      this.out = target ?? process.stderr;
    }
  }

  line(text: string): void {
    const l = `${new Date().toISOString()} ${text}\n`;
    if (this.fd !== undefined) {
      try {
        writeSync(this.fd, l);
      } catch {
        // a full disk must not stop the bridge
      }
    } else {
      this.out?.write(l);
    }
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
