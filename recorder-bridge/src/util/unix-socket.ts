import { promises as fs } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors';

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

/** What is at a socket path: nothing, a socket nobody listens on, a live socket, or another file. */
export async function socketState(path: string): Promise<'none' | 'stale' | 'live' | 'not-socket'> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch {
    return 'none';
  }
  if (!st.isSocket()) return 'not-socket';
  try {
    (await connectUnix(path)).destroy();
    return 'live';
  } catch {
    return 'stale';
  }
}

/**
 * Listens on a Unix socket created with mode 0600 (only its owner may connect). A stale socket
 * file (its server died) is replaced; a live one or another file is refused.
 */
export async function listenUnixSocket(server: Server, path: string): Promise<void> {
  const state = await socketState(path);
  if (state === 'live') throw new UserError(`something is already listening on ${path}`, 'address-in-use');
  if (state === 'not-socket') throw new UserError(`${path} exists and is not a socket; remove it or choose another path`, 'address-in-use');
  if (state === 'stale') await fs.rm(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(new UserError(`cannot listen on ${path}: ${e.message}`, 'listen-failed'));
    server.once('error', onError);
    // The umask only while the socket file is created (bind happens inside listen()).
    const old = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.removeListener('error', onError);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
  await fs.chmod(path, 0o600);
}
