/**
 * Launch and attach configurations: checked once, up front, with messages that say what to fix.
 * The shapes are RewindLaunchArguments / RewindAttachArguments in the shared protocol module.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { toAddress, type BridgeAddress, parseIcount, isUserError, parseRecordOptions, type ParsedRecordOptions } from '@rewind/core';
import type { RecordSpec, RewindAttachArguments, RewindCommonArguments, RewindLaunchArguments } from '@rewind/protocol';
import { AdapterError, ErrorId } from './errors';

export interface CommonConfig {
  symbols?: string[];
  sourceMap: Array<[string, string]>;
  gdbPath?: string;
  stopOnEntry: boolean;
  startAt?: number | 'end';
  trace: boolean;
  gdbInit?: string;
  setupCommands: string[];
  /** Folders searched for Linux modules' .ko files (linux/module-symbols.ts). */
  moduleFolders: string[];
}

export type SessionConfig =
  | (CommonConfig & { kind: 'open'; recording: string })
  | (CommonConfig & { kind: 'record'; record: NormalizedRecordSpec })
  | (CommonConfig & { kind: 'attach'; bridge: BridgeAddress; token?: string; recording: string });

/** A launch configuration's "record": the recorder's options, checked, with its files found. */
export type NormalizedRecordSpec = ParsedRecordOptions & { timeoutSeconds: number };

/** A recording started from a launch configuration stops after this long unless "record.timeout" says otherwise. */
const DEFAULT_RECORD_TIMEOUT_S = 120;

function bad(message: string): AdapterError {
  return new AdapterError(`Rewind launch configuration: ${message}`, ErrorId.badConfig, true);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(o: Record<string, unknown>, key: string, where = ''): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw bad(`"${where}${key}" must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function existingFile(path: string, what: string, cwd: string): string {
  const p = isAbsolute(path) ? path : resolve(cwd, path);
  let st;
  try {
    st = statSync(p);
  } catch {
    throw bad(`${what} ${path} does not exist`);
  }
  if (!st.isFile()) throw bad(`${what} ${path} is not a file`);
  return p;
}

function common(o: Record<string, unknown>, cwd: string): CommonConfig {
  let symbols: string[] | undefined;
  if (o.symbols !== undefined && o.symbols !== null) {
    const list = typeof o.symbols === 'string' ? [o.symbols] : o.symbols;
    if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== 'string')) throw bad('"symbols" must be a list of ELF files with the guest\'s debug information');
    symbols = (list as string[]).map((s) => existingFile(s, '"symbols":', cwd));
  }
  const sourceMap: Array<[string, string]> = [];
  if (o.sourceMap !== undefined && o.sourceMap !== null) {
    if (!isObject(o.sourceMap) || Object.values(o.sourceMap).some((v) => typeof v !== 'string')) {
      throw bad('"sourceMap" must map build paths to local paths, e.g. { "/build/linux": "${workspaceFolder}" }');
    }
    for (const [from, to] of Object.entries(o.sourceMap as Record<string, string>)) sourceMap.push([from, to]);
  }
  let startAt: number | 'end' | undefined;
  if (o.startAt !== undefined && o.startAt !== null) {
    if (o.startAt === 'end') startAt = 'end';
    else if (typeof o.startAt === 'number' && Number.isSafeInteger(o.startAt) && o.startAt >= 0) startAt = o.startAt;
    else if (typeof o.startAt === 'string' && parseIcount(o.startAt) !== undefined) startAt = parseIcount(o.startAt);
    else throw bad(`"startAt" must be an instruction count (e.g. 5000000 or "5M") or "end", got ${JSON.stringify(o.startAt)}`);
  }
  for (const key of ['stopOnEntry', 'trace'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw bad(`"${key}" must be true or false`);
  }
  const gdbPath = optString(o, 'gdbPath');
  const gdbInitText = optString(o, 'gdbInit');
  const gdbInit = gdbInitText ? existingFile(gdbInitText.replace(/^~(?=\/)/, homedir()), '"gdbInit":', cwd) : undefined;
  const setupCommands = o.setupCommands ?? [];
  if (!Array.isArray(setupCommands) || setupCommands.some((c) => typeof c !== 'string' || c.trim() === '' || /[\r\n]/.test(c))) {
    throw bad('"setupCommands" must be a list of gdb commands, one line each, e.g. ["source ${workspaceFolder}/vmlinux-gdb.py"]');
  }
  const moduleFolders = o.moduleFolders ?? [];
  if (!Array.isArray(moduleFolders) || moduleFolders.some((f) => typeof f !== 'string' || f.trim() === '')) {
    throw bad('"moduleFolders" must be a list of folders, e.g. ["${workspaceFolder}/build"]');
  }
  return {
    ...(symbols ? { symbols } : {}),
    sourceMap,
    ...(gdbPath ? { gdbPath } : {}),
    stopOnEntry: o.stopOnEntry === true,
    ...(startAt !== undefined ? { startAt } : {}),
    trace: o.trace === true,
    ...(gdbInit ? { gdbInit } : {}),
    setupCommands: setupCommands as string[],
    moduleFolders: (moduleFolders as string[]).map((f) => resolve(cwd, f.replace(/^~(?=\/)/, homedir()))),
  };
}

/** A launch request's arguments. `cwd` resolves relative paths (the workspace folder in VS Code). */
export function parseLaunchArguments(args: unknown, cwd = process.cwd()): SessionConfig {
  if (!isObject(args)) throw bad('the arguments must be an object');
  const a = args as Record<string, unknown> & RewindLaunchArguments;
  const base = common(a, cwd);
  const hasRecording = a.recording !== undefined && a.recording !== null;
  const hasRecord = a.record !== undefined && a.record !== null;
  if (hasRecording && hasRecord) throw bad('give either "recording" (open a bundle) or "record" (record first), not both');
  if (!hasRecording && !hasRecord) {
    throw bad('say what to debug: "recording": the path of a .rewind bundle made by `rewind record`, or "record": { "kernel": ... } to record a guest first');
  }
  if (hasRecording) {
    const rec = optString(a, 'recording')!;
    const dir = isAbsolute(rec) ? rec : resolve(cwd, rec);
    if (!existsSync(dir)) throw bad(`there is no recording at ${rec}; record one with \`rewind record --kernel KERNEL --out ${rec}\` or fix the path`);
    if (!statSync(dir).isDirectory() || !existsSync(resolve(dir, 'manifest.json'))) {
      throw bad(`${rec} is not a Rewind recording (a bundle is a directory with a manifest.json, made by \`rewind record\`)`);
    }
    return { kind: 'open', recording: dir, ...base };
  }
  return { kind: 'record', record: parseRecordSpec(a.record, cwd), ...base };
}

function parseRecordSpec(v: unknown, cwd: string): NormalizedRecordSpec {
  if (!isObject(v)) throw bad('"record" must be an object: { "kernel": "path/to/kernel", "input": ..., "timeout": ... }');
  const r = v as Record<string, unknown> & Partial<RecordSpec>;
  let parsed: ParsedRecordOptions;
  try {
    // One set of limits and messages with the command line (record/options.ts).
    parsed = parseRecordOptions({ ...r, timeout: r.timeout ?? DEFAULT_RECORD_TIMEOUT_S }, 'launch', cwd);
  } catch (e) {
    if (isUserError(e)) throw bad(e.message);
    throw e;
  }
  // A launch configuration's files are checked now, so that the user fixes launch.json before anything runs.
  const file = (key: 'kernel' | 'initrd' | 'input' | 'disk', what: string) => (parsed[key] ? { [key]: existingFile(String(r[key]), what, cwd) } : {});
  return {
    ...parsed,
    ...file('kernel', '"record.kernel":'),
    ...file('initrd', '"record.initrd":'),
    ...file('input', '"record.input":'),
    ...file('disk', '"record.disk" (a raw or qcow2 disk image):'),
    timeoutSeconds: parsed.timeoutSeconds ?? DEFAULT_RECORD_TIMEOUT_S,
  };
}

/** An attach request's arguments. */
export function parseAttachArguments(args: unknown, cwd = process.cwd()): SessionConfig {
  if (!isObject(args)) throw bad('the arguments must be an object');
  const a = args as Record<string, unknown> & Partial<RewindAttachArguments> & RewindCommonArguments;
  const base = common(a, cwd);
  const bridgeText = optString(a, 'bridge');
  if (!bridgeText) throw bad('attach needs "bridge": "unix:/path/to/socket" or "tcp:HOST:PORT" of a running `rewind bridge`');
  let bridge: BridgeAddress;
  try {
    bridge = toAddress(bridgeText);
  } catch (e) {
    throw bad(`"bridge": ${(e as Error).message.replace(/--listen/g, 'the address')}`);
  }
  const recording = optString(a, 'recording');
  if (!recording) throw bad('attach needs "recording": the bundle, as a path the bridge can open (relative to its --root)');
  let token = optString(a, 'token');
  const tokenFile = optString(a, 'tokenFile');
  if (token === undefined && tokenFile !== undefined) {
    try {
      token = readFileSync(isAbsolute(tokenFile) ? tokenFile : resolve(cwd, tokenFile), 'utf8').trim();
    } catch (e) {
      throw bad(`cannot read "tokenFile" ${tokenFile}: ${(e as Error).message}`);
    }
  }
  if (!('socket' in bridge) && token === undefined) throw bad('a TCP bridge needs its token: set "token" or "tokenFile" (the bridge prints it or writes it to its --token-file)');
  return { kind: 'attach', bridge, ...(token !== undefined ? { token } : {}), recording, ...base };
}
