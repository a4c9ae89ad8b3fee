/**
 * Where the bridge listens: a Unix socket (the default) or TCP. TCP is loopback-only unless the
 * user says --allow-remote; a remote bridge is still token-protected.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors';
import { isLoopback } from '../util/loopback';

export { isLoopback };

export type BridgeAddress = { socket: string } | { host: string; port: number };

/** `$XDG_RUNTIME_DIR/rewind-bridge.sock`, or `/tmp/rewind-bridge-UID.sock`. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'rewind-bridge.sock');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(tmpdir(), `rewind-bridge-${uid}.sock`);
}

/** Parses "HOST:PORT", "[::1]:PORT" or ":PORT" (loopback). */
export function parseListen(text: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2]!;
  } else {
    const i = text.lastIndexOf(':');
    if (i < 0) throw new UserError(`--listen needs HOST:PORT (e.g. 127.0.0.1:7301), got "${text}"`, 'bad-option');
    host = text.slice(0, i) || '127.0.0.1';
    portText = text.slice(i + 1);
    if (host.includes(':')) throw new UserError(`--listen: write an IPv6 address in brackets, e.g. [::1]:7301, got "${text}"`, 'bad-option');
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new UserError(`--listen needs a port number 0..65535, got "${portText}"`, 'bad-option');
  return { host, port };
}


/** Refuses a non-loopback host unless remote access was asked for. */
export function checkListenHost(host: string, allowRemote: boolean): void {
  if (!allowRemote && !isLoopback(host)) {
    throw new UserError(`refusing to listen on ${host}: it is not a loopback address; use 127.0.0.1, ::1 or localhost, or add --allow-remote (the token still protects it)`, 'remote-refused');
  }
}

/** "unix:/path" or "tcp:host:port", for logs and messages. */
export function formatAddress(a: BridgeAddress): string {
  return 'socket' in a ? `unix:${a.socket}` : `tcp:${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** Accepts an address object, a socket path ("/...", "unix:/..."), or "HOST:PORT" / "tcp:HOST:PORT". */
export function toAddress(a: BridgeAddress | string): BridgeAddress {
  if (typeof a !== 'string') return a;
  if (a.startsWith('unix:')) return { socket: a.slice(5) };
  if (a.startsWith('/') || a.startsWith('.')) return { socket: a };
  return parseListen(a.startsWith('tcp:') ? a.slice(4) : a);
}
