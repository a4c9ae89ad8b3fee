/**
 * Errors the adapter reports to the user as DAP error responses. Anything else thrown inside a
 * handler is an internal error: it still becomes an error response, with the details in the log.
 */
import { UserError } from '@rewind/core';

/** Stable numeric ids of DAP error messages (the `id` of DebugProtocol.Message). */
export const ErrorId = {
  user: 4000,
  history: 4001,
  notStopped: 4002,
  badConfig: 4003,
  notLaunched: 4004,
  cancelled: 4005,
  unknownReference: 4006,
  internal: 4999,
} as const;

/** A failure the user can understand and act on: its message says what to do. */
export class AdapterError extends Error {
  constructor(
    message: string,
    readonly id: number = ErrorId.user,
    /** Show it to the user (VS Code: a notification), not only in the response. */
    readonly showUser = false,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}

/** Recordings are history: requests that would change it are refused with this. */
export function historyError(what: string): AdapterError {
  return new AdapterError(
    `${what} is not possible: a recording is history, and changing the guest's state would make the replay diverge. ` +
      'Use Go to Time, Step Back or Reverse Continue to move in time instead.',
    ErrorId.history,
  );
}

export class CancelledRequestError extends AdapterError {
  constructor(why = 'cancelled') {
    super(why, ErrorId.cancelled);
    this.name = 'CancelledRequestError';
  }
}

/** The user-facing message of any error (UserErrors of the recorder-bridge keep theirs). */
export function userMessage(e: unknown): string | undefined {
  if (e instanceof AdapterError || e instanceof UserError) return e.message;
  return undefined;
}

/** An error's message, for text that names what failed. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
