/**
 * The Debug Adapter Protocol's wire format (a `Content-Length: N` header, an empty line, N bytes
 * of UTF-8 JSON), for the extension's executable adapter mode: the extension runs
 * `node dist/dap.js` itself and relays its messages (extension/adapter.ts says why). Never
 * imports `vscode`.
 */

/** One message as it goes on the wire. */
export function encodeDapMessage(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

/**
 * Splits a byte stream into messages, whatever the chunks: push() each chunk as it arrives;
 * each complete message is passed to `onMessage`. A malformed header or body throws (the stream
 * cannot be resynchronised).
 */
export class DapMessageReader {
  private buffer: Buffer = Buffer.alloc(0);
  private bodyLength = -1;

  constructor(private readonly onMessage: (message: unknown) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.bodyLength < 0) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buffer.length > 8192) throw new Error('DAP stream: no header end within 8 KiB');
          return;
        }
        const header = this.buffer.subarray(0, end).toString('ascii');
        const m = /(?:^|\r\n)Content-Length:\s*(\d+)\s*(?:\r\n|$)/i.exec(header);
        if (!m) throw new Error(`DAP stream: header without Content-Length: ${JSON.stringify(header.slice(0, 200))}`);
        this.bodyLength = Number(m[1]);
        this.buffer = this.buffer.subarray(end + 4);
      }
      if (this.buffer.length < this.bodyLength) return;
      const body = this.buffer.subarray(0, this.bodyLength).toString('utf8');
      this.buffer = this.buffer.subarray(this.bodyLength);
      this.bodyLength = -1;
      this.onMessage(JSON.parse(body));
    }
  }
}
