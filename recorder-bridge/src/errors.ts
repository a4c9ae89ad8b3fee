import type { ErrorCode } from './error-codes';

/**
 * Errors a user can cause and fix. The CLI prints `message` as one line and exits with `exitCode`;
 * everything else is an internal error and gets a stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** Thrown when the user cancels long work (Ctrl-C, a cancellation token). */
export class CancelledError extends Error {
  constructor(what = 'operation') {
    super(`${what} cancelled`);
    this.name = 'CancelledError';
  }
}
