/**
 * Debug adapter (DAP): launch/attach arguments and Rewind's custom requests and events.
 * The debug adapter serves them; the extension, the webview and any DAP client use them.
 * Documented in docs/debug-adapter.md. Time points are numbers (icount), addresses hex strings.
 */
import type { EventsResult, HexAddress, IndexStatusResult, SnapshotSource } from './bridge';
import type { ReplayEvent, TimePoint } from './recording';

/** The debug type of Rewind's adapter (launch.json `"type"`). */
export const REWIND_DEBUG_TYPE = 'rewind';

/** `"record"` in a launch configuration: record a guest first, then debug the recording. */
export interface RecordSpec {
  /** Kernel: an ELF multiboot kernel or a Linux bzImage. */
  kernel: string;
  initrd?: string;
  /** Kernel command line. */
  append?: string;
  /** Serial-console input script (docs: README "Input scripts"). */
  input?: string;
  /** Stop recording when the console prints this text. */
  stopOn?: string;
  /** Stop recording after this many seconds (default 120). */
  timeout?: number;
  /** Guest memory in MiB. */
  memory?: number;
  /** Snapshot interval in instructions (a number, or "200M"). */
  snapshotEvery?: number | string;
  /** Where the bundle goes (never overwritten); default: a new folder next to the kernel's workspace. */
  out?: string;
  /** The Linux preset (`rewind record --linux`): a bzImage, recorded with the documented Linux defaults. */
  linux?: boolean;
  /** Keep KASLR on (`rewind record --kaslr`): the debugger finds the kernel's offset and loads the symbols there. */
  kaslr?: boolean;
  /** A raw or qcow2 disk image, recorded through QEMU's blkreplay driver (the file is only read). */
  disk?: string;
  /** Stop recording when the replay log grows past this size ("512M" or bytes; 0: no limit). */
  maxLog?: number | string;
}

/** Shared by launch and attach. */
export interface RewindCommonArguments {
  /**
   * ELF files with the guest's symbols and DWARF. Default: the kernel recorded in the bundle.
   * The first is the main symbol file; others are added with add-symbol-file at their linked addresses.
   */
  symbols?: string[];
  /** Source path mapping for gdb (`set substitute-path FROM TO`): { "/build/dir": "${workspaceFolder}" }. */
  sourceMap?: Record<string, string>;
  /** The gdb binary (default: gdb on PATH). */
  gdbPath?: string;
  /** Stop at the start of the recording instead of running to the first breakpoint. */
  stopOnEntry?: boolean;
  /** Stop first at this time point (an icount, or "end"). */
  startAt?: number | 'end';
  /** Log DAP, GDB/MI and bridge traffic to the debug console. */
  trace?: boolean;
  /**
   * A file of gdb commands that gdb sources once the symbols are loaded and it is connected to the
   * recording (gdb runs with -nx: "~/.gdbinit" here reads the user's own).
   */
  gdbInit?: string;
  /** gdb commands run after gdbInit, e.g. "source /path/to/vmlinux-gdb.py"; they must not run the target. */
  setupCommands?: string[];
  /** Folders searched for the .ko files of loaded Linux modules (before /usr/lib/debug/lib/modules/RELEASE and /lib/modules/RELEASE). */
  moduleFolders?: string[];
}

export interface RewindLaunchArguments extends RewindCommonArguments {
  /** An existing recording bundle (a *.rewind directory). */
  recording?: string;
  /** Or: record first (with progress), then debug the new bundle. */
  record?: RecordSpec;
}

export interface RewindAttachArguments extends RewindCommonArguments {
  /** A running bridge: "unix:PATH" or "tcp:HOST:PORT" (`rewind bridge`). */
  bridge: string;
  /** TCP bridges need their token (or tokenFile). */
  token?: string;
  tokenFile?: string;
  /** The bundle, as a path the bridge understands (relative to its --root, or absolute inside it). */
  recording: string;
}

/** Where the debuggee is in time. */
export interface RewindPosition {
  icount: TimePoint;
  /** The last time point of the recording. */
  end: TimePoint;
  /** icount / end, 0..100. */
  percent: number;
  atStart: boolean;
  atEnd: boolean;
  /** The event of the index nearest to the position (either side), if any. */
  nearestEvent?: ReplayEvent;
}

export interface RewindPositionChangedEvent extends RewindPosition {
  /** What moved: 'step', 'stepBack', 'continue', 'reverseContinue', 'seek', 'breakpoint', ... */
  reason: string;
}

export interface RewindSeekArguments {
  /** Exactly one of: a time point, an event of the index (its index), or a percentage of the recording. */
  icount?: TimePoint;
  eventIndex?: number;
  percent?: number;
}

export interface RewindEventsArguments {
  from?: TimePoint;
  to?: TimePoint;
  kinds?: string[];
  limit?: number;
}

export interface RewindSnapshot {
  name: string;
  icount: TimePoint;
  /** 'record': in the bundle; 'replay': added while debugging (kept for this session only); 'index': in the recording's index. */
  source: SnapshotSource;
}
export interface RewindSnapshotsResponse {
  snapshots: RewindSnapshot[];
}

/** A place in the guest's code, resolved by gdb. */
export interface RewindCodeLocation {
  address: HexAddress;
  function?: string;
  /** Absolute source path, when gdb knows it. */
  path?: string;
  line?: number;
}

export interface RewindLastWriteArguments {
  /** A C expression (an lvalue) evaluated in frameId's scope; or address + size. */
  expression?: string;
  frameId?: number;
  address?: HexAddress;
  size?: number;
  /** Move to the writing instruction (default false: only report it). */
  seek?: boolean;
}
export interface RewindLastWriteResponse {
  found: boolean;
  address: HexAddress;
  size: number;
  /** The time point just after the write. */
  icount?: TimePoint;
  /** The writing instruction (the time point before `icount`); with `delivery`, the handler's first instruction. */
  writer?: RewindCodeLocation;
  /** The CPU wrote it while delivering an interrupt or exception (its frame); a seek lands at `icount`, before the write. */
  delivery?: true;
  /** The bytes before and after the write, hex. */
  before?: string;
  after?: string;
}

export interface RewindHitsArguments {
  /** A source line (every address gdb maps it to), or a code address, or a function. */
  source?: { path: string };
  line?: number;
  address?: HexAddress;
  function?: string;
  from?: TimePoint;
  to?: TimePoint;
}
export interface RewindHitsResponse {
  /** The code addresses that were searched. */
  addresses: HexAddress[];
  hits: Array<{ icount: TimePoint; address: HexAddress }>;
}

/** rewind/valueHistory: every write of an expression's bytes (or an address range) over the recording or a range. */
export interface RewindValueHistoryArguments {
  expression?: string;
  frameId?: number;
  address?: HexAddress;
  size?: number;
  from?: TimePoint;
  to?: TimePoint;
}
export interface RewindValueHistoryResponse {
  address: HexAddress;
  size: number;
  /** The expression's C type as gdb names it (`uint32_t`, `struct config *`), when asked by expression and gdb says; absent for arrays. */
  type?: string;
  writes: Array<{
    /** The time point just after the write (a seek to icount - 1 stands before it; with `delivery`, a seek to icount). */
    icount: TimePoint;
    /**
     * The CPU wrote it while delivering an interrupt or exception (its frame), not an instruction:
     * `at` is the handler's first instruction, and a seek to `icount` stands before the write.
     */
    delivery?: true;
    /** The bytes before and after, hex (absent where unreadable). */
    before?: string;
    after?: string;
    /** Where the guest is just after the write: the instruction after the writing one, its function and line. */
    at: RewindCodeLocation;
    /**
     * The writing instruction, its function and line, when gdb's disassembly tells it: the
     * instruction just before `at` in its function, if that one writes memory. Absent when unsure
     * (`at` is a function's entry: a call's push or an exception frame; a string instruction).
     */
    writer?: RewindCodeLocation;
    /** On a Linux x86_64 guest: the task that wrote (its `current` at the write), where readable. */
    task?: { pid: number; tgid: number; comm: string };
    /** The vCPU that wrote, where the adapter knows it (Linux: the kernel's cpu_number there). */
    cpu?: number;
  }>;
}

/**
 * rewind/recordingReach: how another client reaches the session's recording (the language server
 * opens its own session there, and follows this one's position).
 */
export interface RewindRecordingReach {
  /** The bridge: "unix:PATH" (the adapter's private one, or a `rewind bridge`) or "tcp:HOST:PORT". */
  bridge: string;
  /** A TCP bridge's token. */
  token?: string;
  /** The bundle, as a path the bridge opens. */
  recording: string;
  /** The symbol files gdb loaded (the first is the kernel's). */
  symbols: string[];
  /** gdb's substitute-path pairs, [from, to]. */
  sourceMap: Array<[string, string]>;
}

/** rewind/hitCounts: how often source lines or functions ran, over the recording or a range (exact). */
export interface RewindHitCountsArguments {
  source?: { path: string };
  /** Lines of `source` (with `source`; at most 5000 per request). */
  lines?: number[];
  functions?: string[];
  from?: TimePoint;
  to?: TimePoint;
}
export interface RewindHitCountsResponse {
  counts: Array<{ line?: number; function?: string; addresses: HexAddress[]; count: number }>;
  /** Whether the recording's index answered (false: the range was replayed). */
  indexed: boolean;
}

/** rewind/reverseStepIn and rewind/reverseStepOut (DAP has no reverse step-in or step-out). */
export interface RewindReverseStepArguments {
  threadId: number;
  granularity?: 'statement' | 'line' | 'instruction';
}

/** rewind/dmesg (Linux guests): the kernel log, read from the printk ring buffer as it is at the current time point. */
export interface RewindDmesgArguments {
  /** Only the last `limit` records. */
  limit?: number;
}
export interface RewindDmesgLine {
  /** The record's sequence number (dmesg's order; numbers below `firstSeq` were overwritten). */
  seq: number;
  /** The record's timestamp (local_clock() when it was logged), in nanoseconds since boot. */
  timestampNs: number;
  /** printk level: 0 (KERN_EMERG) to 7 (KERN_DEBUG). */
  level: number;
  /** syslog facility (0: kernel; 1: user, e.g. lines written to /dev/kmsg). */
  facility: number;
  text: string;
  /** Who logged it: "T<pid>" (a task) or "CPU<n>" (interrupt context). */
  caller?: string;
}
export interface RewindDmesgResponse {
  /** The time point the log was read at. */
  icount: TimePoint;
  lines: RewindDmesgLine[];
  /** The oldest and the next sequence numbers (absent while the log is empty). */
  firstSeq?: number;
  nextSeq?: number;
  /** The text ring's size in bytes and the number of record descriptors. */
  bufferSize: number;
  records: number;
}

/** One task of a Linux guest at a time point (rewind/tasks). */
export interface RewindLinuxTask {
  /** The task_struct's address (hex). */
  task: string;
  pid: number;
  tgid: number;
  /** The parent process's tgid (absent when its parent is not in the list). */
  ppid?: number;
  comm: string;
  /** As ps shows it: "R (running)", "S (sleeping)", "I (idle)", ... */
  state: string;
  /** The CPU it last ran on (or runs on). */
  cpu: number;
  /** A CPU runs it now (the kernel's on_cpu). */
  running: boolean;
  kthread: boolean;
}

/** rewind/tasks: every task (processes and their threads) of a Linux guest at the current time point, as the kernel's task list holds them. */
export interface RewindTasksResponse {
  icount: TimePoint;
  tasks: RewindLinuxTask[];
  /** More than 10,000 tasks: the list stops there. */
  truncated: boolean;
}

/** rewind/taskStack: where a task that is not running sleeps (its saved stack), at the current time point. */
export interface RewindTaskStackArguments {
  /** The task's task_struct (hex), as rewind/tasks lists it. */
  task: HexAddress;
}
export interface RewindTaskFrame {
  address: HexAddress;
  function?: string;
  /** The source file as the debug info names it, and where gdb finds it (when it does). */
  file?: string;
  fullname?: string;
  line?: number;
}
export interface RewindTaskStackResponse {
  icount: TimePoint;
  task: HexAddress;
  /** Innermost first: __schedule (or ret_from_fork for a task never run), then its callers. */
  frames: RewindTaskFrame[];
}

/** A kernel problem, a module load or unload, or a task switch, found over the whole recording (rewind/kernelEvents). */
export type RewindKernelEventKind = 'panic' | 'oops' | 'bug' | 'warning' | 'module-load' | 'module-unload' | 'task-switch';
export interface RewindKernelEvent {
  /** The time point at the entry of the reporting function: seek there to see the stack that reported it. */
  icount: TimePoint;
  kind: RewindKernelEventKind;
  /** The reporting function: panic, oops_begin (the x86 die path), report_bug (a BUG()), __warn (WARN()); do_init_module, free_module (a module's load and unload); finish_task_switch (a CPU switched to another task). */
  function: string;
  /** Its address (hex). */
  address: HexAddress;
  /** What the kernel said, when cheap to know: panic's message, a warning's file:line, a BUG()'s address; the module's name; the task switched to ("comm [pid]"). */
  message?: string;
  /** This event's index in rewind/events (after the event index's own events): rewind/seek {eventIndex} goes there. */
  eventIndex: number;
}
export interface RewindKernelEventsResponse {
  events: RewindKernelEvent[];
  /** The functions that were watched (those the vmlinux has). */
  functions: Array<{ name: string; address: HexAddress }>;
}

/**
 * Kinds that rewind/events adds on a Linux recording, once the kernel-event scan is done (see
 * docs/debug-adapter.md): a kernel event of kind K is listed as `kernel-K`, with `detail`
 * "FUNCTION: MESSAGE". Their indices follow the event index's own.
 */
export const KERNEL_EVENT_KINDS = {
  'kernel-panic': 'panic(): the kernel panicked',
  'kernel-oops': 'oops_begin(): an oops (the x86 die path: a fault in the kernel)',
  'kernel-bug': 'report_bug() that led to an oops: a BUG()',
  'kernel-warning': '__warn(): a WARN()',
  'kernel-module-load': 'do_init_module(): a loadable module was loaded (its init runs next)',
  'kernel-module-unload': 'free_module(): a loadable module goes (its exit ran)',
  'kernel-task-switch': 'finish_task_switch(): a CPU switched to the task named (it runs from here to the next switch)',
} as const;
export type KernelEventKindName = keyof typeof KERNEL_EVENT_KINDS;

/** An event of rewind/events: one of the event index's, or (Linux) a kernel event. */
export type RewindEvent = Omit<ReplayEvent, 'kind'> & { kind: ReplayEvent['kind'] | KernelEventKindName };
/**
 * rewind/events as served: `EventsResult`, where on a Linux recording `events` may also hold
 * kernel kinds and `counts` counts them, and `kernelScan` tells how far the scan is.
 */
export interface RewindEventsResponse extends Omit<EventsResult, 'events'> {
  events: RewindEvent[];
  /**
   * Linux recordings only: 'scanning' (kernel events follow, announced by rewind/eventsChanged),
   * 'partial' (all but the task switches are in: they follow), 'done', 'failed'.
   */
  kernelScan?: 'scanning' | 'partial' | 'done' | 'failed';
  /** With kernelScan 'failed': why (rewind/kernelEvents scans again). */
  kernelScanError?: string;
}

/** A named time point of a recording (rewind/bookmarks); stored beside the recording, so it comes back in every session. */
export interface RewindBookmark {
  /** Stable while the bookmark exists ("b1", "b2", ...). */
  id: string;
  name: string;
  icount: TimePoint;
  /** When it was added (ISO 8601). */
  createdAt: string;
}
export interface RewindBookmarksResponse {
  /** By time point, then by name. */
  bookmarks: RewindBookmark[];
  /** The file they are kept in: `bookmarks.json` in the bundle, or the user's state folder when the bundle's folder is read-only; absent while none was written. */
  storedIn?: string;
}
export interface RewindAddBookmarkArguments {
  /** Not empty, at most 200 characters, unique in the recording. */
  name: string;
  /** Default: the current position. */
  icount?: TimePoint;
}
export interface RewindRemoveBookmarkArguments {
  /** One of: the bookmark's id or its name. */
  id?: string;
  name?: string;
}

/** rewind/console: the guest's serial console as lines, each with the time points it was printed at (the bundle's console.jsonl). */
export interface RewindConsoleArguments {
  /** Only lines that end at or after this time point. */
  from?: TimePoint;
  /** At most this many lines (default 1000). */
  limit?: number;
}
export interface RewindConsoleResponse {
  lines: Array<{ line: number; start: TimePoint; icount: TimePoint; text: string }>;
  truncated: boolean;
  /** 'exact': each line's time points come from the replay log; 'approximate': upper bounds. */
  timepoints: 'exact' | 'approximate';
}

/** rewind/dmesgTime (Linux): when a record of the kernel log was printed. */
export interface RewindDmesgTimeArguments {
  seq: number;
}
export interface RewindDmesgTimeResponse {
  seq: number;
  /** The time point the kernel finished printing the record on the serial console (its console line's icount). */
  icount: TimePoint;
  /** How it was found: the record's text (with its [seconds.micros] prefix) on a console line. */
  method: 'console';
  /** The console line (1-based) and its text. */
  consoleLine: number;
  text: string;
}

/** Custom event: the bookmarks of the recording changed (added or removed by any client of this session). */
export interface RewindBookmarksChangedEvent {
  bookmarks: RewindBookmark[];
}

/** Every custom request of the adapter: command -> arguments and response body. */
export interface RewindDapRequests {
  'rewind/position': { args: Record<string, never>; body: RewindPosition };
  'rewind/seek': { args: RewindSeekArguments; body: RewindPosition };
  'rewind/events': { args: RewindEventsArguments; body: RewindEventsResponse };
  'rewind/snapshots': { args: Record<string, never>; body: RewindSnapshotsResponse };
  'rewind/takeSnapshot': { args: Record<string, never>; body: { snapshot: RewindSnapshot } };
  'rewind/lastWrite': { args: RewindLastWriteArguments; body: RewindLastWriteResponse };
  'rewind/hits': { args: RewindHitsArguments; body: RewindHitsResponse };
  'rewind/valueHistory': { args: RewindValueHistoryArguments; body: RewindValueHistoryResponse };
  'rewind/hitCounts': { args: RewindHitCountsArguments; body: RewindHitCountsResponse };
  'rewind/indexStatus': { args: Record<string, never>; body: IndexStatusResult };
  'rewind/recordingReach': { args: Record<string, never>; body: RewindRecordingReach };
  'rewind/reverseStepIn': { args: RewindReverseStepArguments; body: Record<string, never> };
  'rewind/reverseStepOut': { args: RewindReverseStepArguments; body: Record<string, never> };
  'rewind/dmesg': { args: RewindDmesgArguments; body: RewindDmesgResponse };
  'rewind/tasks': { args: Record<string, never>; body: RewindTasksResponse };
  'rewind/taskStack': { args: RewindTaskStackArguments; body: RewindTaskStackResponse };
  'rewind/kernelEvents': { args: Record<string, never>; body: RewindKernelEventsResponse };
  'rewind/dmesgTime': { args: RewindDmesgTimeArguments; body: RewindDmesgTimeResponse };
  'rewind/console': { args: RewindConsoleArguments; body: RewindConsoleResponse };
  'rewind/bookmarks': { args: Record<string, never>; body: RewindBookmarksResponse };
  'rewind/addBookmark': { args: RewindAddBookmarkArguments; body: { bookmark: RewindBookmark } };
  'rewind/removeBookmark': { args: RewindRemoveBookmarkArguments; body: { removed: RewindBookmark } };
}
export type RewindDapCommand = keyof RewindDapRequests;

export interface RewindEventsChangedEvent {
  reason: 'kernel-events';
  /** Counts per kind, as rewind/events now answers them. */
  counts: Record<string, number>;
  /**
   * Where the kernel-event scan is: 'partial' (a recording with an index: the panics, oopses, BUGs,
   * warnings and module events are in, the task switches follow with another rewind/eventsChanged),
   * 'done', or 'failed' (rewind/events has no kernel events; rewind/kernelEvents scans again).
   */
  kernelScan: 'partial' | 'done' | 'failed';
  /** With 'failed': why. */
  error?: string;
}

/** Custom events of the adapter: event -> body. */
export interface RewindDapEvents {
  /** After every change of the position (any step, continue, seek), after its stopped event. */
  'rewind/positionChanged': RewindPositionChangedEvent;
  /** The events of rewind/events changed (Linux: the kernel-event scan finished): ask again. */
  'rewind/eventsChanged': RewindEventsChangedEvent;
  /** Bookmarks were added or removed: the whole list. */
  'rewind/bookmarksChanged': RewindBookmarksChangedEvent;
}

/** Stopped-event reasons Rewind adds to DAP's own. */
export const REWIND_STOP_REASON = {
  start: 'start of recording',
  end: 'end of recording',
} as const;
