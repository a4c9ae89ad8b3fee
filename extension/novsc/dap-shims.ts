/**
 * Two corrections the extension makes to the DAP traffic of the inline adapter, until the adapter
 * makes them itself (docs/extension.md, "Known adapter issues"). Never imports `vscode`.
 *
 * 1. `continued` before a stop that a custom request caused. Rewind's custom requests move time
 *    (rewind/seek, rewind/lastWrite with seek, rewind/reverseStepIn/Out), but the adapter sends
 *    no `continued` event for them, so VS Code never sees the thread leave its old stop: the Call
 *    Stack keeps the previous stop's label and the Variables view the previous frame's values.
 *    DAP asks adapters to send `continued` for execution that a request does not imply.
 * 2. No `invalidated` after stops: the adapter follows every `stopped` with `invalidated` (areas
 *    all); VS Code already refreshes everything on `stopped`, and the extra event makes it cancel
 *    the stack trace it is fetching, which the adapter answers with an internal error that VS
 *    Code shows in the Call Stack.
 */

interface Message {
  seq?: number;
  type?: string;
  command?: string;
  request_seq?: number;
  success?: boolean;
  arguments?: Record<string, unknown>;
  body?: unknown;
}

/** Custom requests that end in a stop somewhere else in time (when they succeed). */
const MOVING = new Set(['rewind/seek', 'rewind/reverseStepIn', 'rewind/reverseStepOut', 'rewind/lastWrite']);

function isMove(m: Message): boolean {
  if (m.type !== 'request' || !m.command || !MOVING.has(m.command)) return false;
  return m.command !== 'rewind/lastWrite' || m.arguments?.seek === true;
}

export interface ContinuedEvent {
  seq: number;
  type: 'event';
  event: 'continued';
  body: { threadId: number; allThreadsContinued: boolean };
}

export class DapShims {
  private readonly moves = new Set<number>();

  /** Client -> adapter: returns the message to pass on. */
  fromClient(message: unknown): unknown {
    const m = message as Message;
    if (m.type === 'request' && m.command === 'initialize' && m.arguments) return { ...m, arguments: { ...m.arguments, supportsInvalidatedEvent: false } };
    if (isMove(m) && typeof m.seq === 'number') this.moves.add(m.seq);
    return message;
  }

  /** Adapter -> client: the messages to pass on (a `continued` event first, when a move was answered). */
  fromAdapter(message: unknown): unknown[] {
    const m = message as Message;
    if (m.type !== 'response' || m.request_seq === undefined || !this.moves.delete(m.request_seq)) return [message];
    const found = (m.body as { found?: unknown } | undefined)?.found;
    if (!m.success || (m.command === 'rewind/lastWrite' && found === false)) return [message];
    const continued: ContinuedEvent = { seq: 0, type: 'event', event: 'continued', body: { threadId: 1, allThreadsContinued: true } };
    return [continued, message];
  }
}
