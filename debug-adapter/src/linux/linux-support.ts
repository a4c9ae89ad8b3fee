/**
 * Kernel awareness for a debug session on a Linux guest, in one object the session delegates to:
 * thread names and the "Linux" scope (the current task per vCPU), the kernel log (rewind/dmesg,
 * `dmesg` in the REPL), and the kernel events (rewind/kernelEvents, merged into rewind/events).
 * attach() answers undefined when the symbols are not Linux's, and the session then behaves as
 * it does for any other guest.
 */
import type { EventsResult, RewindDmesgResponse, RewindTasksResponse, RewindTaskStackResponse, RewindEventsChangedEvent, RewindEventsResponse, RewindKernelEvent, RewindKernelEventsResponse } from '@rewind/protocol';
import type { TimePoint } from '@rewind/core';
import type { Debuggee } from '../debuggee';
import { AdapterError } from '../errors';
import type { Inspector } from '../inspector';
import { asksForKernelKinds, KernelEventScanner, mergeKernelEvents, withoutKernelKinds, type ScanJobHandle } from './kernel-events';
import { LinuxKernel, linuxThreadName, runJson } from './linux-kernel';
import { linuxScope } from './linux-scope';
import { ModuleLoadStops } from './module-load-stops';
import { ModuleSymbols } from './module-symbols';

/** rewind/events' default limit (the bridge's, EventsParams.limit). */
const EVENTS_LIMIT = 10_000;

export interface LinuxSessionHooks {
  /** Runs `op` on gdb when no execution runs (an inspection). */
  inspect<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** Shows a cancellable progress notification for a scan; `cancel` stops it. */
  progress(title: string, requestSeq: number, cancel: () => void): { update(done: number, total: number): void; end(): void };
  /** rewind/events has new answers. */
  eventsChanged(body: RewindEventsChangedEvent): void;
  log(line: string): void;
}

export class LinuxSupport {
  private constructor(
    private readonly d: Debuggee,
    readonly kernel: LinuxKernel,
    private readonly scanner: KernelEventScanner,
    private readonly hooks: LinuxSessionHooks,
    /** Loaded modules and their symbols at the current time point (refreshed after every move). */
    readonly modules: ModuleSymbols,
    /** Stops where modules load and unload, so that breakpoints follow a module's code (armed when needed). */
    readonly moduleStops: ModuleLoadStops,
  ) {}

  static async attach(d: Debuggee, inspector: Inspector, hooks: LinuxSessionHooks, moduleFolders: readonly string[] = []): Promise<LinuxSupport | undefined> {
    const kernel = await LinuxKernel.detect(d.gdb);
    if (!kernel) return undefined;
    inspector.addScopeProvider(linuxScope(kernel));
    inspector.setThreadNamer(async (threads, signal) => {
      const info = await kernel.tasks(signal);
      const names = new Map<number, string>();
      for (const t of info.cpus) {
        const name = linuxThreadName(t);
        if (name && threads.some((x) => x.id === t.thread)) names.set(t.thread, name);
      }
      return names;
    });
    // Every change of the scan's result is told to the client (the session exists by then).
    let support: LinuxSupport | undefined;
    const scanner = new KernelEventScanner({
      client: d.client,
      bundle: d.opened.path,
      mainSessionId: d.sessionId,
      functions: kernel.functions,
      indexSize: async () => Object.values((await d.client.events(d.sessionId, { limit: 0 })).counts).reduce((a, b) => a + b, 0),
      symbolize: (address) => hooks.inspect((signal) => d.gdb.console(`info symbol 0x${address.toString(16)}`, { signal })).then(parseInfoSymbol),
      taskProbe: async () => (await kernel.taskProbe()).probe,
      moduleNameOffset: () => hooks.inspect((signal) => runJson<{ nameOffset?: number }>(d.gdb, 'rewind-linux-modules --name-offset', signal)).then((r) => r.nameOffset),
      onChange: (state) => support?.announce(state),
      log: hooks.log,
    });
    hooks.log(`Rewind: a Linux kernel: the current task shows in thread names and the Linux scope; rewind/dmesg (or "dmesg" in the Debug Console) reads the kernel log`);
    if (d.kaslrOffset !== undefined) hooks.log(`Rewind: KASLR is on in this recording: the kernel runs 0x${d.kaslrOffset.toString(16)} above the vmlinux's link addresses, and its symbols are loaded there`);
    support = new LinuxSupport(d, kernel, scanner, hooks, new ModuleSymbols(d.gdb, moduleFolders, hooks.log), new ModuleLoadStops(d.gdb, hooks.log));
    return support;
  }

  /** rewind/dmesg: the kernel log at the current time point. */
  async dmesg(limit: number | undefined, signal: AbortSignal): Promise<RewindDmesgResponse> {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) throw new AdapterError('"limit" must be a whole number of records, 1 or more');
    const log = await this.kernel.dmesg(limit, signal);
    const { icount } = await this.d.position();
    return { icount, ...log };
  }

  /** rewind/tasks: every task at the current time point. */
  async tasks(signal: AbortSignal): Promise<RewindTasksResponse> {
    const list = await this.kernel.taskList(signal);
    const { icount } = await this.d.position();
    return { icount, ...list };
  }

  /** rewind/taskStack: where a task that is not running sleeps. */
  async taskStack(task: bigint, signal: AbortSignal): Promise<RewindTaskStackResponse> {
    const { frames } = await this.kernel.taskStack(task, signal);
    const { icount } = await this.d.position();
    return { icount, task: `0x${task.toString(16)}`, frames };
  }

  /** `dmesg` in the Debug Console: the log as text. */
  dmesgText(signal: AbortSignal): Promise<string> {
    return this.kernel.dmesgText(signal);
  }

  /** rewind/kernelEvents: waits for the scan (started now if needed), with progress; `signal` stops waiting. */
  async kernelEvents(requestSeq: number, signal: AbortSignal): Promise<RewindKernelEventsResponse> {
    if (this.kernel.functions.size === 0) throw new AdapterError('this vmlinux has none of the functions the scan watches (panic, oops_begin, __warn, report_bug, do_init_module, free_module)');
    const events = await this.scanner.scan({ signal, onStart: (job) => this.showProgress(job, requestSeq) });
    return { events, functions: this.scanner.functions };
  }

  /** rewind/events with the kernel events merged in (once known); the first call starts the scan in the background. */
  async events(args: { from?: TimePoint; to?: TimePoint; kinds?: string[]; limit?: number }, requestSeq: number): Promise<RewindEventsResponse> {
    if (args.kinds !== undefined && (!Array.isArray(args.kinds) || args.kinds.some((k) => typeof k !== 'string'))) throw new AdapterError('"kinds" must be a list of event kinds');
    const bridgeKinds = withoutKernelKinds(args.kinds);
    const bridge: EventsResult = await this.d.client.events(this.d.sessionId, {
      ...(args.from !== undefined ? { from: args.from } : {}),
      ...(args.to !== undefined ? { to: args.to } : {}),
      ...(bridgeKinds !== undefined ? { kinds: bridgeKinds } : {}),
      limit: args.limit ?? EVENTS_LIMIT,
    });
    if (this.kernel.functions.size === 0) return bridge;
    if (this.scanner.state === 'idle' && asksForKernelKinds(args.kinds)) this.startBackgroundScan(requestSeq);
    const merged = mergeKernelEvents(bridge, this.scanner.known, args, EVENTS_LIMIT);
    const state = this.scanner.state;
    if (state === 'failed') return { ...merged, kernelScan: 'failed', kernelScanError: this.scanner.failure ?? 'no reason given' };
    return { ...merged, kernelScan: state === 'idle' ? 'scanning' : state };
  }

  /** A kernel event by its index in rewind/events (for rewind/seek {eventIndex}). */
  eventByIndex(index: number): RewindKernelEvent | undefined {
    return this.scanner.known?.find((e) => e.eventIndex === index);
  }

  dispose(): void {
    this.scanner.dispose();
  }

  private startBackgroundScan(requestSeq: number): void {
    this.scanner
      .scan({ background: true, onStart: (job) => this.showProgress(job, requestSeq) })
      // Its outcome reaches the client by rewind/eventsChanged (announce); a cancelled scan starts again with the next rewind/events.
      .catch((e: unknown) => this.hooks.log(`Rewind: the scan for kernel panics, oopses and warnings stopped: ${(e as Error).message}`));
  }

  /** rewind/eventsChanged for where the kernel-event scan is, with the counts rewind/events now answers. */
  private announce(kernelScan: 'partial' | 'done' | 'failed'): void {
    void (async () => {
      const { counts } = mergeKernelEvents(await this.d.client.events(this.d.sessionId, { limit: 0 }), this.scanner.known, { limit: 0 }, EVENTS_LIMIT);
      this.hooks.eventsChanged({ reason: 'kernel-events', counts, kernelScan, ...(kernelScan === 'failed' ? { error: this.scanner.failure ?? 'no reason given' } : {}) });
    })().catch((e: unknown) => this.hooks.log(`Rewind: could not tell the client about the kernel-event scan: ${(e as Error).message}`));
  }

  private showProgress(job: ScanJobHandle, requestSeq: number): void {
    const p = this.hooks.progress('Finding kernel panics, oopses, BUGs and warnings', requestSeq, () => job.cancel());
    job.onProgress((done, total) => p.update(done, total));
    void job.finished.then(() => p.end());
  }
}

/** "page_fault_oops + 123 in section .text" -> "page_fault_oops+123". */
function parseInfoSymbol(text: string): string | undefined {
  const m = /^(\S+)(?: \+ (\d+))? in section/m.exec(text);
  return m ? `${m[1]}${m[2] ? `+${m[2]}` : ''}` : undefined;
}
