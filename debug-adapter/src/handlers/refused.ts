/** Requests that would change the recorded guest: refused, since a recording is history. */
import { historyError } from '../errors';
import type { HandlerTable } from '../requests';

const SET_NEXT_STATEMENT = 'Set Next Statement (moving the instruction pointer)';

export const refusedHandlers = {
  setVariable: async () => {
    throw historyError('Setting a variable');
  },
  setExpression: async () => {
    throw historyError('Setting an expression');
  },
  writeMemory: async () => {
    throw historyError('Writing memory');
  },
  goto: async () => {
    throw historyError(SET_NEXT_STATEMENT);
  },
  gotoTargets: async () => {
    throw historyError(SET_NEXT_STATEMENT);
  },
  restartFrame: async () => {
    throw historyError('Restarting a frame');
  },
} satisfies Partial<HandlerTable>;
