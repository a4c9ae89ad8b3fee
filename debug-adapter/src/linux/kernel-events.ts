/**
 * Panics, oopses, BUG()s and warnings over the whole recording of a Linux guest: one multi-address
 * hits query (the bridge's rewind/hits, replayed slice by slice) on the kernel's reporting
 * functions, classified, then (for the first few) what the kernel said, read at each one's time
 * point.
 *
 * When it runs: never unless asked. The first rewind/kernelEvents waits for the scan (progress,
 * cancellable); the first rewind/events starts it in the background and answers at once (the
 * adapter announces the result with rewind/eventsChanged). The scan runs in a bridge session of
 * its own, opened for it and closed after it, so the user's session is never blocked by it (it
 * competes for CPU only). Its result is kept for the debug session.
 */
import type { BridgeClient, TimePoint } from '@rewind/core';
import type { BridgeTaskProbe } from '@rewind/protocol';
import type { EventsResult, KernelEventKindName, RewindEvent, RewindEventsResponse, RewindKernelEvent, RewindKernelEventKind } from '@rewind/protocol';
import { CancelledRequestError } from '../errors';
import type { LinuxReportingFunction } from './linux-kernel';

export const KERNEL_KIND_NAME: Record<RewindKernelEventKind, KernelEventKindName> = {
  panic: 'kernel-panic',
  oops: 'kernel-oops',
  bug: 'kernel-bug',
  warning: 'kernel-warning',
  'module-load': 'kernel-module-load',
  'module-unload': 'kernel-module-unload',
  'task-switch': 'kernel-task-switch',
};
const KIND_OF_NAME = new Map(Object.entries(KERNEL_KIND_NAME).map(([k, v]) => [v as string, k as RewindKernelEventKind]));

/** A report_bug() followed by oops_begin() this close is a BUG() (a WARN() goes to __warn instead). */
const BUG_TO_OOPS_MAX = 5_000_000;
/** At most this many problems get their message read (each costs a seek of the scan session). */
const MAX_MESSAGES = 12;
/** At most this many module loads and unloads get their module's name read (in time order: forward seeks). */
const MAX_MODULE_NAMES = 200;
const MODULE_KINDS: ReadonlySet<RewindKernelEventKind> = new Set(['module-load', 'module-unload']);

export interface KernelHit {
  icount: TimePoint;
  function: LinuxReportingFunction;
  address: bigint;
  /** The task that runs at the hit (the bridge's task sample), when known. */
  task?: { pid: number; comm: string };
}

export type ClassifiedEvent = Omit<RewindKernelEvent, 'eventIndex'>;

/**
 * From the hits of the reporting functions, in time order, the kernel events: panic() is a panic,
 * __warn() a warning; oops_begin() is an oops, unless report_bug() ran just before without a
 * __warn() in between: then the report_bug() hit is a BUG() (its time point shows the BUG's stack).
 */
export function classifyKernelHits(hits: KernelHit[]): ClassifiedEvent[] {
  const sorted = [...hits].sort((a, b) => a.icount - b.icount);
  const out: ClassifiedEvent[] = [];
  let pendingBug: KernelHit | undefined;
  const ev = (h: KernelHit, kind: RewindKernelEventKind): ClassifiedEvent => ({ icount: h.icount, kind, function: h.function, address: `0x${h.address.toString(16)}` });
  for (const h of sorted) {
    switch (h.function) {
      case 'report_bug':
        pendingBug = h;
        break;
      case '__warn':
        pendingBug = undefined;
        out.push(ev(h, 'warning'));
        break;
      case 'oops_begin':
        if (pendingBug && h.icount - pendingBug.icount <= BUG_TO_OOPS_MAX) out.push(ev(pendingBug, 'bug'));
        else out.push(ev(h, 'oops'));
        pendingBug = undefined;
        break;
      case 'panic':
        out.push(ev(h, 'panic'));
        break;
      case 'do_init_module':
        out.push(ev(h, 'module-load'));
        break;
      case 'free_module':
        out.push(ev(h, 'module-unload'));
        break;
      case 'finish_task_switch':
        // Runs on the task switched to: the task the bridge read there is the one that runs from here.
        out.push({ ...ev(h, 'task-switch'), ...(h.task ? { message: `${h.task.comm} [${h.task.pid}]` } : {}) });
        break;
    }
  }
  return out.sort((a, b) => a.icount - b.icount);
}

export interface KernelEventScannerDeps {
  client: BridgeClient;
  /** The bundle, as the bridge knows it (rewind/open). */
  bundle: string;
  /** The user's session: the fallback when a session of its own cannot be opened (then no messages). */
  mainSessionId: string;
  functions: ReadonlyMap<LinuxReportingFunction, bigint>;
  /** How many events the event index has (kernel events are numbered after them). */
  indexSize(): Promise<number>;
  /** "panic+0x12" for a code address, when gdb is free to say. */
  symbolize?(address: bigint): Promise<string | undefined>;
  /** offsetof(struct module, name), from the vmlinux (module events' names). */
  moduleNameOffset?(): Promise<number | undefined>;
  /** What the bridge reads to tell which task runs at a hit (task switches' names). */
  taskProbe?(): Promise<BridgeTaskProbe | undefined>;
  /**
   * The scan's result changed: 'partial' (a phased scan has its problems and module events, the
   * task switches follow), 'done', or 'failed' (not when cancelled).
   */
  onChange?(state: 'partial' | 'done' | 'failed'): void;
  log?(line: string): void;
}

export interface ScanOptions {
  signal?: AbortSignal;
  /** A background scan keeps going when nobody waits for it any more. */
  background?: boolean;
  /** Called when this call starts a scan: progress and cancellation of the scan as a whole. */
  onStart?(job: ScanJobHandle): void;
}

export interface ScanJobHandle {
  /** Stops the scan (everyone waiting gets a cancellation). */
  cancel(): void;
  /** Progress of the hits query, in instructions replayed. */
  onProgress(cb: (done: number, total: number) => void): void;
  /** Resolves when the scan ends, whatever the outcome. */
  readonly finished: Promise<void>;
}

interface Job {
  promise: Promise<RewindKernelEvent[]>;
  abort: AbortController;
  waiters: number;
  background: boolean;
  progress: Array<(done: number, total: number) => void>;
}

export class KernelEventScanner {
  private job?: Job;
  private events?: RewindKernelEvent[];
  /** A phased scan's events before its task switches (until the scan ends). */
  private first?: RewindKernelEvent[];
  private failed?: Error;
  private disposed = false;

  constructor(private readonly deps: KernelEventScannerDeps) {}

  get state(): 'idle' | 'scanning' | 'partial' | 'done' | 'failed' {
    return this.events ? 'done' : this.job ? (this.first ? 'partial' : 'scanning') : this.failed ? 'failed' : 'idle';
  }

  /** What is known so far: the whole result, or a phased scan's first part (state 'partial'). */
  get known(): RewindKernelEvent[] | undefined {
    return this.events ?? (this.job ? this.first : undefined);
  }

  /** Why the last scan failed (state 'failed'). */
  get failure(): string | undefined {
    return this.failed?.message;
  }

  /** The events, once a scan finished. */
  get result(): RewindKernelEvent[] | undefined {
    return this.events;
  }

  get functions(): Array<{ name: string; address: string }> {
    return [...this.deps.functions].map(([name, a]) => ({ name, address: `0x${a.toString(16)}` }));
  }

  /** The events: cached, or the running scan's, or a new scan's. */
  async scan(opts: ScanOptions = {}): Promise<RewindKernelEvent[]> {
    if (this.events) return this.events;
    if (this.disposed) throw new CancelledRequestError('the debug session has ended');
    if (opts.signal?.aborted) throw new CancelledRequestError();
    let job = this.job;
    if (!job) {
      job = this.start(opts.background ?? false);
      opts.onStart?.({
        cancel: () => job!.abort.abort(),
        onProgress: (cb) => job!.progress.push(cb),
        finished: job.promise.then(
          () => undefined,
          () => undefined,
        ),
      });
    } else if (!opts.background) {
      job.background = false;
    }
    if (opts.background) return job.promise;
    const j = job;
    j.waiters++;
    return new Promise<RewindKernelEvent[]>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        j.waiters--;
        // Nobody waits any more: stop replaying for nothing.
        if (j.waiters === 0 && !j.background) j.abort.abort();
        reject(new CancelledRequestError());
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      j.promise.then(
        (v) => {
          if (settled) return;
          settled = true;
          j.waiters--;
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          if (settled) return;
          settled = true;
          j.waiters--;
          opts.signal?.removeEventListener('abort', onAbort);
          reject(j.abort.signal.aborted ? new CancelledRequestError() : e);
        },
      );
    });
  }

  /** Stops a running scan (its session closes); the cached result stays. */
  dispose(): void {
    this.disposed = true;
    this.job?.abort.abort();
  }

  private start(background: boolean): Job {
    const job: Job = { promise: Promise.resolve([]), abort: new AbortController(), waiters: 0, background, progress: [] };
    this.failed = undefined;
    this.first = undefined;
    job.promise = this.work(job).then(
      (events) => {
        if (this.job === job) this.job = undefined;
        this.events = events;
        this.deps.onChange?.('done');
        return events;
      },
      (e: unknown) => {
        if (this.job === job) this.job = undefined;
        // A cancelled scan starts over next time; a failed one is reported (and retried when asked again).
        if (!job.abort.signal.aborted) {
          this.failed = e instanceof Error ? e : new Error(String(e));
          this.deps.onChange?.('failed');
        }
        throw e;
      },
    );
    job.promise.catch(() => undefined);
    this.job = job;
    return job;
  }

  private async work(job: Job): Promise<RewindKernelEvent[]> {
    const { client } = this.deps;
    const signal = job.abort.signal;
    const names = new Map<string, LinuxReportingFunction>();
    for (const [name, a] of this.deps.functions) names.set(a.toString(16), name);
    let sessionId: string;
    let own = true;
    try {
      sessionId = (await client.open(this.deps.bundle)).sessionId;
    } catch (e) {
      // A bridge at its session limit: scan in the user's session (it waits meanwhile), without messages.
      if (job.background) throw e;
      this.deps.log?.(`Rewind: scanning for kernel events in the debug session itself (${(e as Error).message})`);
      sessionId = this.deps.mainSessionId;
      own = false;
    }
    const closeOwn = () => (own ? client.close(sessionId).catch(() => undefined) : Promise.resolve());
    // Cancelling closes the scan's session at once: its replay processes go.
    const onAbort = () => void closeOwn();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal.aborted) throw new CancelledRequestError();
      const task = await this.deps.taskProbe?.().catch(() => undefined);
      // Progress of the whole scan: each query's share of it, weighted.
      const shares: Array<{ weight: number; done: number }> = [];
      const hitsOf = async (functions: bigint[], withTask: boolean, weight: number): Promise<KernelHit[]> => {
        const share = { weight, done: 0 };
        shares.push(share);
        const sub = client.onProgress((p) => {
          if (p.sessionId !== sessionId || p.total <= 0) return;
          share.done = Math.min(1, p.done / p.total);
          const whole = shares.reduce((n, x) => n + x.weight * x.done, 0);
          for (const cb of job.progress) cb(Math.round(whole * 1000), 1000);
        });
        const r = await client.hits(sessionId, functions, { signal, ...(withTask && task ? { task } : {}) }).finally(() => sub.dispose());
        return r.hits.flatMap((h) => {
          const fn = names.get(BigInt(h.address).toString(16));
          return fn ? [{ icount: h.icount, function: fn, address: BigInt(h.address), ...(h.task ? { task: { pid: h.task.pid, comm: h.task.comm } } : {}) }] : [];
        });
      };
      const base = await this.deps.indexSize();
      const switches = this.deps.functions.get('finish_task_switch');
      const others = [...this.deps.functions].filter(([name]) => name !== 'finish_task_switch').map(([, a]) => a);
      // With the recording's index the rare functions' hits come from a few buckets, the task
      // switches (hundreds, each stopped at to read the task) from most of the recording: the
      // problems and module events are told first. Without it each query replays the whole
      // recording, and one query does both.
      const phased = switches !== undefined && others.length > 0 && (await client.indexStatus(sessionId).catch(() => undefined))?.state === 'ready';
      if (!phased) {
        const classified = classifyKernelHits(await hitsOf([...this.deps.functions.values()], true, 1));
        if (own) await this.readMessages(sessionId, classified, signal);
        return classified.map((e, i) => ({ ...e, eventIndex: base + i }));
      }
      // One part after the other: on the Linux fixture (2 cores) the first part came after 9-11 s and
      // the whole after 34-35 s (one pass: 26 s); the task switches in a second session at the same
      // time made the first part 15.7 s and the whole no sooner (35.7 s): their replay keeps both
      // cores busy.
      const first = classifyKernelHits(await hitsOf(others, false, 0.1));
      if (own) await this.readMessages(sessionId, first, signal);
      if (signal.aborted) throw new CancelledRequestError();
      const told = first.map((e, i) => ({ ...e, eventIndex: base + i }));
      this.first = told;
      this.deps.onChange?.('partial');
      // Numbered after the first part's, which clients may already hold.
      const more = classifyKernelHits(await hitsOf([switches], true, 0.9)).map((e, i) => ({ ...e, eventIndex: base + told.length + i }));
      return [...told, ...more].sort((a, b) => a.icount - b.icount);
    } finally {
      signal.removeEventListener('abort', onAbort);
      await closeOwn();
    }
  }

  /**
   * What the kernel said at each problem (the most severe first, at most MAX_MESSAGES), and the
   * module of each load and unload, read in the scan's session.
   */
  private async readMessages(sessionId: string, events: ClassifiedEvent[], signal: AbortSignal): Promise<void> {
    const rank: Record<RewindKernelEventKind, number> = { panic: 0, bug: 1, oops: 2, warning: 3, 'module-load': 4, 'module-unload': 4, 'task-switch': 5 };
    // A task switch's message (the task) came with its hit.
    const problems = events.filter((e) => !MODULE_KINDS.has(e.kind) && e.kind !== 'task-switch');
    const modules = events.filter((e) => MODULE_KINDS.has(e.kind));
    const chosen = [...problems.sort((a, b) => rank[a.kind] - rank[b.kind] || a.icount - b.icount).slice(0, MAX_MESSAGES), ...modules.slice(0, MAX_MODULE_NAMES)];
    const nameOffset = modules.length > 0 ? await this.deps.moduleNameOffset?.().catch(() => undefined) : undefined;
    for (const e of chosen) {
      if (signal.aborted) return;
      try {
        e.message = await this.messageAt(sessionId, e, signal, nameOffset);
      } catch (err) {
        if (signal.aborted) return;
        this.deps.log?.(`Rewind: no message for the kernel ${e.kind} at icount ${e.icount}: ${(err as Error).message}`);
      }
      if (e.message === undefined) delete e.message;
    }
  }

  private async messageAt(sessionId: string, e: ClassifiedEvent, signal: AbortSignal, nameOffset: number | undefined): Promise<string | undefined> {
    const { client } = this.deps;
    await client.seek(sessionId, e.icount);
    if (signal.aborted) return undefined;
    const regs = await client.registers(sessionId);
    const reg = (n: string) => (regs[n] !== undefined ? BigInt(regs[n]!) : undefined);
    const str = (a: bigint | undefined) => (a ? this.readString(sessionId, a) : Promise.resolve(undefined));
    switch (e.kind) {
      case 'panic': {
        // panic(const char *fmt, ...): the format (its arguments are not formatted here).
        const fmt = await str(reg('rdi'));
        return fmt?.replace(/\n+$/, '');
      }
      case 'warning': {
        // __warn(const char *file, int line, void *caller, unsigned taint, struct pt_regs *regs, struct warn_args *args)
        const file = await str(reg('rdi'));
        const line = Number((reg('rsi') ?? 0n) & 0xffffffffn);
        const args = reg('r9');
        const fmtPtr = args ? await client.readMemory(sessionId, args, 8).then((b) => b.readBigUInt64LE(0), () => undefined) : undefined;
        const fmt = fmtPtr ? (await str(fmtPtr))?.replace(/\n+$/, '') : undefined;
        const where = file ? `${file}:${line}` : undefined;
        return [fmt, where ? `at ${where}` : undefined].filter(Boolean).join(' ') || undefined;
      }
      case 'bug': {
        // report_bug(unsigned long bug_addr, struct pt_regs *regs)
        const at = reg('rdi');
        if (at === undefined) return undefined;
        const sym = await this.deps.symbolize?.(at).catch(() => undefined);
        return `BUG() at 0x${at.toString(16)}${sym ? ` (${sym})` : ''}`;
      }
      case 'oops': {
        // oops_begin(void): who called it (die(), page_fault_oops(), ...), from the return address.
        const sp = reg('rsp');
        if (sp === undefined) return undefined;
        const ret = await client.readMemory(sessionId, sp, 8).then((b) => b.readBigUInt64LE(0), () => undefined);
        if (ret === undefined) return undefined;
        const sym = await this.deps.symbolize?.(ret).catch(() => undefined);
        return `oops_begin() called from ${sym ?? `0x${ret.toString(16)}`}`;
      }
      case 'module-load':
      case 'module-unload': {
        // do_init_module(struct module *mod), free_module(struct module *mod): the module's name.
        const mod = reg('rdi');
        return mod && nameOffset !== undefined ? str(mod + BigInt(nameOffset)) : undefined;
      }
    }
  }

  /** A C string, up to 200 bytes, not reading past the page it starts in unless that works. */
  private async readString(sessionId: string, address: bigint): Promise<string | undefined> {
    const toPageEnd = Number(0x1000n - (address & 0xfffn));
    const b = await this.deps.client.readMemory(sessionId, address, 200).catch(() => this.deps.client.readMemory(sessionId, address, Math.min(200, toPageEnd)).catch(() => undefined));
    if (!b) return undefined;
    const end = b.indexOf(0);
    return b.subarray(0, end < 0 ? b.length : end).toString('utf8');
  }
}

/** The kernel events as events of rewind/events (kind `kernel-K`, detail "function: message"). */
export function kernelEventsAsEvents(events: RewindKernelEvent[]): RewindEvent[] {
  return events.map((e) => ({
    index: e.eventIndex,
    icount: e.icount,
    kind: KERNEL_KIND_NAME[e.kind],
    detail: `${e.function}()${e.message ? `: ${e.message}` : ''}`,
    offset: -1,
  }));
}

/** Whether a kinds filter of rewind/events asks for any kernel kind. */
export function asksForKernelKinds(kinds: string[] | undefined): boolean {
  return kinds === undefined || kinds.some((k) => KIND_OF_NAME.has(k));
}

/**
 * rewind/events with the kernel events merged in: selected by the same filter, in time order, the
 * limit applied to the whole; `counts` count them too. `bridge` is the event index's answer to the
 * same filter (with the kernel kinds taken out of `kinds`).
 */
export function mergeKernelEvents(bridge: EventsResult, kernel: RewindKernelEvent[] | undefined, filter: { from?: TimePoint; to?: TimePoint; kinds?: string[]; limit?: number }, limitDefault: number): RewindEventsResponse {
  if (!kernel) return bridge;
  const all = kernelEventsAsEvents(kernel);
  const counts = { ...bridge.counts };
  for (const e of all) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
  const limit = filter.limit ?? limitDefault;
  const last = bridge.events[bridge.events.length - 1];
  const selected = all.filter(
    (e) =>
      (filter.kinds === undefined || filter.kinds.includes(e.kind)) &&
      (filter.from === undefined || e.icount >= filter.from) &&
      (filter.to === undefined || e.icount <= filter.to) &&
      // The index's answer was cut at its last event: nothing after it is known to come next.
      (!bridge.truncated || (last !== undefined && e.icount <= last.icount)),
  );
  const merged: RewindEvent[] = [...bridge.events, ...selected].sort((a, b) => a.icount - b.icount || (a.offset < 0 ? 1 : 0) - (b.offset < 0 ? 1 : 0));
  return { ...bridge, counts, events: merged.slice(0, limit), truncated: bridge.truncated || merged.length > limit };
}

/** The kernel kinds taken out of a kinds filter (for the event index, which has none of them). */
export function withoutKernelKinds(kinds: string[] | undefined): string[] | undefined {
  return kinds === undefined ? undefined : kinds.filter((k) => !KIND_OF_NAME.has(k));
}
