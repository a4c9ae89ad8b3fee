/// <reference lib="dom" />
/**
 * The Value History panel's table, drawn in the webview (bundled for the browser by
 * scripts/build.mjs): one row per write of the expression, sortable by a click on a column's
 * header (again: the other way), a click (or Enter) on a row goes to the time point just before
 * that write. The row holding the value now is marked. It never talks to the adapter: the
 * extension (extension/value-history-view.ts) asks and answers.
 */
import type { ValueHistoryColumn, ValueHistoryFromWebview, ValueHistoryRow, ValueHistoryTable, ValueHistoryToWebview, ValueHistoryValue } from '@rewind/protocol';
import { describePosition, groupDigits } from '../novsc/format';
import { COLUMN_LABELS, columns, nextSort, rowOfValueAt, sortRows, summaryText, type SortDirection } from '../novsc/value-history';

interface VsCodeApi {
  postMessage(m: ValueHistoryFromWebview): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const summary = $('summary');
const note = $('note');
const errorBox = $('error');
const tableEl = $<HTMLTableElement>('table');
const head = $('head');
const body = $('rows');
const cancelButton = $<HTMLButtonElement>('cancel');
const refreshButton = $<HTMLButtonElement>('refresh');

let table: ValueHistoryTable | undefined;
let sort: { column: ValueHistoryColumn; direction: SortDirection } = { column: 'icount', direction: 'asc' };
let position: number | undefined;
/** The row last clicked (n), kept selected across sorts. */
let selected: number | undefined;
let ended = false;

function send(m: ValueHistoryFromWebview): void {
  vscode.postMessage(m);
}

window.addEventListener('message', (e: MessageEvent<ValueHistoryToWebview>) => {
  const m = e.data;
  switch (m.type) {
    case 'loading':
      table = undefined;
      selected = undefined;
      ended = false;
      summary.textContent = `Finding every write of ${m.expression} in the recording…`;
      note.textContent = '';
      errorBox.hidden = true;
      tableEl.hidden = true;
      cancelButton.hidden = false;
      refreshButton.hidden = true;
      return;
    case 'table': {
      const sameExpression = table?.expression === m.table.expression;
      table = m.table;
      if (!sameExpression) selected = undefined;
      const saved = vscode.getState() as { sort?: typeof sort } | undefined;
      if (saved?.sort && columns(table).includes(saved.sort.column)) sort = saved.sort;
      errorBox.hidden = true;
      cancelButton.hidden = true;
      refreshButton.hidden = false;
      render();
      return;
    }
    case 'position':
      position = m.icount;
      if (table) render();
      return;
    case 'ended':
      ended = true;
      cancelButton.hidden = true;
      refreshButton.hidden = true;
      if (table) render();
      return;
    case 'error':
      cancelButton.hidden = true;
      refreshButton.hidden = m.expression === undefined;
      errorBox.textContent = m.message;
      errorBox.hidden = false;
      summary.textContent = m.expression ? `Value history of ${m.expression}` : 'Value history';
      tableEl.hidden = true;
      note.textContent = '';
      return;
  }
});

function render(): void {
  const t = table!;
  summary.textContent = summaryText(t);
  const now = position !== undefined ? rowOfValueAt(t.rows, position) : undefined;
  const parts = [
    position !== undefined ? (now ? `Now (icount ${groupDigits(position)}): ${now.new?.text ?? '?'}, written by row ${now.n}.` : `Now (icount ${groupDigits(position)}): before the first write.`) : '',
    'A click on a row goes to just before that write (step forward to see it happen).',
    t.cpuNote,
    ended ? 'The debug session has ended: the rows stay, a click cannot go there.' : '',
  ];
  note.textContent = parts.filter((p) => p !== '').join(' ');
  tableEl.hidden = t.rows.length === 0;
  const cols = columns(t);
  head.replaceChildren(
    ...cols.map((c) => {
      const th = document.createElement('th');
      th.scope = 'col';
      th.className = `col-${c}`;
      const b = document.createElement('button');
      b.className = 'sort';
      b.dataset.column = c;
      const arrow = sort.column === c ? (sort.direction === 'asc' ? ' ▲' : ' ▼') : '';
      b.textContent = `${COLUMN_LABELS[c]}${arrow}`;
      b.title = `Sort by ${COLUMN_LABELS[c].toLowerCase()}${c === 'cpu' ? ` (${t.cpuNote})` : ''}`;
      th.setAttribute('aria-sort', sort.column === c ? (sort.direction === 'asc' ? 'ascending' : 'descending') : 'none');
      th.append(b);
      return th;
    }),
  );
  const rows = sortRows(t.rows, sort.column, sort.direction);
  body.replaceChildren(...rows.map((r) => rowElement(r, cols, t, now?.n)));
}

function cell(text: string, cls: string, title?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = cls;
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

function valueCell(v: ValueHistoryValue | undefined, cls: string): HTMLTableCellElement {
  return v ? cell(v.text, cls, v.title) : cell('?', `${cls} unknown`, 'unreadable at that time');
}

function rowElement(r: ValueHistoryRow, cols: ValueHistoryColumn[], t: ValueHistoryTable, nowRow: number | undefined): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.tabIndex = 0;
  tr.dataset.n = String(r.n);
  tr.dataset.icount = String(r.icount);
  if (r.n === selected) tr.classList.add('selected');
  if (r.n === nowRow) tr.classList.add('now');
  if (position !== undefined && r.icount > position) tr.classList.add('future');
  tr.title = `Go to just before write ${r.n} (icount ${groupDigits(r.seekTo)})`;
  for (const c of cols) {
    switch (c) {
      case 'n':
        tr.append(cell(r.n === nowRow ? `${r.n} ◀ now` : String(r.n), 'col-n', r.n === nowRow ? 'The value now was written here' : undefined));
        break;
      case 'icount':
        tr.append(cell(groupDigits(r.icount), 'col-icount', `${describePosition(r.icount, t.end)}: just after the write`));
        break;
      case 'cpu':
        tr.append(cell(r.cpu ?? '?', 'col-cpu', t.cpuNote));
        break;
      case 'task':
        tr.append(r.task ? cell(r.task.text, 'col-task', r.task.title) : cell('?', 'col-task unknown', 'the task was not readable at that write (early boot, or on the user page tables)'));
        break;
      case 'function':
        tr.append(cell(r.function ?? r.code, r.function ? 'col-function' : 'col-function unknown', `${r.function ?? 'no symbol'} at ${r.code} (${r.atWriter ? 'the writing instruction' : 'the instruction after the write: the writing one is unsure'})`));
        break;
      case 'source':
        tr.append(cell(r.source ?? '', r.atWriter ? 'col-source' : 'col-source after', r.path ? `${r.path}:${r.line}${r.atWriter ? '' : ' (just after the write)'}` : undefined));
        break;
      case 'old':
        tr.append(valueCell(r.old, 'col-old'));
        break;
      case 'new':
        tr.append(valueCell(r.new, 'col-new'));
        break;
    }
  }
  return tr;
}

function go(tr: HTMLTableRowElement): void {
  if (!table || ended) return;
  const r = table.rows.find((x) => String(x.n) === tr.dataset.n);
  if (!r) return;
  selected = r.n;
  body.querySelectorAll('tr.selected').forEach((el) => el.classList.remove('selected'));
  tr.classList.add('selected');
  send({ type: 'seek', icount: r.seekTo });
}

head.addEventListener('click', (e) => {
  const b = (e.target as HTMLElement).closest<HTMLButtonElement>('button.sort');
  if (!b || !table) return;
  sort = nextSort(sort, b.dataset.column as ValueHistoryColumn);
  vscode.setState({ sort });
  render();
  head.querySelector<HTMLButtonElement>(`button[data-column="${sort.column}"]`)?.focus();
});

body.addEventListener('click', (e) => {
  const tr = (e.target as HTMLElement).closest('tr');
  if (tr) go(tr);
});

body.addEventListener('keydown', (e) => {
  const tr = (e.target as HTMLElement).closest('tr');
  if (!tr) return;
  if (e.key === 'Enter' || e.key === ' ') go(tr);
  else if (e.key === 'ArrowDown') (tr.nextElementSibling as HTMLElement | null)?.focus();
  else if (e.key === 'ArrowUp') (tr.previousElementSibling as HTMLElement | null)?.focus();
  else return;
  e.preventDefault();
});

cancelButton.addEventListener('click', () => send({ type: 'cancel' }));
refreshButton.addEventListener('click', () => send({ type: 'refresh' }));

send({ type: 'ready' });

/** For tests and the curious: what the table shows (read by the end-to-end test). */
(window as unknown as { rewindValueHistory: unknown }).rewindValueHistory = {
  get table() {
    return table;
  },
  get sort() {
    return sort;
  },
  get position() {
    return position;
  },
};
