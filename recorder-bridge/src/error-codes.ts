// The error codes are part of the wires (the bridge's error.data.code, UserError codes): the table
// lives in protocol/error-codes.ts; this module keeps its old import path and the runtime check.
import { ERROR_CODES, type ErrorCode } from '@rewind/protocol';

export { ERROR_CODES, type ErrorCode };

export function isErrorCode(s: string): s is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, s);
}
