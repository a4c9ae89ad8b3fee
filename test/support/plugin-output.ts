/** The index plugin's output (recorder-bridge/native/rewind-index.c, "OUTFILE format") written by hand, for unit tests. */
import { PLUGIN_OUTPUT_MAGIC } from '../../recorder-bridge/src/index/plugin-output';

function varint(v: bigint): number[] {
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}

/** The plugin's output for buckets of (address -> count) and written grain runs. */
export function pluginOutput(buckets: Array<{ counts: Array<[bigint, number]>; grains?: Array<[bigint, number]> }>): Buffer {
  const bytes: number[] = [...Buffer.from(PLUGIN_OUTPUT_MAGIC, 'latin1')];
  buckets.forEach((b, seq) => {
    const r: number[] = [...varint(BigInt(seq)), ...varint(BigInt(b.counts.length))];
    let prev = 0n;
    for (const [a, c] of [...b.counts].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
      r.push(...varint(a - prev), ...varint(BigInt(c)));
      prev = a;
    }
    const grains = b.grains ?? [];
    r.push(...varint(BigInt(grains.length)));
    let end = 0n;
    for (const [first, n] of grains) {
      r.push(...varint(first - end), ...varint(BigInt(n)));
      end = first + BigInt(n);
    }
    bytes.push(...varint(BigInt(r.length)), ...r);
  });
  return Buffer.from(bytes);
}

