/**
 * VS Code extension <-> webviews: the Recording Timeline (extension/timeline-view.ts hosts it,
 * extension/webview/timeline.ts draws it) and the Value History panel (extension/value-history-view.ts,
 * extension/webview/value-history.ts). Messages travel by postMessage as plain JSON.
 * Time points are numbers (icount). Documented in docs/extension.md.
 */
import type { TimePoint } from './recording';

/** A lane of the timeline: one group of event kinds of the index. */
export type TimelineLaneId = 'kernel' | 'modules' | 'tasks' | 'interrupts' | 'clock' | 'serial' | 'console' | 'disk' | 'network' | 'other';

/** One event of the index, as the timeline shows it (hover details). */
export interface TimelineEvent {
  index: number;
  icount: TimePoint;
  kind: string;
  detail?: string;
  /** serial-input: the bytes typed (latin1). */
  bytes?: string;
  value?: string;
  size?: number;
}

/** Which part of the recording the webview shows, cut into `buckets` equal spans. */
export interface TimelineViewRange {
  from: TimePoint;
  /** Inclusive. */
  to: TimePoint;
  buckets: number;
}

export interface TimelineLaneData {
  id: TimelineLaneId;
  label: string;
  /** Events of this lane in the whole recording. */
  total: number;
  /** Events per bucket of the view: bucket i covers [from + i*span, from + (i+1)*span), span = (to - from + 1) / buckets. */
  counts: number[];
  /** Buckets whose count is an estimate (the lane has too many events to fetch them all for this view). */
  estimated: number[];
  /** The lane's events in the view, when there are few enough of them (markers and hover details). */
  events?: TimelineEvent[];
}

/** A point of interest drawn on the timeline. */
export interface TimelineMarker {
  icount: TimePoint;
  /**
   * snapshot: a snapshot to replay from; stop: where the session stopped on a breakpoint, data
   * breakpoint or panic; hit: a result of "Show All Hits"; write: a write of the Value History's
   * expression (at the time point just before it, where a click goes; drawn in a lane of their own);
   * bookmark: a named time point (rewind/bookmarks).
   */
  kind: 'snapshot' | 'stop' | 'hit' | 'write' | 'bookmark';
  label: string;
}

export interface TimelineSessionInfo {
  /** The debug session's name. */
  name: string;
  /** The recording's folder, when known. */
  recording?: string;
  /** The last time point of the recording. */
  end: TimePoint;
  /** Events of the index, by kind (the whole recording). */
  counts: Record<string, number>;
}

/** Extension -> webview (the timeline). */
export type TimelineToWebview =
  | { type: 'session'; session: TimelineSessionInfo | null }
  | { type: 'position'; icount: TimePoint; end: TimePoint; percent: number; reason?: string }
  /** `view`: the requested view, clamped to the recording. */
  | { type: 'lanes'; requestId: number; view: TimelineViewRange; lanes: TimelineLaneData[]; overview?: boolean }
  | { type: 'markers'; markers: TimelineMarker[] }
  | { type: 'error'; message: string };

/** Webview -> extension (the timeline). */
export type TimelineFromWebview =
  | { type: 'ready' }
  /**
   * Asks for the lanes of a view; answered with `lanes` of the same requestId. A request still
   * running when a newer one comes is dropped, except the whole-recording strip (`overview`).
   */
  | { type: 'view'; requestId: number; view: TimelineViewRange; overview?: boolean }
  /** Go to this time point. */
  | { type: 'seek'; icount: TimePoint }
  /** Run one of the extension's commands (the empty state's buttons). */
  | { type: 'command'; command: 'openRecording' | 'recordGuest' | 'goToTime' };

// ---- The Value History panel (extension/value-history-view.ts hosts it, extension/webview/value-history.ts draws it) ----

/** The table's columns, in the order shown; `cpu` only when the panel knows the vCPU of every write, `task` on Linux. */
export type ValueHistoryColumn = 'n' | 'icount' | 'cpu' | 'task' | 'function' | 'source' | 'old' | 'new';

/** A value of the watched bytes as a row shows it (extension/novsc/value-history.ts makes them). */
export interface ValueHistoryValue {
  /** As shown: a decimal number for 1, 2, 4 or 8 bytes (hex for pointers), else the hex bytes. */
  text: string;
  /** The tooltip: the hex value, the bytes in memory order, the text when they are printable. */
  title: string;
  /** The number as a decimal string (signed or not as the type is), for sorting; absent for other sizes. */
  number?: string;
  /** The bytes in memory order, hex. */
  hex: string;
}

/** One write of the expression's bytes: one row of the table. */
export interface ValueHistoryRow {
  /** 1-based, in time order. */
  n: number;
  /** The time point just after the write (the adapter's `icount`). */
  icount: TimePoint;
  /** Where a click goes: just before the write (icount - 1; an interrupt's frame: icount), the writing instruction next, as Find Last Write does. */
  seekTo: TimePoint;
  /** The vCPU that wrote, when known. */
  cpu?: string;
  /** On Linux: the task that wrote ("dd [1234]"), where it was readable. */
  task?: { text: string; title: string; comm: string; pid: number };
  /**
   * Whether function, source and code are the writing instruction's (the adapter's `writer`); else
   * they are where the guest is just after the write (`at`: the instruction after the store).
   */
  atWriter: boolean;
  function?: string;
  /** "config.c:36" */
  source?: string;
  /** The absolute source path (the tooltip). */
  path?: string;
  line?: number;
  /** The code address: the writing instruction, or the one after the write. */
  code: string;
  /** The value before and after (absent where unreadable). */
  old?: ValueHistoryValue;
  new?: ValueHistoryValue;
}

export interface ValueHistoryTable {
  expression: string;
  /** Where its bytes are, how many, and their type (when gdb said). */
  address: string;
  size: number;
  type?: string;
  /** Rows in time order. */
  rows: ValueHistoryRow[];
  /** Whether the rows carry a vCPU (`cpu`); `cpuNote` says why or why not. */
  hasCpu: boolean;
  cpuNote: string;
  /** Whether the adapter told the task of the writes (a Linux guest): the `task` column. */
  hasTask: boolean;
  /** The debug session's name. */
  session: string;
  /** The last time point of the recording. */
  end: TimePoint;
}

/** Extension -> webview (the Value History panel). */
export type ValueHistoryToWebview =
  /** A query started (Cancel shows). */
  | { type: 'loading'; expression: string }
  | { type: 'table'; table: ValueHistoryTable }
  /** The session's position (the row of the value now is marked). */
  | { type: 'position'; icount: TimePoint }
  /** The session of the table ended: rows stay, clicks cannot go anywhere. */
  | { type: 'ended' }
  | { type: 'error'; expression?: string; message: string };

/** Webview -> extension (the Value History panel). */
export type ValueHistoryFromWebview =
  | { type: 'ready' }
  /** Go to this time point (a row's seekTo). */
  | { type: 'seek'; icount: TimePoint }
  /** Cancel the running query. */
  | { type: 'cancel' }
  /** Ask again (the same expression, the current frame). */
  | { type: 'refresh' };
