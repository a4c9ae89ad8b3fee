/**
 * `-exec CMD` in the Debug Console: a gdb command, passed through. Commands that move time
 * (continue, step, reverse-*, monitor seek, ...) run as moves and end in a stop; commands that
 * would change the recorded guest are refused (a recording is history).
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import { AdapterError, historyError } from '../errors';
import type { RequestContext } from '../requests';
import type { HandlerContext } from './context';
import { refuseSymbolReplacement } from '../symbol-commands';
import { stopFromMi } from './gdb-moves';

/** gdb commands that would write guest state or leave the recording. */
const WRITES = /^(set\s+var(iable)?\b|(print|p|call|output)\b[^=]*[^=!<>]=[^=]|call\b|jump\b|j\b|return\b|signal\b|queue-signal\b|run\b|start\b|starti\b|kill\b|detach\b|disconnect\b|target\b|file\b|quit\b|q\b)/;
/** gdb commands that move time. */
const MOVES = /^(c|cont|continue|n|next|s|step|si|stepi|ni|nexti|finish|fin|until|u|advance|reverse-\S+|rc|rn|rs|rsi|rni|monitor\s+seek)\b/;

export async function gdbCommand(c: HandlerContext, command: string, ctx: RequestContext<DebugProtocol.EvaluateResponse['body']>): Promise<DebugProtocol.EvaluateResponse['body']> {
  const d = c.requireDebuggee();
  if (command === '') throw new AdapterError('usage: -exec GDB-COMMAND (for example: -exec info registers cr0)');
  if (WRITES.test(command)) throw historyError(`The gdb command "${command.split(/\s+/)[0]}"`);
  refuseSymbolReplacement(command);
  if (MOVES.test(command)) {
    let text = '';
    await c.move(ctx, async (signal) => {
      if (/^monitor\s+seek/.test(command)) {
        text = await d.gdb.console(command);
        await d.resync();
        return { reason: 'goto', description: text.trim(), cause: 'seek' };
      }
      const st = await d.exec(`-interpreter-exec console ${JSON.stringify(command)}`, signal, () => ctx.respond({ result: '', variablesReference: 0 }));
      return stopFromMi(c.open(), st, /^(reverse-|r[cns])/.test(command) ? 'reverse' : 'forward');
    });
    return { result: text, variablesReference: 0 };
  }
  const out = await c.inspect(ctx, (signal) => d.gdb.console(command, { signal }));
  return { result: out.replace(/\n$/, ''), variablesReference: 0 };
}
