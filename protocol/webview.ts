/**
 * VS Code extension <-> webview: the Recording Timeline (extension/timeline-view.ts hosts it,
 * extension/webview/timeline.ts draws it). Messages travel by postMessage as plain JSON.
 * Time points are numbers (icount). Documented in docs/extension.md.
 */
import type { TimePoint } from './recording';

/** A lane of the timeline: one group of event kinds of the index. */
export type TimelineLaneId = 'kernel' | 'interrupts' | 'clock' | 'serial' | 'console' | 'disk' | 'network' | 'other';

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
  /** snapshot: a snapshot to replay from; stop: where the session stopped on a breakpoint, data breakpoint or panic; hit: a result of "Show All Hits"; bookmark: a named time point (rewind/bookmarks). */
  kind: 'snapshot' | 'stop' | 'hit' | 'bookmark';
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

/** Extension -> webview. */
export type TimelineToWebview =
  | { type: 'session'; session: TimelineSessionInfo | null }
  | { type: 'position'; icount: TimePoint; end: TimePoint; percent: number; reason?: string }
  /** `view`: the requested view, clamped to the recording. */
  | { type: 'lanes'; requestId: number; view: TimelineViewRange; lanes: TimelineLaneData[]; overview?: boolean }
  | { type: 'markers'; markers: TimelineMarker[] }
  | { type: 'error'; message: string };

/** Webview -> extension. */
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
