import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * A file that scripts/setup.sh builds into out/native/ (the QEMU plugins), in the checkout this
 * code runs from (out/recorder-bridge/... or dist/ both lie below it); undefined when not built.
 */
export function nativeFile(name: string): string | undefined {
  for (let d = __dirname; d !== dirname(d); d = dirname(d)) {
    const p = join(d, 'out', 'native', name);
    if (existsSync(p)) return p;
  }
  return undefined;
}
