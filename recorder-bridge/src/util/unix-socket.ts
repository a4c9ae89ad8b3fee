import { connect, type Socket } from 'node:net';

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
