import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Connects to a Unix socket; rejects on the first error (callers retry while QEMU creates it). */
export function connectUnix(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Connects to a socket QEMU is still creating, and runs the protocol's handshake on it; both are
 * retried until `timeoutMs` has passed (QEMU may accept before it is ready to talk).
 */
export async function connectWithRetry<T>(path: string, what: string, timeoutMs: number, handshake: (s: Socket, msLeft: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let socket: Socket | undefined;
    try {
      socket = await connectUnix(path);
      return await handshake(socket, deadline - Date.now());
    } catch (e) {
      socket?.destroy();
      if (Date.now() > deadline) throw new Error(`cannot connect to ${what} ${path}: ${(e as Error).message}`);
      await sleep(50);
    }
  }
}
