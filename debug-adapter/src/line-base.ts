/**
 * DAP clients may count lines from 0 (`linesStartAt1: false`); gdb counts from 1. The adapter
 * works in gdb's lines and converts at the protocol's edge: the line fields of the requests that
 * take lines, and of the responses and events that give them.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';

type Json = Record<string, unknown>;

function shift(o: unknown, keys: string[], by: number): void {
  if (typeof o !== 'object' || o === null) return;
  for (const k of keys) {
    const v = (o as Json)[k];
    // Line 0 means "no line" (a frame without source): it stays 0.
    if (typeof v === 'number' && v > 0) (o as Json)[k] = v + by;
  }
}

function each(list: unknown, keys: string[], by: number): void {
  if (Array.isArray(list)) for (const o of list) shift(o, keys, by);
}

export class LineBase {
  /** Added to gdb's line to give the client's: -1 for a client counting from 0. */
  private readonly offset: number;

  constructor(clientLinesStartAt1: boolean) {
    this.offset = clientLinesStartAt1 ? 0 : -1;
  }

  get converts(): boolean {
    return this.offset !== 0;
  }

  /** A request's arguments, in place: the client's lines to gdb's. */
  request(command: string, args: unknown): void {
    if (!this.converts || typeof args !== 'object' || args === null) return;
    const a = args as Json;
    const by = -this.offset;
    if (command === 'setBreakpoints' || command === 'rewind/hitCounts') {
      each(a.breakpoints, ['line'], by);
      if (Array.isArray(a.lines)) a.lines = a.lines.map((l: unknown) => (typeof l === 'number' ? l + by : l));
    } else if (command === 'breakpointLocations' || command === 'gotoTargets' || command === 'rewind/hits') {
      shift(a, ['line', 'endLine'], by);
    }
  }

  /** A response's body with gdb's lines turned into the client's (a copy: the adapter may keep the original). */
  response<T>(command: string, body: T): T {
    if (!this.converts || typeof body !== 'object' || body === null) return body;
    const copy = JSON.parse(JSON.stringify(body)) as T;
    this.shiftResponse(command, copy as Json);
    return copy;
  }

  private shiftResponse(command: string, b: Json): void {
    if (command === 'stackTrace') each(b.stackFrames, ['line', 'endLine'], this.offset);
    else if (command === 'setBreakpoints' || command === 'setFunctionBreakpoints' || command === 'setInstructionBreakpoints' || command === 'breakpointLocations') each(b.breakpoints, ['line', 'endLine'], this.offset);
    else if (command === 'disassemble') each(b.instructions, ['line', 'endLine'], this.offset);
    else if (command === 'rewind/lastWrite') shift(b.writer, ['line'], this.offset);
    else if (command === 'rewind/hitCounts') each(b.counts, ['line'], this.offset);
    else if (command === 'rewind/valueHistory' && Array.isArray(b.writes)) for (const w of b.writes as Json[]) shift(w.at, ['line'], this.offset);
  }

  /** An event with gdb's lines turned into the client's (a copy). */
  event(event: DebugProtocol.Event): DebugProtocol.Event {
    if (!this.converts || (event.event !== 'breakpoint' && event.event !== 'output')) return event;
    const e = JSON.parse(JSON.stringify(event)) as DebugProtocol.Event;
    if (e.event === 'breakpoint') shift((e.body as Json | undefined)?.breakpoint, ['line', 'endLine'], this.offset);
    else shift(e.body, ['line'], this.offset);
    return e;
  }
}
