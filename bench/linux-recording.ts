/** The recording a Linux benchmark measures: --bundle with --symbols, or the Linux fixture; its index built first when missing. */
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { buildIndex } from '../recorder-bridge/src/index/index-pass';
import { ensureLinuxFixture } from '../test/linux-fixture';
import { progress } from './common';

export async function indexedLinuxRecording(bench: string, bundlePath: string | undefined, symbols: string | undefined): Promise<{ bundlePath: string; symbols: string; bundle: Bundle }> {
  if (!bundlePath) {
    const f = await ensureLinuxFixture();
    bundlePath = f.bundle;
    symbols = f.vmlinux;
  }
  if (!symbols) throw new Error('--bundle needs --symbols (the vmlinux)');
  const bundle = await Bundle.open(bundlePath);
  progress(`bench/${bench}: the index (built if missing)`);
  await buildIndex(bundle);
  return { bundlePath, symbols, bundle };
}
