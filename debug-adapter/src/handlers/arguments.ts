/**
 * Checks of request arguments as they come off the wire (their types say what a well-behaved
 * client sends; these say clearly what a client got wrong).
 */
import { AdapterError } from '../errors';

/** A whole number within [min, max], or undefined when absent. */
export function optionalInteger(v: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new AdapterError(`"${name}" must be a whole number${min > Number.MIN_SAFE_INTEGER ? ` from ${min}` : ''}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function isListOfObjects(v: unknown): v is object[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
}

export function requireNumber(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new AdapterError(`"${name}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export function parseAddress(text: unknown): bigint {
  if (typeof text !== 'string' || !/^(0x[0-9a-f]+|\d+)$/i.test(text.trim())) throw new AdapterError(`"${String(text)}" is not an address (use a hex number such as 0x100a9a)`);
  return BigInt(text.trim());
}
