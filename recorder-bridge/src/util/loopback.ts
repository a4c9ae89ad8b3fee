import { isIPv4, isIPv6 } from 'node:net';

/** 127.0.0.0/8, ::1, ::ffff:127.x.y.z and "localhost". */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === 'localhost.') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^(?:0:0:0:0:0|):ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h.startsWith('::') ? h.slice(1) : h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}
