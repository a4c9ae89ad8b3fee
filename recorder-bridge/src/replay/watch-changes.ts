/**
 * Write watchpoints that trigger only where a write changes the watched bytes: gdb's `watch` (the
 * gdb relay's Z2 and a DAP data breakpoint through it). gdb ignores a write of the value already
 * there and resumes, and each resume of a reverse continue is a new search and landing (seconds
 * far back); a variable written over and over with the same value, or never changed at all, made
 * one reverse watch dozens of them. Filtered in the run itself, a search goes on past such writes.
 *
 * The bytes are read when a run starts and after every report; a report whose watched bytes all
 * read as before is not a trigger. Bytes that cannot be read (not mapped) always trigger: gdb then
 * decides, as before.
 */
import type { Watchpoint } from './worker-types';

type ReadMemory = (address: bigint, length: number) => Promise<Buffer>;

export class ChangeFilter {
  private constructor(
    private readonly read: ReadMemory,
    private readonly watched: Watchpoint[],
    private readonly others: Watchpoint[],
    private values: Array<Buffer | undefined>,
  ) {}

  /** The filter of a run with these watchpoints; undefined when none watches for changes. */
  static async start(watchpoints: readonly Watchpoint[], read: ReadMemory): Promise<ChangeFilter | undefined> {
    const watched = watchpoints.filter((w) => w.changes === true && w.access === 'write');
    if (watched.length === 0) return undefined;
    const others = watchpoints.filter((w) => !watched.includes(w));
    const f = new ChangeFilter(read, watched, others, []);
    f.values = await f.readAll();
    return f;
  }

  /**
   * Whether a watchpoint report at `dataAddress` is a trigger: one of the other watchpoints covers
   * it, or a changes-watchpoint's bytes differ from the last read (which this read replaces).
   */
  async triggers(dataAddress: bigint): Promise<boolean> {
    if (this.others.some((w) => dataAddress >= w.address && dataAddress < w.address + BigInt(w.size))) return true;
    const now = await this.readAll();
    const changed = now.some((v, i) => v === undefined || this.values[i] === undefined || !v.equals(this.values[i]!));
    this.values = now;
    return changed;
  }

  private readAll(): Promise<Array<Buffer | undefined>> {
    return Promise.all(this.watched.map((w) => this.read(w.address, w.size).catch(() => undefined)));
  }
}
