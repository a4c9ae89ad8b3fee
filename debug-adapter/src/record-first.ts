/**
 * A launch configuration with "record": the recording is made first (a long operation with
 * progress, cancellable), then debugged.
 */
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { defaultBundleName } from '@rewind/core';
import { record } from '@rewind/core';
import type { NormalizedRecordSpec } from './launch-config';
import type { LongOperations } from './long-operation';

/** Records, with progress shown on the launch request; answers the new bundle's path. */
export async function recordFirst(spec: NormalizedRecordSpec, requestSeq: number, cwd: string, ops: LongOperations, log: (line: string) => void): Promise<string> {
  const out = spec.out ?? join(cwd, 'recordings', defaultBundleName(spec.kernel));
  await fs.mkdir(dirname(out), { recursive: true });
  const run = ops.begin(requestSeq, `Recording ${basename(spec.kernel)}`, { current: 'always', showNow: true });
  let last = 0;
  try {
    const result = await record({
      ...spec,
      out,
      signal: run.signal,
      onProgress: (p) => {
        // At most four updates a second.
        if (Date.now() - last < 250) return;
        last = Date.now();
        const tail = p.consoleTail[p.consoleTail.length - 1] ?? '';
        run.message(`${p.phase}: ${(p.icount / 1e6).toFixed(1)}M instructions, ${Math.round(p.elapsedMs / 1000)} s${tail ? ` — ${tail.slice(0, 60)}` : ''}`);
      },
    });
    log(`Rewind: recorded ${result.bundle} (${result.stopReason}${result.stopDetail ? `: ${result.stopDetail}` : ''})`);
    for (const w of result.warnings) log(`Rewind: warning: ${w}`);
    return result.bundle;
  } finally {
    run.end();
  }
}
