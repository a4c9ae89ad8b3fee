/**
 * Rewind's debug sessions as the rest of the extension sees them: where each one is in time,
 * where it stopped, its snapshots and hits, and typed access to the adapter's custom requests.
 *
 * Messages are read with a DebugAdapterTracker rather than onDidReceiveDebugSessionCustomEvent:
 * the tracker sees `stopped` and `rewind/positionChanged` in the order the adapter sent them, so
 * a stop's reason (breakpoint, panic...) is paired with the position that follows it.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as vscode from 'vscode';
import {
  REWIND_DEBUG_TYPE,
  type RewindBookmark,
  type RewindBookmarksChangedEvent,
  type RewindDapCommand,
  type RewindDapRequests,
  type RewindPosition,
  type RewindPositionChangedEvent,
  type RewindSnapshot,
  type TimelineMarker,
} from '@rewind/protocol';
import { describeEvent, groupDigits } from './novsc/format';
import { TimelineData } from './novsc/timeline-data';

/** Stop reasons worth a marker on the timeline. */
const MARKED_STOPS = new Set(['breakpoint', 'function breakpoint', 'instruction breakpoint', 'data breakpoint', 'exception']);

export class RewindSession {
  position?: RewindPosition;
  /** Where the session stopped on breakpoints, data breakpoints and panics. */
  readonly stops: TimelineMarker[] = [];
  /** The last "Show All Hits" result. */
  hits: TimelineMarker[] = [];
  /** The writes of the Value History panel's expression (while the panel shows this session's table). */
  writes: TimelineMarker[] = [];
  snapshots: RewindSnapshot[] = [];
  /** The recording's bookmarks (kept beside it by the adapter: they come back in every session). */
  bookmarks: RewindBookmark[] = [];
  /** The thread of the last stop (the vCPU). */
  threadId = 1;
  private lastStop?: { reason: string; description?: string };
  private timeline?: Promise<TimelineData>;
  /** Who waits for the sequence number of the next request of a command sent to the adapter (to cancel it). */
  private readonly sentWaiters: Array<{ command: string; seen: (seq: number) => void }> = [];

  constructor(readonly session: vscode.DebugSession) {}

  /** The recording's folder (after the pickers ran), when it is local. */
  get recording(): string | undefined {
    const r = this.session.configuration.recording;
    return typeof r === 'string' && r !== '' ? r : undefined;
  }

  /** DAP `modules`: the guest's loadable modules at the session's time point. */
  async modules(): Promise<DebugProtocol.Module[]> {
    const body = (await this.session.customRequest('modules', {})) as DebugProtocol.ModulesResponse['body'] | undefined;
    return body?.modules ?? [];
  }

  /** A custom request of the adapter, typed by recorder-bridge/src/protocol.ts. */
  request<C extends RewindDapCommand>(command: C, args: RewindDapRequests[C]['args']): Promise<RewindDapRequests[C]['body']> {
    return Promise.resolve(this.session.customRequest(command, args)) as Promise<RewindDapRequests[C]['body']>;
  }

  /**
   * A custom request that `token` cancels: VS Code's customRequest does not say the request's
   * sequence number, so it is read from the request as the tracker sees it go to the adapter,
   * and DAP's `cancel` names it (the adapter then answers the request with "cancelled").
   */
  requestCancellable<C extends RewindDapCommand>(command: C, args: RewindDapRequests[C]['args'], token: vscode.CancellationToken): Promise<RewindDapRequests[C]['body']> {
    let seq: number | undefined;
    let cancelled = token.isCancellationRequested;
    const sendCancel = () => void Promise.resolve(this.session.customRequest('cancel', { requestId: seq })).catch(() => undefined);
    const waiter = {
      command,
      seen: (n: number) => {
        seq = n;
        if (cancelled) sendCancel();
      },
    };
    this.sentWaiters.push(waiter);
    const sub = token.onCancellationRequested(() => {
      if (cancelled) return;
      cancelled = true;
      if (seq !== undefined) sendCancel();
    });
    return this.request(command, args).finally(() => {
      sub.dispose();
      const i = this.sentWaiters.indexOf(waiter);
      if (i >= 0) this.sentWaiters.splice(i, 1);
    });
  }

  /** Called with every message VS Code sends to the adapter. */
  onRequestSent(m: { type?: string; command?: string; seq?: number }): void {
    if (m.type !== 'request' || typeof m.seq !== 'number') return;
    const i = this.sentWaiters.findIndex((w) => w.command === m.command);
    if (i < 0) return;
    const [w] = this.sentWaiters.splice(i, 1);
    w!.seen(m.seq);
  }

  /** The timeline's data source, opened on first use (after the first stop: the index is built by then). */
  timelineData(): Promise<TimelineData> {
    this.timeline ??= TimelineData.open((args) => this.request('rewind/events', args), this.position ? { end: this.position.end } : {});
    this.timeline.catch(() => (this.timeline = undefined));
    return this.timeline;
  }

  markers(): TimelineMarker[] {
    const snaps: TimelineMarker[] = this.snapshots.map((s) => ({ icount: s.icount, kind: 'snapshot', label: `Snapshot ${s.name}${s.source === 'replay' ? ' (taken in this session)' : ''}` }));
    const bookmarks: TimelineMarker[] = this.bookmarks.map((b) => ({ icount: b.icount, kind: 'bookmark', label: `Bookmark "${b.name}"` }));
    return [...snaps, ...bookmarks, ...this.stops, ...this.hits, ...this.writes];
  }

  async refreshSnapshots(): Promise<void> {
    this.snapshots = (await this.request('rewind/snapshots', {})).snapshots;
  }

  async refreshBookmarks(): Promise<void> {
    this.bookmarks = (await this.request('rewind/bookmarks', {})).bookmarks;
  }

  /** Called with every message the adapter sends; returns what changed. */
  onMessage(m: { type?: string; event?: string; body?: unknown }): 'position' | 'events' | 'bookmarks' | undefined {
    if (m.type !== 'event') return undefined;
    if (m.event === 'rewind/bookmarksChanged') {
      this.bookmarks = (m.body as RewindBookmarksChangedEvent).bookmarks;
      return 'bookmarks';
    }
    if (m.event === 'rewind/eventsChanged') {
      // rewind/events has more to say (a Linux guest's kernel events): read the index again.
      this.timeline = undefined;
      return 'events';
    }
    if (m.event === 'stopped') {
      const b = m.body as { reason: string; description?: string; threadId?: number };
      this.lastStop = { reason: b.reason, ...(b.description ? { description: b.description } : {}) };
      if (typeof b.threadId === 'number') this.threadId = b.threadId;
      return undefined;
    }
    if (m.event === 'rewind/positionChanged') {
      const p = m.body as RewindPositionChangedEvent;
      this.position = { icount: p.icount, end: p.end, percent: p.percent, atStart: p.atStart, atEnd: p.atEnd, ...(p.nearestEvent ? { nearestEvent: p.nearestEvent } : {}) };
      const stop = this.lastStop;
      this.lastStop = undefined;
      if (stop && MARKED_STOPS.has(stop.reason) && !this.stops.some((s) => s.icount === p.icount)) {
        this.stops.push({ icount: p.icount, kind: 'stop', label: `${capitalize(stop.reason)} at icount ${groupDigits(p.icount)}${stop.description ? `: ${stop.description}` : ''}` });
      }
      return 'position';
    }
    return undefined;
  }

  /** A short description of the position for tooltips. */
  nearestEventText(): string | undefined {
    const e = this.position?.nearestEvent;
    return e ? `${describeEvent(e)} at icount ${groupDigits(e.icount)}` : undefined;
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export class SessionTracker implements vscode.Disposable {
  private readonly sessions = new Map<string, RewindSession>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly positionEmitter = new vscode.EventEmitter<RewindSession>();
  private readonly activeEmitter = new vscode.EventEmitter<RewindSession | undefined>();
  private readonly markersEmitter = new vscode.EventEmitter<RewindSession>();
  /** The position of a session changed (after every stop). */
  readonly onDidChangePosition = this.positionEmitter.event;
  /** The session the views follow changed (or ended: undefined). */
  readonly onDidChangeActive = this.activeEmitter.event;
  /** Snapshots, bookmarks, stops, hits or writes changed. */
  readonly onDidChangeMarkers = this.markersEmitter.event;
  private readonly eventsEmitter = new vscode.EventEmitter<RewindSession>();
  /** The recording's events changed (rewind/eventsChanged): views that list them read them again. */
  readonly onDidChangeEvents = this.eventsEmitter.event;

  /** The "Rewind" output channel: failed requests and the adapter's errors, for bug reports (also a file in the logs folder). */
  readonly log = vscode.window.createOutputChannel('Rewind', { log: true });

  constructor() {
    this.disposables.push(
      this.log,
      this.positionEmitter,
      this.activeEmitter,
      this.markersEmitter,
      this.eventsEmitter,
      vscode.debug.registerDebugAdapterTrackerFactory(REWIND_DEBUG_TYPE, {
        createDebugAdapterTracker: (session) => {
          const s = new RewindSession(session);
          this.sessions.set(session.id, s);
          this.showOpening(s);
          return {
            onDidSendMessage: (m: { type?: string; event?: string; body?: unknown }) => {
              this.log.trace(`${session.name} <- ${JSON.stringify(m).slice(0, 400)}`);
              this.onMessage(s, m);
            },
            onWillReceiveMessage: (m: { type?: string; command?: string; seq?: number }) => {
              this.log.trace(`${session.name} -> ${JSON.stringify(m).slice(0, 400)}`);
              s.onRequestSent(m);
            },
            onError: (e: Error) => this.log.error(`${session.name}: ${e.message}`),
          };
        },
      }),
      vscode.debug.onDidTerminateDebugSession((session) => {
        const s = this.sessions.get(session.id);
        if (s) this.firstStopSeen(s);
        if (!this.sessions.delete(session.id)) return;
        this.activeChanged();
      }),
      vscode.debug.onDidChangeActiveDebugSession(() => this.activeChanged()),
    );
  }

  private onMessage(s: RewindSession, m: { type?: string; event?: string; body?: unknown; command?: string; success?: boolean; message?: string }): void {
    if (m.type === 'response' && m.success === false && m.message !== 'cancelled') this.log.warn(`${s.session.name}: ${m.command} failed: ${m.message}`);
    if (m.type === 'event' && m.event === 'output' && (m.body as { category?: string }).category === 'stderr') this.log.error(`${s.session.name}: ${(m.body as { output: string }).output.trimEnd()}`);
    const firstStop = s.position === undefined;
    const changed = s.onMessage(m);
    if (changed === 'events' && s === this.active) this.eventsEmitter.fire(s);
    if (changed === 'bookmarks') this.markersEmitter.fire(s);
    if (changed !== 'position') return;
    if (s === this.active) this.positionEmitter.fire(s);
    if (firstStop) {
      this.firstStopSeen(s);
      this.activeChanged();
      void s.refreshSnapshots().then(() => this.markersEmitter.fire(s), () => undefined);
      void s.refreshBookmarks().then(() => this.markersEmitter.fire(s), (e: Error) => this.log.warn(`${s.session.name}: cannot read the bookmarks: ${e.message}`));
    }
    if (s.stops.length > 0) this.markersEmitter.fire(s);
  }

  private lastActive?: RewindSession;
  private readonly firstStops = new Map<RewindSession, () => void>();

  /**
   * Opening a recording (reading and indexing its replay log, starting the replay processes and
   * gdb, running to the first breakpoint) can take a while on a big recording: after a second, a
   * notification says so, and Cancel ends the session. Recording first has the adapter's own
   * progress (DAP progress events), so it gets none.
   */
  private showOpening(s: RewindSession): void {
    if (s.session.configuration.record) return;
    const done = new Promise<void>((resolve) => this.firstStops.set(s, resolve));
    const timer = setTimeout(() => {
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Rewind: opening ${s.session.name}`, cancellable: true },
        async (progress, token) => {
          progress.report({ message: 'indexing events, starting replay and gdb, running to the first stop…' });
          token.onCancellationRequested(() => void vscode.debug.stopDebugging(s.session));
          await done;
        },
      );
    }, 1000);
    void done.then(() => clearTimeout(timer));
  }

  private firstStopSeen(s: RewindSession): void {
    this.firstStops.get(s)?.();
    this.firstStops.delete(s);
  }

  private activeChanged(): void {
    const a = this.active;
    void vscode.commands.executeCommand('setContext', 'rewind.sessionActive', a !== undefined);
    if (a !== this.lastActive || a === undefined) {
      this.lastActive = a;
      this.activeEmitter.fire(a);
    }
  }

  /**
   * The session the views follow: the active debug session when it is Rewind's, else the most
   * recent Rewind session that has stopped at least once.
   */
  get active(): RewindSession | undefined {
    const a = vscode.debug.activeDebugSession;
    if (a && this.sessions.has(a.id)) {
      const s = this.sessions.get(a.id)!;
      if (s.position) return s;
    }
    return [...this.sessions.values()].reverse().find((s) => s.position);
  }

  get(session: vscode.DebugSession): RewindSession | undefined {
    return this.sessions.get(session.id);
  }

  /** Tells views that a session's markers changed (snapshots taken, hits or writes found). */
  markersChanged(s: RewindSession): void {
    this.markersEmitter.fire(s);
  }

  /** The active session, or an error message that says how to get one. */
  require(): RewindSession {
    const s = this.active;
    if (!s) throw new UserFacingError('No Rewind debug session is running: open a recording first (Rewind: Open Recording…), or start "Replay a recording" in Run and Debug.');
    return s;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** An error whose message is meant for the user as it is (no stack, no "internal error"). */
export class UserFacingError extends Error {}
