/** Listening for the bridge: a Unix socket (a stale one left by a dead bridge is cleared) or TCP, and the token file. */
import { promises as fs } from 'node:fs';
import { createConnection, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors';

export function listenOn(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      reject(e.code === 'EADDRINUSE' ? new UserError(`the address is in use (${e.message}); is another bridge running?`, 'address-in-use') : new UserError(`cannot listen: ${e.message}`, 'listen-failed'));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    start();
  });
}

/** A socket file left by a bridge that died is removed; a live bridge's is not. */
export async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new UserError(`${path} exists and is not a socket; remove it or pass another --socket`, 'address-in-use');
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new UserError(`another bridge is listening on ${path}; stop it or pass another --socket`, 'address-in-use');
  await fs.rm(path, { force: true });
}

/** Writes a secret readable by its owner only (a fresh file renamed into place). */
export async function writeSecret(file: string, secret: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    await fs.writeFile(tmp, secret + '\n', { mode: 0o600, flag: 'wx' });
    await fs.chmod(tmp, 0o600);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw new UserError(`cannot write the token file ${file}: ${(e as Error).message}`, 'bad-option');
  }
}
