/**
 * The Events view: the recording's events of the kinds the user chose (a filter), in time order;
 * a click goes to that event's time point, and the last event before the position is marked.
 * At the top, "Console output": the lines the guest printed on its serial console (rewind/console,
 * exact time points from the recording), each a click that goes to where it was printed.
 */
import * as vscode from 'vscode';
import type { RewindConsoleResponse, TimelineEvent } from '@rewind/protocol';
import { consoleLineLabel, lastAtOrBefore } from './novsc/bookmarks';
import { kernelScanNote, type KernelScanNote } from './novsc/events';
import { BOOKKEEPING_KINDS, describeEvent, describePosition, groupDigits, guestEventCount, kindLabel, printableBytes } from './novsc/format';
import type { RewindSession, SessionTracker } from './sessions';
import { command } from './commands/util';

const DEFAULT_KINDS = ['kernel-panic', 'kernel-oops', 'kernel-bug', 'kernel-warning', 'kernel-module-load', 'kernel-module-unload', 'interrupt', 'exception', 'serial-input', 'block', 'network', 'input', 'shutdown'];
const PAGE = 2000;

const ICONS: Record<string, [string, string]> = {
  interrupt: ['zap', 'charts.orange'],
  exception: ['error', 'charts.red'],
  clock: ['clock', 'charts.blue'],
  'serial-input': ['keyboard', 'charts.green'],
  'char-write': ['output', 'charts.yellow'],
  'char-read-all': ['keyboard', 'charts.green'],
  block: ['database', 'charts.purple'],
  network: ['globe', 'charts.purple'],
  shutdown: ['debug-stop', 'charts.red'],
  'kernel-panic': ['flame', 'charts.red'],
  'kernel-oops': ['bug', 'charts.red'],
  'kernel-bug': ['bug', 'charts.red'],
  'kernel-warning': ['warning', 'charts.yellow'],
  'kernel-module-load': ['symbol-module', 'charts.blue'],
  'kernel-module-unload': ['symbol-module', 'disabledForeground'],
  'kernel-task-switch': ['arrow-swap', 'charts.foreground'],
};

type ConsoleLine = RewindConsoleResponse['lines'][number];
type Node = { event: TimelineEvent } | { more: true } | { console: true } | { line: ConsoleLine } | { scan: KernelScanNote };
/** The one "Console output" group (its identity is what the tree knows it by). */
const CONSOLE_GROUP: Node = { console: true };
const CONSOLE_LIMIT = 100_000;

interface LoadedEvents {
  session: RewindSession;
  /** The filter they were loaded with. */
  kinds: string;
  events: TimelineEvent[];
  truncated: boolean;
  counts: Record<string, number>;
  /** What to say about a Linux recording's kernel-event scan (scanning, failed). */
  scan?: KernelScanNote;
}

export class EventsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<Node>;
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Events loaded for (session, filter). */
  private loaded?: LoadedEvents;
  private current?: number;
  /** The console's lines, for the session they were read from. */
  private consoleLines?: { session: RewindSession; lines: Promise<RewindConsoleResponse>; loaded?: ConsoleLine[] };

  constructor(private readonly sessions: SessionTracker, private readonly state: vscode.Memento) {
    this.view = vscode.window.createTreeView('rewind.events', { treeDataProvider: this, showCollapseAll: false });
    this.subscriptions.push(
      this.view,
      this.changed,
      sessions.onDidChangeActive(() => this.reload()),
      sessions.onDidChangeEvents(() => this.reload()),
      sessions.onDidChangePosition(() => this.positionChanged()),
      vscode.commands.registerCommand('rewind.filterEvents', command(() => this.pickKinds())),
      vscode.commands.registerCommand('rewind.refreshEvents', () => this.reload()),
      vscode.commands.registerCommand('rewind.loadMoreEvents', command(() => this.loadMore())),
      vscode.commands.registerCommand('rewind.scanKernelEvents', command(() => this.scanAgain())),
    );
  }

  get kinds(): string[] {
    return this.state.get<string[]>('rewind.events.kinds') ?? DEFAULT_KINDS;
  }

  private reload(): void {
    this.loaded = undefined;
    this.consoleLines = undefined;
    this.current = undefined;
    this.changed.fire(undefined);
  }

  private async load(s: RewindSession): Promise<LoadedEvents> {
    const key = this.kinds.join(',');
    if (this.loaded && this.loaded.session === s && this.loaded.kinds === key) return this.loaded;
    const r = await s.request('rewind/events', { kinds: this.kinds, limit: PAGE });
    const scan = kernelScanNote(this.kinds, r.kernelScan, r.kernelScanError);
    this.loaded = { session: s, kinds: key, events: r.events, truncated: r.truncated, counts: r.counts, ...(scan ? { scan } : {}) };
    this.describe();
    return this.loaded;
  }

  private async loadMore(): Promise<void> {
    const l = this.loaded;
    if (!l || !l.truncated) return;
    const last = l.events[l.events.length - 1]!;
    const r = await l.session.request('rewind/events', { kinds: this.kinds, from: last.icount, limit: PAGE + 64 });
    const fresh = r.events.filter((e) => e.index > last.index);
    l.events.push(...fresh.slice(0, PAGE));
    l.truncated = r.truncated || fresh.length > PAGE;
    this.describe();
    this.changed.fire(undefined);
  }

  /** Scans the recording for kernel events again (rewind/kernelEvents, with the adapter's progress), then lists them. */
  private async scanAgain(): Promise<void> {
    const s = this.sessions.active;
    if (!s) return;
    try {
      await s.request('rewind/kernelEvents', {});
    } finally {
      this.reload();
    }
  }

  private describe(): void {
    const l = this.loaded;
    if (!l) return;
    const shown = this.kinds.reduce((n, k) => n + (l.counts[k] ?? 0), 0);
    const all = guestEventCount(l.counts);
    this.view.description = `${this.kinds.length} kind${this.kinds.length === 1 ? '' : 's'} · ${groupDigits(shown)} of ${groupDigits(all)} events`;
  }

  private consoleOf(s: RewindSession): Promise<RewindConsoleResponse> {
    if (this.consoleLines?.session !== s) {
      const lines = s.request('rewind/console', { limit: CONSOLE_LIMIT });
      const entry: NonNullable<EventsView['consoleLines']> = { session: s, lines };
      this.consoleLines = entry;
      lines.then((r) => (entry.loaded = r.lines), () => (this.consoleLines = undefined));
    }
    return this.consoleLines.lines;
  }

  private positionChanged(): void {
    const s = this.sessions.active;
    // The console line marked "◀ now" follows the position.
    if (this.consoleLines?.session === s) this.changed.fire(CONSOLE_GROUP);
    const l = this.loaded;
    if (!s?.position || !l || l.session !== s) return;
    const at = s.position.icount;
    let cur: TimelineEvent | undefined;
    for (const e of l.events) {
      if (e.icount > at) break;
      cur = e;
    }
    if (cur?.index === this.current) return;
    this.current = cur?.index;
    this.changed.fire(undefined);
    if (cur && this.view.visible) void this.view.reveal({ event: cur }, { select: false, focus: false }).then(undefined, () => undefined);
  }

  async getChildren(node?: Node): Promise<Node[]> {
    const s = this.sessions.active;
    if (node) {
      if (!('console' in node) || !s) return [];
      return (await this.consoleOf(s)).lines.map((line) => ({ line }));
    }
    if (!s) {
      this.view.description = undefined;
      return [];
    }
    const l = await this.load(s);
    const nodes: Node[] = [...(l.scan ? [{ scan: l.scan }] : []), CONSOLE_GROUP, ...l.events.map((event) => ({ event }))];
    if (l.truncated) nodes.push({ more: true });
    if (this.current === undefined) queueMicrotask(() => this.positionChanged());
    return nodes;
  }

  getParent(node: Node): Node | undefined {
    return 'line' in node ? CONSOLE_GROUP : undefined;
  }

  async getTreeItem(node: Node): Promise<vscode.TreeItem> {
    if ('console' in node) return this.consoleGroupItem();
    if ('scan' in node) return scanItem(node.scan);
    if ('line' in node) return this.consoleLineItem(node.line);
    if ('more' in node) {
      const item = new vscode.TreeItem(`Load ${groupDigits(PAGE)} more…`);
      item.command = { command: 'rewind.loadMoreEvents', title: 'Load more events' };
      item.iconPath = new vscode.ThemeIcon('ellipsis');
      return item;
    }
    const e = node.event;
    const end = this.sessions.active?.position?.end ?? 0;
    const item = new vscode.TreeItem(describeEvent(e));
    item.id = `event-${e.index}`;
    const isCurrent = e.index === this.current;
    item.description = `${isCurrent ? '◀ now · ' : ''}${describePosition(e.icount, end)}`;
    const [icon, color] = ICONS[e.kind] ?? ['circle-small', 'foreground'];
    item.iconPath = new vscode.ThemeIcon(isCurrent ? 'debug-stackframe' : icon, new vscode.ThemeColor(isCurrent ? 'debugIcon.stepOverForeground' : color));
    const tip = new vscode.MarkdownString();
    tip.appendMarkdown(`**${kindLabel(e.kind)}** — event #${e.index}  \n${describePosition(e.icount, end)}`);
    if (e.detail) tip.appendMarkdown(`  \n${e.detail}`);
    if (e.bytes !== undefined) tip.appendMarkdown(`  \nbytes: \`${printableBytes(e.bytes)}\``);
    tip.appendMarkdown('  \n\nClick to go to this time point');
    item.tooltip = tip;
    item.command = { command: 'rewind.seek', title: 'Go to this event', arguments: [{ eventIndex: e.index }] };
    return item;
  }

  private async consoleGroupItem(): Promise<vscode.TreeItem> {
    const s = this.sessions.active;
    const item = new vscode.TreeItem('Console output', vscode.TreeItemCollapsibleState.Collapsed);
    item.id = 'console-output';
    item.iconPath = new vscode.ThemeIcon('output', new vscode.ThemeColor('charts.yellow'));
    const r = s ? await this.consoleOf(s).catch(() => undefined) : undefined;
    item.description = r ? `${groupDigits(r.lines.length)}${r.truncated ? '+' : ''} lines` : '';
    item.tooltip = 'The lines the guest printed on its serial console; click a line to go to the time point it was printed';
    item.accessibilityInformation = { label: `Console output ${item.description}` };
    return item;
  }

  private consoleLineItem(l: ConsoleLine): vscode.TreeItem {
    const s = this.sessions.active;
    const end = s?.position?.end ?? 0;
    const item = new vscode.TreeItem(consoleLineLabel(l.text));
    item.id = `console-line-${l.line}`;
    // "◀ now": the last line printed at or before the position.
    const loaded = this.consoleLines?.session === s ? this.consoleLines?.loaded : undefined;
    const at = s?.position?.icount;
    const isCurrent = loaded !== undefined && at !== undefined && loaded[lastAtOrBefore(loaded, at)] === l;
    item.description = `${isCurrent ? '◀ now · ' : ''}line ${l.line} · ${describePosition(l.icount, end)}`;
    item.iconPath = new vscode.ThemeIcon(isCurrent ? 'debug-stackframe' : 'circle-small', new vscode.ThemeColor(isCurrent ? 'debugIcon.stepOverForeground' : 'charts.yellow'));
    item.tooltip = `Console line ${l.line}, printed from icount ${groupDigits(l.start)} to ${groupDigits(l.icount)}. Click to go to where it was printed (its last character).`;
    item.accessibilityInformation = { label: `Console line ${l.line}: ${consoleLineLabel(l.text)}, ${isCurrent ? '◀ now, ' : ''}${describePosition(l.icount, end)}` };
    item.command = { command: 'rewind.seek', title: 'Go to where this line was printed', arguments: [{ icount: l.icount }] };
    return item;
  }

  private async pickKinds(): Promise<void> {
    const s = this.sessions.active;
    const counts = s ? (await s.request('rewind/events', { limit: 0 })).counts : {};
    // Kernel problems are offered when the recording has some (a Linux guest, after the adapter's scan).
    const kinds = [...new Set([...Object.keys(counts), ...DEFAULT_KINDS])].filter((k) => !BOOKKEEPING_KINDS.includes(k) && !(k.startsWith('kernel-') && !counts[k]));
    const chosen = new Set(this.kinds);
    const picked = await vscode.window.showQuickPick(
      kinds.map((k) => ({ label: kindLabel(k), description: `${k} · ${groupDigits(counts[k] ?? 0)}`, kind_: k, picked: chosen.has(k) })),
      { canPickMany: true, title: 'Show these kinds of events', placeHolder: 'Clock reads and console output are many; interrupts, input and disk/network I/O are the usual suspects' },
    );
    if (!picked) return;
    await this.state.update('rewind.events.kinds', picked.map((p) => p.kind_));
    this.reload();
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}

function scanItem(note: KernelScanNote): vscode.TreeItem {
  const item = new vscode.TreeItem(note.label);
  item.id = 'kernel-scan';
  item.description = note.description;
  item.tooltip = note.tooltip;
  item.iconPath = note.retry ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('charts.yellow')) : new vscode.ThemeIcon('loading~spin');
  if (note.retry) item.command = { command: 'rewind.scanKernelEvents', title: 'Scan for kernel events again' };
  return item;
}
