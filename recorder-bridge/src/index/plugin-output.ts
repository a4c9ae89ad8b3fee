/**
 * The file the index plugin (recorder-bridge/native/rewind-index.c) writes: a magic, then one
 * record per "mark", each the executions per instruction address and the 4-byte grains written
 * during one bucket. The format is described in the plugin's header and docs/index-design.md.
 */
import { UserError } from '../errors';

/** RWNDIX02 was the same format with 8-byte grains, RWNDIX01 with 64-byte lines: an index of either is rebuilt (index-store.ts). */
export const PLUGIN_OUTPUT_MAGIC = 'RWNDIX03';
/** Written memory is recorded in grains of 2^2 = 4 bytes: grain n covers [n << 2, (n + 1) << 2). */
export const GRAIN_SHIFT = 2n;

/** One bucket as the plugin wrote it, without its time points (the engine knows where it marked). */
export interface PluginRecord {
  seq: number;
  /** Executions (attempts) per guest virtual address of an instruction. */
  counts: Map<bigint, number>;
  /** Written grains as runs: [first grain, number of grains], ascending, disjoint. */
  writes: Array<[bigint, number]>;
}

/** A cursor over a buffer of LEB128 varints (`what` names the buffer in errors). */
export class VarintReader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly end: number,
    private readonly what: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint that fits in a JavaScript number (counts, lengths). */
  small(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw damaged(this.what, 'a record ends in the middle of a number');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      if (scale > 2 ** 49) throw damaged(this.what, 'a count is too large');
    }
    return v;
  }

  /** A varint of up to 64 bits (addresses). */
  big(): bigint {
    // Most deltas are small: read them as numbers, and only long ones as bigints.
    const start = this.pos;
    let n = 0;
    while (n < 10 && this.pos + n < this.end && this.buf[this.pos + n]! >= 0x80) n++;
    if (n < 7) return BigInt(this.small());
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw damaged(this.what, 'a record ends in the middle of a number');
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7n;
      if (shift > 63n) throw damaged(this.what, `a number at byte ${start} is longer than 64 bits`);
    }
    return v;
  }
}

function damaged(what: string, why: string): UserError {
  return new UserError(`${what}: ${why}; the index pass's output is damaged`, 'bundle-damaged');
}

/** Parses a whole plugin output file (`what` names it in errors). */
export function parsePluginOutput(buf: Buffer, what: string): PluginRecord[] {
  if (buf.length < 8 || buf.toString('latin1', 0, 8) !== PLUGIN_OUTPUT_MAGIC) throw damaged(what, `it does not start with ${PLUGIN_OUTPUT_MAGIC}`);
  const out: PluginRecord[] = [];
  const outer = new VarintReader(buf, buf.length, what);
  outer.pos = 8;
  while (!outer.done) {
    const length = outer.small();
    const end = outer.pos + length;
    if (end > buf.length) throw damaged(what, `record ${out.length} is cut (${length} bytes announced, ${buf.length - outer.pos} there)`);
    const r = new VarintReader(buf, end, what);
    r.pos = outer.pos;
    out.push(parseRecord(r, out.length, what));
    if (r.pos !== end) throw damaged(what, `record ${out.length - 1} has ${end - r.pos} bytes left over`);
    outer.pos = end;
  }
  return out;
}

function parseRecord(r: VarintReader, index: number, what: string): PluginRecord {
  const seq = r.small();
  if (seq !== index) throw damaged(what, `record ${index} says it is number ${seq}`);
  const counts = new Map<bigint, number>();
  let vaddr = 0n;
  for (let n = r.small(), i = 0; i < n; i++) {
    vaddr += r.big();
    counts.set(vaddr, r.small());
  }
  const writes: Array<[bigint, number]> = [];
  let end = 0n;
  for (let n = r.small(), i = 0; i < n; i++) {
    const first = end + r.big();
    const grains = r.small();
    writes.push([first, grains]);
    end = first + BigInt(grains);
  }
  return { seq, counts, writes };
}
