import { basename } from 'node:path';

/** A new bundle's default name: KERNEL-YYYYMMDD-HHMMSS.rewind (local time), after the kernel file's name. */
export function defaultBundleName(kernel: string, now = new Date()): string {
  const base = basename(kernel).replace(/\.[^.]*$/, '') || 'guest';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${base}-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.rewind`;
}
