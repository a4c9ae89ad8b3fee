/**
 * Launch and attach configurations: checked once, up front, with messages that say what to fix.
 * The shapes are RewindLaunchArguments / RewindAttachArguments in the shared protocol module.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { toAddress, type BridgeAddress } from '../../recorder-bridge/src/bridge/address';
import type { RecordSpec, RewindAttachArguments, RewindCommonArguments, RewindLaunchArguments } from '../../recorder-bridge/src/protocol';
import { parseIcount } from '../../recorder-bridge/src/timepoint';
import { parseSize } from '../../recorder-bridge/src/record/size';
import { AdapterError, ErrorId } from './errors';

export interface CommonConfig {
  symbols?: string[];
  sourceMap: Array<[string, string]>;
  gdbPath?: string;
  stopOnEntry: boolean;
  startAt?: number | 'end';
  trace: boolean;
}

export type SessionConfig =
  | (CommonConfig & { kind: 'open'; recording: string })
  | (CommonConfig & { kind: 'record'; record: NormalizedRecordSpec })
  | (CommonConfig & { kind: 'attach'; bridge: BridgeAddress; token?: string; recording: string });

export interface NormalizedRecordSpec {
  kernel: string;
  initrd?: string;
  append?: string;
  input?: string;
  stopOn?: string;
  timeoutSeconds: number;
  memoryMiB?: number;
  snapshotEvery?: number;
  out?: string;
  /** The Linux preset (rewind record --linux): the kernel must be a bzImage. */
  linux?: boolean;
  /** A raw or qcow2 disk image recorded through blkreplay (rewind record --disk); only read. */
  disk?: string;
  /** Stop when the replay log reaches this many bytes (rewind record --max-log; 0: no limit). */
  maxLogBytes?: number;
}

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
  return {
    ...(symbols ? { symbols } : {}),
    sourceMap,
    ...(gdbPath ? { gdbPath } : {}),
    stopOnEntry: o.stopOnEntry === true,
    ...(startAt !== undefined ? { startAt } : {}),
    trace: o.trace === true,
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
  const kernelPath = optString(r, 'kernel', 'record.');
  if (!kernelPath) throw bad('"record.kernel" is required: an ELF multiboot kernel or a Linux bzImage');
  const kernel = existingFile(kernelPath, '"record.kernel":', cwd);
  const initrd = optString(r, 'initrd', 'record.');
  const input = optString(r, 'input', 'record.');
  const append = r.append === undefined || r.append === null ? undefined : typeof r.append === 'string' ? r.append : undefined;
  if (r.append !== undefined && r.append !== null && append === undefined) throw bad('"record.append" must be a string (the kernel command line)');
  const timeout = r.timeout ?? 120;
  if (typeof timeout !== 'number' || !(timeout > 0)) throw bad(`"record.timeout" must be a number of seconds, got ${JSON.stringify(r.timeout)}`);
  let memoryMiB: number | undefined;
  if (r.memory !== undefined && r.memory !== null) {
    if (typeof r.memory !== 'number' || !Number.isInteger(r.memory) || r.memory < 2) throw bad('"record.memory" must be a whole number of MiB (at least 2)');
    memoryMiB = r.memory;
  }
  let snapshotEvery: number | undefined;
  if (r.snapshotEvery !== undefined && r.snapshotEvery !== null) {
    const n = typeof r.snapshotEvery === 'number' ? r.snapshotEvery : parseIcount(String(r.snapshotEvery));
    if (n === undefined || !Number.isSafeInteger(n) || n < 0) throw bad(`"record.snapshotEvery" must be an instruction count such as 200000000 or "200M", got ${JSON.stringify(r.snapshotEvery)}`);
    snapshotEvery = n;
  }
  const out = optString(r, 'out', 'record.');
  const stopOn = optString(r, 'stopOn', 'record.');
  if (r.linux !== undefined && r.linux !== null && typeof r.linux !== 'boolean') throw bad('"record.linux" must be true or false (true: the kernel is a Linux bzImage, recorded with the Linux defaults)');
  const disk = optString(r, 'disk', 'record.');
  let maxLogBytes: number | undefined;
  if (r.maxLog !== undefined && r.maxLog !== null) {
    const n = typeof r.maxLog === 'number' ? r.maxLog : parseSize(String(r.maxLog));
    if (n === undefined || !Number.isSafeInteger(n) || n < 0) throw bad(`"record.maxLog" must be a size such as "512M" or a number of bytes (0: no limit), got ${JSON.stringify(r.maxLog)}`);
    maxLogBytes = n;
  }
  return {
    kernel,
    ...(initrd ? { initrd: existingFile(initrd, '"record.initrd":', cwd) } : {}),
    ...(append !== undefined ? { append } : {}),
    ...(input ? { input: existingFile(input, '"record.input":', cwd) } : {}),
    ...(stopOn ? { stopOn } : {}),
    timeoutSeconds: timeout,
    ...(memoryMiB !== undefined ? { memoryMiB } : {}),
    ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
    ...(out ? { out: isAbsolute(out) ? out : resolve(cwd, out) } : {}),
    ...(r.linux === true ? { linux: true } : {}),
    ...(disk ? { disk: existingFile(disk, '"record.disk" (a raw or qcow2 disk image):', cwd) } : {}),
    ...(maxLogBytes !== undefined ? { maxLogBytes } : {}),
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
