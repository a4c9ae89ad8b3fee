/// <reference lib="dom" />
/**
 * The Recording Timeline, drawn in the webview (bundled for the browser by scripts/build.mjs):
 * the recording's time axis with an overview strip, one lane per kind of event (counts per
 * bucket when zoomed out, single events when zoomed in), breakpoint stops and hits, the Value
 * History's writes, snapshots, and the current position. Wheel zooms, drag pans, click goes to that time; keys do the same.
 * It asks the extension for the lanes of whatever it shows (extension/timeline-view.ts) and
 * never talks to the adapter itself. Colours come from the theme's CSS variables.
 */
import type { TimelineFromWebview, TimelineLaneData, TimelineMarker, TimelineSessionInfo, TimelineToWebview, TimelineViewRange } from '@rewind/protocol';
import { describeEvent, formatPercent, groupDigits, guestEventCount, percentOf, shortIcount } from '../novsc/format';
import { clampSpan, follow, icountAt, pan, ticks, xOf, zoomAround, type Span } from '../novsc/timeline-scale';

interface VsCodeApi {
  postMessage(m: TimelineFromWebview): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

// ---- layout (CSS pixels) -------------------------------------------------------------------
const LABEL_W = 96;
const PAD_R = 10;
const OVERVIEW_Y = 4;
const OVERVIEW_H = 14;
const AXIS_Y = OVERVIEW_Y + OVERVIEW_H + 6;
const AXIS_H = 18;
const LANE_H = 20;
const LANES_Y = AXIS_Y + AXIS_H + 2;

/** Rows below the axis: markers first, then the event lanes in the order the extension sends them. */
type Row = { kind: 'stops'; label: string } | { kind: 'writes'; label: string } | { kind: 'snapshots'; label: string } | { kind: 'bookmarks'; label: string } | { kind: 'lane'; id: string; label: string };
type MarkerRow = 'stops' | 'writes' | 'snapshots' | 'bookmarks';

/** The markers a row of markers draws: snapshots, bookmarks, writes, or the rest (stops and hits). */
function markersOf(row: MarkerRow): TimelineMarker[] {
  if (row === 'snapshots') return markers.filter((m) => m.kind === 'snapshot');
  if (row === 'bookmarks') return markers.filter((m) => m.kind === 'bookmark');
  if (row === 'writes') return markers.filter((m) => m.kind === 'write');
  return markers.filter((m) => m.kind === 'stop' || m.kind === 'hit');
}

/** Theme colour variables per lane (with fallbacks for old themes). */
const LANE_COLORS: Record<string, string> = {
  kernel: '--vscode-charts-red',
  interrupts: '--vscode-charts-orange',
  clock: '--vscode-charts-blue',
  serial: '--vscode-charts-green',
  console: '--vscode-charts-yellow',
  disk: '--vscode-terminal-ansiCyan',
  network: '--vscode-terminal-ansiMagenta',
  other: '--vscode-descriptionForeground',
};

// ---- state ---------------------------------------------------------------------------------
let session: TimelineSessionInfo | null = null;
let position: { icount: number; end: number } | undefined;
let view: Span = { from: 0, to: 1 };
let lanes: TimelineLaneData[] = [];
let lanesView: TimelineViewRange | undefined;
let overview: { view: TimelineViewRange; counts: number[] } | undefined;
let markers: TimelineMarker[] = [];
let following = true;
let requestSeq = 0;
/** The last view asked for (not the whole-run strip), and the last one answered. */
let viewRequested = 0;
let viewAnswered = 0;
let pendingRequest: ReturnType<typeof setTimeout> | undefined;
let hover: { x: number; y: number } | undefined;
let drag: { startX: number; lastX: number; moved: boolean; inOverview: boolean } | undefined;
let errorText: string | undefined;
/** The next position comes from a click on the timeline: keep the view where it is. */
let clickedSeek = false;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('canvas');
const ctx = canvas.getContext('2d')!;
const tooltip = $('tooltip');
const readout = $('readout');
const statusLine = $('status');
const followButton = $('follow');

function send(m: TimelineFromWebview): void {
  vscode.postMessage(m);
}

// ---- geometry ------------------------------------------------------------------------------
function cssWidth(): number {
  return canvas.clientWidth;
}
function plotWidth(): number {
  return Math.max(10, cssWidth() - LABEL_W - PAD_R);
}
/** Lanes only a Linux guest's kernel-event scan fills: not shown empty. */
const LINUX_LANES: ReadonlySet<string> = new Set(['kernel', 'modules', 'tasks']);

function rows(): Row[] {
  const r: Row[] = [{ kind: 'stops', label: 'Stops & hits' }];
  // The Value History panel's writes: a lane while it shows some.
  if (markers.some((m) => m.kind === 'write')) r.push({ kind: 'writes', label: 'Writes' });
  r.push({ kind: 'snapshots', label: 'Snapshots' }, { kind: 'bookmarks', label: 'Bookmarks' });
  // Kernel problems and modules exist only for Linux guests (after the adapter's scan): no empty lane otherwise.
  for (const l of lanes) if (!LINUX_LANES.has(l.id) || l.total > 0) r.push({ kind: 'lane', id: l.id, label: l.label });
  return r;
}
function canvasHeight(): number {
  return LANES_Y + Math.max(rows().length, 9) * LANE_H + 4;
}
function xAt(icount: number): number {
  return LABEL_W + xOf(icount, view, plotWidth());
}
function icountAtX(x: number): number {
  return Math.min(end(), Math.max(0, icountAt(x - LABEL_W, view, plotWidth())));
}
function end(): number {
  return session?.end ?? 1;
}
function rowAt(y: number): Row | undefined {
  if (y < LANES_Y) return undefined;
  return rows()[Math.floor((y - LANES_Y) / LANE_H)];
}

// ---- theme ---------------------------------------------------------------------------------
let colors: Record<string, string> = {};
function readColors(): void {
  const style = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  colors = {
    fg: v('--vscode-foreground', '#ccc'),
    muted: v('--vscode-descriptionForeground', '#999'),
    border: v('--vscode-panel-border', v('--vscode-widget-border', '#8884')),
    position: v('--vscode-debugIcon-stepOverForeground', v('--vscode-focusBorder', '#3794ff')),
    focus: v('--vscode-focusBorder', '#3794ff'),
    stop: v('--vscode-debugIcon-breakpointForeground', '#e51400'),
    hit: v('--vscode-charts-red', '#f14c4c'),
    write: v('--vscode-charts-yellow', '#cca700'),
    snapshot: v('--vscode-charts-purple', '#b180d7'),
    bookmark: v('--vscode-charts-blue', '#3794ff'),
    band: v('--vscode-list-hoverBackground', '#8882'),
  };
  for (const [id, name] of Object.entries(LANE_COLORS)) colors[`lane-${id}`] = v(name, '#888');
}
new MutationObserver(() => {
  readColors();
  draw();
}).observe(document.body, { attributes: true, attributeFilter: ['class', 'style'] });

// ---- data requests -------------------------------------------------------------------------
function requestLanes(delay = 60): void {
  if (!session) return;
  if (pendingRequest) clearTimeout(pendingRequest);
  pendingRequest = setTimeout(() => {
    pendingRequest = undefined;
    const buckets = Math.max(50, Math.floor(plotWidth() / 2));
    viewRequested = ++requestSeq;
    send({ type: 'view', requestId: viewRequested, view: { from: view.from, to: view.to, buckets } });
  }, delay);
}

function requestOverview(): void {
  if (!session) return;
  send({ type: 'view', requestId: ++requestSeq, view: { from: 0, to: end(), buckets: Math.max(50, Math.floor(plotWidth() / 3)) }, overview: true });
}

function setView(v: Span, opts: { user?: boolean } = {}): void {
  const next = clampSpan(v, end());
  if (next.from === view.from && next.to === view.to) return;
  view = next;
  // Moving the view away from the position by hand stops following it.
  if (opts.user && following && position && (position.icount < view.from || position.icount > view.to)) setFollowing(false);
  saveState();
  draw();
  requestLanes();
}

function setFollowing(on: boolean): void {
  following = on;
  followButton.setAttribute('aria-pressed', String(on));
  followButton.classList.toggle('on', on);
  if (on && position) setView(follow(view, position.icount, end()));
  saveState();
}

function saveState(): void {
  if (session) vscode.setState({ session: session.name, end: session.end, view, following });
}

// ---- messages from the extension -----------------------------------------------------------
window.addEventListener('message', (e: MessageEvent<TimelineToWebview>) => {
  const m = e.data;
  switch (m.type) {
    case 'session': {
      const prev = session;
      session = m.session;
      $('empty').hidden = session !== null;
      $('timeline').hidden = session === null;
      if (!session) {
        lanes = [];
        overview = undefined;
        markers = [];
        position = undefined;
        return;
      }
      if (!prev || prev.name !== session.name || prev.end !== session.end) {
        const saved = vscode.getState() as { session?: string; end?: number; view?: Span; following?: boolean } | undefined;
        view = saved?.session === session.name && saved.end === session.end && saved.view ? clampSpan(saved.view, session.end) : { from: 0, to: session.end };
        following = saved?.following ?? true;
        followButton.setAttribute('aria-pressed', String(following));
        followButton.classList.toggle('on', following);
        lanes = [];
        lanesView = undefined;
        overview = undefined;
      }
      const name = session.recording ? session.recording.split('/').pop() : session.name;
      canvas.setAttribute('aria-label', `Timeline of ${name}: click to go to a time point; wheel or +/- to zoom; drag or arrow keys to pan`);
      resize();
      requestOverview();
      requestLanes(0);
      return;
    }
    case 'position':
      position = { icount: m.icount, end: m.end };
      if (following) {
        const next = follow(view, m.icount, end(), clickedSeek ? 0 : 0.05);
        if (next !== view) setView(next);
      }
      clickedSeek = false;
      draw();
      return;
    case 'lanes':
      errorText = undefined;
      if (m.overview) {
        overview = { view: m.view, counts: sumLanes(m.lanes) };
        if (lanes.length === 0) {
          lanes = m.lanes;
          lanesView = m.view;
          resize();
        }
      } else if (m.requestId === viewRequested || !lanesView) {
        if (m.requestId === viewRequested) viewAnswered = m.requestId;
        lanes = m.lanes;
        lanesView = m.view;
        resize();
      }
      draw();
      return;
    case 'markers':
      markers = m.markers;
      // The writes' lane comes and goes with them: the canvas's height may change.
      resize();
      return;
    case 'error':
      errorText = m.message;
      draw();
      return;
  }
});

/** The overview strip shows all guest events but clock reads (they drown everything else). */
function sumLanes(ls: TimelineLaneData[]): number[] {
  const out: number[] = [];
  for (const l of ls) {
    if (l.id === 'clock') continue;
    l.counts.forEach((c, i) => (out[i] = (out[i] ?? 0) + c));
  }
  return out;
}

// ---- drawing -------------------------------------------------------------------------------
function resize(): void {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(200, canvas.parentElement!.clientWidth);
  const h = canvasHeight();
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  draw();
}

function font(size: number, weight = ''): string {
  const family = getComputedStyle(document.body).fontFamily || 'sans-serif';
  return `${weight} ${size}px ${family}`.trim();
}

function draw(): void {
  if (!session) return;
  const w = cssWidth();
  const h = canvasHeight();
  ctx.clearRect(0, 0, w, h);
  drawOverview();
  drawAxis();
  const rs = rows();
  rs.forEach((row, i) => drawRow(row, LANES_Y + i * LANE_H));
  drawPosition(rs.length);
  drawHover(rs.length);
  updateText();
}

function drawOverview(): void {
  const x0 = LABEL_W;
  const pw = plotWidth();
  ctx.fillStyle = colors.band!;
  ctx.fillRect(x0, OVERVIEW_Y, pw, OVERVIEW_H);
  ctx.font = font(10);
  ctx.fillStyle = colors.muted!;
  ctx.textBaseline = 'middle';
  ctx.fillText('Whole run', 6, OVERVIEW_Y + OVERVIEW_H / 2);
  if (overview) {
    const max = Math.max(1, ...overview.counts);
    const bw = pw / overview.counts.length;
    ctx.fillStyle = colors.muted!;
    overview.counts.forEach((c, i) => {
      if (!c) return;
      const bh = Math.max(1.5, (Math.log1p(c) / Math.log1p(max)) * (OVERVIEW_H - 2));
      ctx.globalAlpha = 0.7;
      ctx.fillRect(x0 + i * bw, OVERVIEW_Y + OVERVIEW_H - bh, Math.max(1, bw - 0.2), bh);
    });
    ctx.globalAlpha = 1;
  }
  // The part in view, and the position.
  const e = end();
  const vx0 = x0 + (view.from / e) * pw;
  const vx1 = x0 + (view.to / e) * pw;
  ctx.strokeStyle = colors.focus!;
  ctx.lineWidth = 1;
  ctx.globalAlpha = 0.25;
  ctx.fillStyle = colors.focus!;
  ctx.fillRect(vx0, OVERVIEW_Y, Math.max(2, vx1 - vx0), OVERVIEW_H);
  ctx.globalAlpha = 1;
  ctx.strokeRect(vx0 + 0.5, OVERVIEW_Y + 0.5, Math.max(2, vx1 - vx0) - 1, OVERVIEW_H - 1);
  if (position) {
    ctx.fillStyle = colors.position!;
    ctx.fillRect(x0 + (position.icount / e) * pw - 1, OVERVIEW_Y - 2, 2, OVERVIEW_H + 4);
  }
}

function drawAxis(): void {
  const pw = plotWidth();
  ctx.strokeStyle = colors.border!;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(LABEL_W, AXIS_Y + AXIS_H - 0.5);
  ctx.lineTo(LABEL_W + pw, AXIS_Y + AXIS_H - 0.5);
  ctx.stroke();
  ctx.font = font(10);
  ctx.fillStyle = colors.muted!;
  ctx.textBaseline = 'middle';
  ctx.fillText('icount', 6, AXIS_Y + AXIS_H / 2);
  const rowsBottom = LANES_Y + rows().length * LANE_H;
  for (const t of ticks(view, Math.max(2, Math.floor(pw / 80)))) {
    const x = Math.round(xAt(t.icount)) + 0.5;
    ctx.globalAlpha = 0.35;
    ctx.strokeStyle = colors.border!;
    ctx.beginPath();
    ctx.moveTo(x, AXIS_Y + AXIS_H - 4);
    ctx.lineTo(x, rowsBottom);
    ctx.stroke();
    ctx.globalAlpha = 1;
    const tw = ctx.measureText(t.label).width;
    if (x - tw / 2 > LABEL_W - 4 && x + tw / 2 < LABEL_W + pw + PAD_R) ctx.fillText(t.label, x - tw / 2, AXIS_Y + AXIS_H / 2 - 1);
  }
}

function drawRow(row: Row, y: number): void {
  const pw = plotWidth();
  // Zebra bands help the eye follow a lane across.
  const index = Math.round((y - LANES_Y) / LANE_H);
  if (index % 2 === 0) {
    ctx.globalAlpha = 0.35;
    ctx.fillStyle = colors.band!;
    ctx.fillRect(0, y, LABEL_W + pw, LANE_H);
    ctx.globalAlpha = 1;
  }
  ctx.font = font(11);
  ctx.fillStyle = colors.fg!;
  ctx.textBaseline = 'middle';
  ctx.fillText(row.label, 6, y + LANE_H / 2, LABEL_W - 10);
  ctx.save();
  ctx.beginPath();
  ctx.rect(LABEL_W, y, pw, LANE_H);
  ctx.clip();
  if (row.kind !== 'lane') drawMarkers(markersOf(row.kind), y);
  else {
    const lane = lanes.find((l) => l.id === row.id);
    if (lane) drawLane(lane, y);
  }
  ctx.restore();
}

function drawLane(lane: TimelineLaneData, y: number): void {
  const color = colors[`lane-${lane.id}`] ?? colors.fg!;
  const top = y + 3;
  const h = LANE_H - 6;
  if (lane.total === 0) {
    ctx.font = font(10, 'italic');
    ctx.fillStyle = colors.muted!;
    ctx.globalAlpha = 0.7;
    ctx.fillText('none in this recording', LABEL_W + 6, y + LANE_H / 2);
    ctx.globalAlpha = 1;
    return;
  }
  const pw = plotWidth();
  const visible = lane.events?.filter((e) => e.icount >= view.from && e.icount <= view.to);
  ctx.fillStyle = color;
  if (visible && visible.length <= pw / 3) {
    // Few enough to draw one by one: a tick per event.
    for (const e of visible) ctx.fillRect(Math.round(xAt(e.icount)) - 1, top, 2, h);
    return;
  }
  if (!lanesView) return;
  // Counts per bucket, placed by the buckets' own time spans (the data may be for a slightly
  // different view while a newer one is on its way).
  const v = lanesView;
  const span = (v.to - v.from + 1) / v.buckets;
  const max = Math.max(1, ...lane.counts);
  const estimated = new Set(lane.estimated);
  lane.counts.forEach((c, i) => {
    if (!c) return;
    const x0 = xAt(v.from + i * span);
    const x1 = xAt(v.from + (i + 1) * span);
    if (x1 < LABEL_W || x0 > LABEL_W + pw) return;
    const bh = Math.max(2, (Math.log1p(c) / Math.log1p(max)) * h);
    ctx.globalAlpha = estimated.has(i) ? 0.45 : 0.9;
    ctx.fillRect(x0, top + h - bh, Math.max(1, x1 - x0 - 0.3), bh);
  });
  ctx.globalAlpha = 1;
}

function drawMarkers(ms: TimelineMarker[], y: number): void {
  const mid = y + LANE_H / 2;
  for (const m of ms) {
    if (m.icount < view.from || m.icount > view.to) continue;
    const x = xAt(m.icount);
    ctx.beginPath();
    if (m.kind === 'snapshot') {
      ctx.fillStyle = colors.snapshot!;
      ctx.rect(x - 4, mid - 4, 8, 8);
    } else if (m.kind === 'bookmark') {
      // A bookmark ribbon: a rectangle with a notch at the bottom.
      ctx.fillStyle = colors.bookmark!;
      ctx.moveTo(x - 4, mid - 6);
      ctx.lineTo(x + 4, mid - 6);
      ctx.lineTo(x + 4, mid + 6);
      ctx.lineTo(x, mid + 2);
      ctx.lineTo(x - 4, mid + 6);
      ctx.closePath();
    } else if (m.kind === 'stop') {
      ctx.fillStyle = colors.stop!;
      ctx.arc(x, mid, 4.5, 0, Math.PI * 2);
    } else if (m.kind === 'write') {
      // A triangle pointing down: something was written here.
      ctx.fillStyle = colors.write!;
      ctx.moveTo(x - 4.5, mid - 4);
      ctx.lineTo(x + 4.5, mid - 4);
      ctx.lineTo(x, mid + 5);
      ctx.closePath();
    } else {
      ctx.fillStyle = colors.hit!;
      ctx.moveTo(x, mid - 5);
      ctx.lineTo(x + 4, mid);
      ctx.lineTo(x, mid + 5);
      ctx.lineTo(x - 4, mid);
      ctx.closePath();
    }
    ctx.fill();
  }
}

function drawPosition(rowCount: number): void {
  if (!position || position.icount < view.from || position.icount > view.to) return;
  const x = Math.round(xAt(position.icount));
  const bottom = LANES_Y + rowCount * LANE_H;
  ctx.fillStyle = colors.position!;
  ctx.fillRect(x - 1, AXIS_Y, 2, bottom - AXIS_Y);
  // A small flag on the axis: the playhead.
  ctx.beginPath();
  ctx.moveTo(x - 6, AXIS_Y);
  ctx.lineTo(x + 6, AXIS_Y);
  ctx.lineTo(x, AXIS_Y + 7);
  ctx.closePath();
  ctx.fill();
}

function drawHover(rowCount: number): void {
  if (!hover || drag?.moved || hover.x < LABEL_W || hover.y < AXIS_Y) return;
  const x = Math.round(hover.x) + 0.5;
  ctx.strokeStyle = colors.fg!;
  ctx.globalAlpha = 0.45;
  ctx.setLineDash([3, 3]);
  ctx.beginPath();
  ctx.moveTo(x, AXIS_Y);
  ctx.lineTo(x, LANES_Y + rowCount * LANE_H);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;
}

function updateText(): void {
  if (position) readout.textContent = `icount ${groupDigits(position.icount)} · ${formatPercent(percentOf(position.icount, end()))}`;
  const total = session ? guestEventCount(session.counts) : 0;
  const whole = view.from === 0 && view.to === end();
  const sampled = lanes.some((l) => l.estimated.length > 0);
  statusLine.textContent = errorText
    ? `Error: ${errorText}`
    : `${whole ? 'Whole recording' : `${shortIcount(view.from)} – ${shortIcount(view.to)}`} of ${groupDigits(end())} instructions · ${groupDigits(total)} events${sampled ? ' · faded bars are estimates' : ''}`;
}

// ---- hover details -------------------------------------------------------------------------
interface Hit {
  title: string;
  lines: string[];
  /** Where a click goes (an event or marker's exact time). */
  icount?: number;
}

function hitTest(x: number, y: number): Hit | undefined {
  if (y >= OVERVIEW_Y && y < OVERVIEW_Y + OVERVIEW_H + 2 && x >= LABEL_W) {
    const at = Math.round(((x - LABEL_W) / plotWidth()) * end());
    return { title: 'Whole recording', lines: [`around icount ${groupDigits(at)}`, 'Click or drag to move the view here'] };
  }
  if (x < LABEL_W) return undefined;
  const at = icountAtX(x);
  const where = `icount ${groupDigits(at)} (${formatPercent(percentOf(at, end()))})`;
  if (y < LANES_Y) return { title: where, lines: ['Click to go to this time'] };
  const row = rowAt(y);
  if (!row) return undefined;
  if (row.kind !== 'lane') {
    const near = nearest(markersOf(row.kind), x);
    if (near) return { title: near.label, lines: [`icount ${groupDigits(near.icount)} (${formatPercent(percentOf(near.icount, end()))})`, row.kind === 'writes' ? 'Click to go to just before this write' : 'Click to go there'], icount: near.icount };
    const about = {
      stops: 'Breakpoint stops of this session and "Show All Hits" results show here',
      writes: 'The writes of the Value History panel\'s expression show here',
      snapshots: 'Snapshots: replay starts from the nearest one before a time',
      bookmarks: 'Bookmarks: Rewind: Add Bookmark… names the current time point',
    };
    return { title: where, lines: [about[row.kind]] };
  }
  const lane = lanes.find((l) => l.id === row.id);
  if (!lane) return undefined;
  const ev = lane.events ? nearest(lane.events, x) : undefined;
  if (ev) {
    return { title: describeEvent(ev), lines: [`event #${ev.index} at icount ${groupDigits(ev.icount)} (${formatPercent(percentOf(ev.icount, end()))})`, ...(ev.detail && ev.kind !== 'clock' ? [ev.detail] : []), 'Click to go to this event'], icount: ev.icount };
  }
  if (lanesView) {
    const v = lanesView;
    const span = (v.to - v.from + 1) / v.buckets;
    const b = Math.floor((at - v.from) / span);
    const c = lane.counts[b];
    if (c !== undefined && c > 0) {
      const from = Math.round(v.from + b * span);
      const to = Math.round(v.from + (b + 1) * span) - 1;
      const about = lane.estimated.includes(b) ? 'about ' : '';
      const inBucket = lane.events?.filter((e) => e.icount >= from && e.icount <= to) ?? [];
      return {
        title: `${about}${groupDigits(c)} × ${lane.label.toLowerCase()}`,
        lines: [`icount ${groupDigits(from)} – ${groupDigits(to)}`, ...inBucket.slice(0, 4).map((e) => `${describeEvent(e)} @ ${groupDigits(e.icount)}`), ...(inBucket.length > 4 ? [`… and ${inBucket.length - 4} more (zoom in)`] : []), 'Click to go to this time; zoom in to see single events'],
      };
    }
  }
  return { title: where, lines: [`${lane.label}: nothing here`, 'Click to go to this time'] };
}

function nearest<T extends { icount: number }>(items: readonly T[], x: number, radius = 5): T | undefined {
  let best: T | undefined;
  let bestD = radius + 1;
  for (const it of items) {
    if (it.icount < view.from || it.icount > view.to) continue;
    const d = Math.abs(xAt(it.icount) - x);
    if (d < bestD) {
      best = it;
      bestD = d;
    }
  }
  return best;
}

function showTooltip(x: number, y: number): void {
  const hit = hitTest(x, y);
  if (!hit || drag?.moved) {
    tooltip.hidden = true;
    return;
  }
  tooltip.replaceChildren();
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = hit.title;
  tooltip.append(title);
  for (const line of hit.lines) {
    const d = document.createElement('div');
    d.textContent = line;
    tooltip.append(d);
  }
  tooltip.hidden = false;
  const rect = canvas.getBoundingClientRect();
  const tw = tooltip.offsetWidth;
  const left = Math.min(rect.left + x + 12, window.innerWidth - tw - 4);
  tooltip.style.left = `${Math.max(4, left)}px`;
  tooltip.style.top = `${rect.top + y + 16 + window.scrollY}px`;
}

// ---- interaction ---------------------------------------------------------------------------
function localPoint(e: MouseEvent): { x: number; y: number } {
  const r = canvas.getBoundingClientRect();
  return { x: e.clientX - r.left, y: e.clientY - r.top };
}

function inOverview(y: number): boolean {
  return y < OVERVIEW_Y + OVERVIEW_H + 3;
}

function centerOverviewAt(x: number): void {
  const at = ((x - LABEL_W) / plotWidth()) * end();
  const width = view.to - view.from;
  setView({ from: at - width / 2, to: at + width / 2 }, { user: true });
}

canvas.addEventListener('mousedown', (e) => {
  if (e.button !== 0) return;
  const p = localPoint(e);
  drag = { startX: p.x, lastX: p.x, moved: false, inOverview: inOverview(p.y) };
  canvas.focus();
});

window.addEventListener('mousemove', (e) => {
  const p = localPoint(e);
  if (drag) {
    if (Math.abs(p.x - drag.startX) > 3) drag.moved = true;
    if (drag.moved) {
      if (drag.inOverview) centerOverviewAt(p.x);
      else setView(pan(view, ((drag.lastX - p.x) / plotWidth()) * (view.to - view.from), end()), { user: true });
      drag.lastX = p.x;
      canvas.style.cursor = 'grabbing';
    }
  }
});

canvas.addEventListener('mousemove', (e) => {
  const p = localPoint(e);
  hover = p;
  showTooltip(p.x, p.y);
  draw();
});

canvas.addEventListener('mouseleave', () => {
  hover = undefined;
  tooltip.hidden = true;
  draw();
});

window.addEventListener('mouseup', (e) => {
  const d = drag;
  drag = undefined;
  canvas.style.cursor = '';
  if (!d || d.moved || e.button !== 0) return;
  const p = localPoint(e);
  if (d.inOverview) {
    if (p.x >= LABEL_W) centerOverviewAt(p.x);
    return;
  }
  if (p.x < LABEL_W || p.y < AXIS_Y) return;
  const hit = hitTest(p.x, p.y);
  seek(hit?.icount ?? icountAtX(p.x));
});

canvas.addEventListener(
  'wheel',
  (e) => {
    e.preventDefault();
    const p = localPoint(e);
    const width = view.to - view.from;
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const delta = (e.shiftKey ? e.deltaY : e.deltaX) / plotWidth();
      setView(pan(view, delta * width, end()), { user: true });
    } else {
      const anchor = p.x >= LABEL_W ? icountAtX(p.x) : (view.from + view.to) / 2;
      setView(zoomAround(view, anchor, Math.exp(e.deltaY * 0.0015), end()), { user: true });
    }
    showTooltip(p.x, p.y);
  },
  { passive: false },
);

canvas.addEventListener('keydown', (e) => {
  const width = view.to - view.from;
  const center = position && position.icount >= view.from && position.icount <= view.to ? position.icount : (view.from + view.to) / 2;
  switch (e.key) {
    case 'ArrowLeft':
      setView(pan(view, -width * (e.shiftKey ? 0.5 : 0.1), end()), { user: true });
      break;
    case 'ArrowRight':
      setView(pan(view, width * (e.shiftKey ? 0.5 : 0.1), end()), { user: true });
      break;
    case '+':
    case '=':
      setView(zoomAround(view, center, 0.5, end()), { user: true });
      break;
    case '-':
    case '_':
      setView(zoomAround(view, center, 2, end()), { user: true });
      break;
    case '0':
      setView({ from: 0, to: end() }, { user: true });
      break;
    case 'f':
    case 'F':
      setFollowing(!following);
      break;
    case 'Enter':
      if (hover) seek(hitTest(hover.x, hover.y)?.icount ?? icountAtX(hover.x));
      break;
    default:
      return;
  }
  e.preventDefault();
});

function seek(icount: number): void {
  following = true;
  followButton.setAttribute('aria-pressed', 'true');
  followButton.classList.add('on');
  clickedSeek = true;
  send({ type: 'seek', icount });
}

$('zoom-in').addEventListener('click', () => setView(zoomAround(view, position?.icount ?? (view.from + view.to) / 2, 0.5, end()), { user: true }));
$('zoom-out').addEventListener('click', () => setView(zoomAround(view, position?.icount ?? (view.from + view.to) / 2, 2, end()), { user: true }));
$('zoom-fit').addEventListener('click', () => setView({ from: 0, to: end() }, { user: true }));
followButton.addEventListener('click', () => setFollowing(!following));
document.querySelectorAll<HTMLButtonElement>('#empty button').forEach((b) => {
  b.addEventListener('click', () => send({ type: 'command', command: b.dataset.command as 'openRecording' | 'recordGuest' }));
});

let lastWidth = 0;
new ResizeObserver(() => {
  const w = canvas.parentElement!.clientWidth;
  if (w === lastWidth) return;
  lastWidth = w;
  resize();
  if (session) {
    requestLanes();
    requestOverview();
  }
}).observe($('timeline'));

readColors();
send({ type: 'ready' });

/** For tests and the curious: the timeline's state (read by the end-to-end test). */
(window as unknown as { rewindTimeline: unknown }).rewindTimeline = {
  get view() {
    return view;
  },
  get position() {
    return position;
  },
  get markers(): TimelineMarker[] {
    return markers;
  },
  /** The lanes drawn are those of the view shown (no request for a newer view pending). */
  get settled() {
    return pendingRequest === undefined && viewAnswered === viewRequested && viewRequested > 0;
  },
  get lanes(): Array<Pick<TimelineLaneData, 'id' | 'total'> & { shown: number; events?: number }> {
    return lanes.map((l) => ({ id: l.id, total: l.total, shown: l.counts.reduce((a, b) => a + b, 0), ...(l.events ? { events: l.events.length } : {}) }));
  },
  icountAtX,
  xAt,
  /** The vertical middle of a row: 'axis', 'stops', 'writes', 'snapshots', 'bookmarks' or a lane's id (canvas pixels). */
  rowY(id: string): number | undefined {
    if (id === 'axis') return AXIS_Y + AXIS_H / 2;
    const i = rows().findIndex((r) => (r.kind === 'lane' ? r.id : r.kind) === id);
    return i < 0 ? undefined : LANES_Y + i * LANE_H + LANE_H / 2;
  },
};
