/**
 * The recording the language server describes: its own session on the debug session's bridge
 * (a Debuggee: a bridge session with gdb on it), so that its queries and moves never disturb the
 * user's session, and the facts it has learned, cached. The user's position comes from outside
 * (the client's notifications, or the bridge's rewind/followedPosition).
 *
 * Everything that moves this session or talks to its gdb runs in one queue: a move and the
 * reads that depend on it must not interleave with another request's move.
 */
import { BridgeClient, toAddress } from '@rewind/core';
import { Debuggee, codeLocations, evaluate, sourceFacts, type SourceFacts } from '@rewind/adapter';
import type { RewindRecordingReach, TimePoint } from '@rewind/protocol';

/** A function or line of a source file, with how often it ran in the whole recording. */
export interface CountedSpot {
  name?: string;
  line: number;
  addresses: bigint[];
  count: number;
}

export interface FileCounts {
  fullname: string;
  functions: CountedSpot[];
  lines: CountedSpot[];
  /** Whether the recording's index answered (false: the bridge replayed to count). */
  indexed: boolean;
}

export type HitWhich = 'first' | 'previous' | 'next' | 'last';

export interface ValueAt {
  expression: string;
  value: string;
  address: bigint;
  size: number;
  writes: Array<{ icount: TimePoint; before?: string; after?: string; function?: string; path?: string; line?: number }>;
  /** The writes cover [from, icount]. */
  from: TimePoint;
}

/** How far back a hover looks for writes (the Value History view covers the whole recording). */
export const HOVER_WRITES_WINDOW = 20_000_000;

/** A search for a function's first/previous/next/last call, and its answer once found. */
interface HitSearch {
  search: Promise<TimePoint | undefined>;
  found?: { icount: TimePoint | undefined };
}

export class LinkedRecording {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly files = new Map<string, Promise<FileCounts>>();
  /**
   * first/last per function, and previous/next per function and position: the search, and its
   * answer once found (lenses asked for again, on a refresh, come resolved).
   */
  private readonly hits = new Map<string, HitSearch>();
  private disposed = false;

  private constructor(
    private readonly debuggee: Debuggee,
    readonly reach: RewindRecordingReach,
    private readonly log: (line: string) => void,
  ) {}

  static async open(reach: RewindRecordingReach, opts: { gdbPath?: string; log: (line: string) => void }): Promise<LinkedRecording> {
    const client = await BridgeClient.connect(toAddress(reach.bridge), reach.token, { client: 'rewind-lsp' });
    const debuggee = await Debuggee.open(
      { kind: 'remote', client, recording: reach.recording, address: reach.bridge, ...(reach.token !== undefined ? { token: reach.token } : {}) },
      {
        ...(reach.symbols.length > 0 ? { symbols: reach.symbols } : {}),
        sourceMap: reach.sourceMap,
        ...(opts.gdbPath ? { gdbPath: opts.gdbPath } : {}),
        stopOnEntry: false,
        trace: false,
        // The session's own gdb set-up is the user's console's; this gdb only reads facts.
        setupCommands: [],
        moduleFolders: [],
        log: opts.log,
      },
    );
    return new LinkedRecording(debuggee, reach, opts.log);
  }

  get end(): TimePoint {
    return this.debuggee.end;
  }

  /** The bridge connection (the caller may follow other sessions' positions on it). */
  get client(): BridgeClient {
    return this.debuggee.client;
  }

  /** Functions and lines of a source file with their counts over the whole recording (cached). */
  fileCounts(path: string): Promise<FileCounts> {
    let p = this.files.get(path);
    if (!p) {
      p = this.serial(async () => {
        const t0 = performance.now();
        const facts = await sourceFacts(this.debuggee.gdb, path);
        const t1 = performance.now();
        const counts = await this.count(facts);
        // Where a file's first request spends its time (issue 13's target: a whole file in ≤ 1 s).
        this.log(`${facts.fullname}: ${facts.functions.length} functions, ${facts.lines.length} lines with code; gdb ${((t1 - t0) / 1000).toFixed(3)} s, counts ${((performance.now() - t1) / 1000).toFixed(3)} s (${counts.indexed ? 'index' : 'replayed'})`);
        return counts;
      });
      this.files.set(path, p);
      p.catch(() => this.files.delete(path));
    }
    return p;
  }

  /**
   * The time point of a function's first, previous, next or last execution (previous and next
   * relative to `now`), by queries on this server's own session that do not move it: backward the
   * engine's indexed search for the last hit (rewind/lastHit), forward the first hit from a time
   * point (rewind/firstHit: the first candidate bucket of the index, then windows twice as large).
   */
  hit(name: string, addresses: bigint[], which: HitWhich, now: TimePoint): Promise<TimePoint | undefined> {
    const key = this.hitKey(name, which, now);
    which = key.which;
    const known = this.hits.get(key.key);
    if (!known) {
      const search = this.serial(async () => {
        const d = this.debuggee;
        const start = which === 'first' ? 0 : which === 'last' ? d.end : now;
        const bps = addresses.map((a) => `0x${a.toString(16)}`);
        // Queries, without moving this session (no seek to `now` first, no landing after).
        if (which === 'previous' || which === 'last') return (await d.client.lastHit(d.sessionId, bps, { before: start })).hit?.icount;
        return (await d.client.firstHit(d.sessionId, bps, { from: which === 'first' ? 0 : start + 1 })).hit?.icount;
      });
      const entry: HitSearch = { search };
      this.hits.set(key.key, entry);
      search.then(
        (icount) => (entry.found = { icount }),
        () => this.hits.delete(key.key),
      );
      return search;
    }
    return known.search;
  }

  /** What hit() has found already ({icount: undefined}: no such call), or undefined when not yet asked or still searching. */
  knownHit(name: string, which: HitWhich, now: TimePoint): { icount: TimePoint | undefined } | undefined {
    return this.hits.get(this.hitKey(name, which, now).key)?.found;
  }

  private hitKey(name: string, which: HitWhich, now: TimePoint): { key: string; which: HitWhich } {
    // At either end, previous and next are the last and first call: one search (and one cache entry) for both.
    if (which === 'previous' && now >= this.end) which = 'last';
    if (which === 'next' && now <= 0) which = 'first';
    return { key: `${name}\0${which}${which === 'previous' || which === 'next' ? `\0${now}` : ''}`, which };
  }

  /** An expression's value at `now` and the writes to it in the window before. */
  valueAt(expression: string, now: TimePoint): Promise<ValueAt> {
    return this.serial(async () => {
      const d = this.debuggee;
      await d.seek(now);
      const value = await evaluate(d.gdb, expression);
      const address = BigInt(await evaluate(d.gdb, `(unsigned long)&(${expression})`));
      const size = Number(await evaluate(d.gdb, `sizeof(${expression})`));
      const from = Math.max(0, now - HOVER_WRITES_WINDOW);
      const { hits } = now > 0 ? await d.client.writes(d.sessionId, address, size, { from, to: now, values: true }) : { hits: [] };
      const places = await codeLocations(d, hits.map((h) => h.address));
      const writes = hits.map((h) => {
        const at = places.get(h.address);
        return {
          icount: h.icount,
          ...(h.before ? { before: h.before } : {}),
          ...(h.value ? { after: h.value } : {}),
          ...(at?.function ? { function: at.function } : {}),
          ...(at?.path ? { path: at.path } : {}),
          ...(at?.line ? { line: at.line } : {}),
        };
      });
      return { expression, value, address, size, writes, from };
    });
  }

  /** Kills gdb and closes the session (its replay processes) and the bridge connection. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.debuggee.dispose();
  }

  private async count(facts: SourceFacts): Promise<FileCounts> {
    const d = this.debuggee;
    const all = [...new Set([...facts.functions, ...facts.lines].flatMap((s) => s.addresses))];
    const r = all.length > 0 ? await d.client.counts(d.sessionId, all) : { counts: [], indexed: true };
    const byAddress = new Map(r.counts.map((c) => [BigInt(c.address), c.count]));
    const total = (addresses: bigint[]) => addresses.reduce((n, a) => n + (byAddress.get(a) ?? 0), 0);
    return {
      fullname: facts.fullname,
      functions: onePerLine(facts.functions.filter((f) => f.addresses.length > 0).map((f) => ({ name: f.name, line: f.line, addresses: f.addresses, count: total(f.addresses) }))),
      lines: facts.lines.map((l) => ({ line: l.line, addresses: l.addresses, count: total(l.addresses) })),
      indexed: r.indexed,
    };
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.disposed) throw new Error('the recording was closed');
      return op();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * One function per line: a macro can define several on one line (Linux's SYSCALL_DEFINE3(setpriority,
 * ...) makes __x64_sys_, __ia32_sys_, __se_sys_ and __do_sys_setpriority), whose lenses would pile
 * up there. The one that ran most stands for the line: __do_sys_setpriority, inlined into both
 * entry points, counts every call.
 */
function onePerLine(functions: CountedSpot[]): CountedSpot[] {
  const best = new Map<number, CountedSpot>();
  for (const f of functions) {
    const b = best.get(f.line);
    if (!b || f.count > b.count) best.set(f.line, f);
  }
  return [...best.values()].sort((x, y) => x.line - y.line);
}
