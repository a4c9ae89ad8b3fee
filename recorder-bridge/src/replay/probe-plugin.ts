/**
 * The probe plugin (recorder-bridge/native/rewind-probe.c): where it is, whether a QEMU can load it
 * (only Rewind's, with patches/qemu/0004), which scans it can do, its arguments and its output.
 * A probe replay records every hit and every write with its exact time point, in one run without
 * a stop, where the gdbstub stops at each (docs/index-design.md, "Probe replays").
 */
import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../errors';
import { chooseQemu } from '../qemu/qemu-binary';
import type { TimePoint } from '../timepoint';
import { nativeFile } from '../util/native-file';
import type { Traps } from './scan-types';
import type { SampledTask } from './task-sample';
import type { MemoryRange } from './worker-types';

const PLUGIN_FILE = 'rewind-probe.so';
/** A symbol only Rewind's QEMU exports (patches/qemu/0004): the plugin needs it. */
const API_SYMBOL = 'qemu_plugin_rewind_icount';
/** The plugin's limits (rewind-probe.c MAX_PCS, MAX_WATCHES, MAX_SAMPLE). */
const MAX_PCS = 4096;
const MAX_WATCHES = 64;
const MAX_SAMPLE = 4096;

/** `task`: with a sample's task, the one that ran (undefined: not readable there). */
export type ProbeEvent =
  | { kind: 'exec'; icount: TimePoint; pc: bigint; task?: SampledTask | undefined }
  /** `pc` undefined: the replay stopped right after the write, before the next block (the pc is where it stands). */
  | { kind: 'write'; icount: TimePoint; pc: bigint | undefined; watch: bigint; value: Buffer | undefined; task?: SampledTask | undefined };

/** $REWIND_PROBE_PLUGIN, else out/native/rewind-probe.so of this checkout; undefined when not built. */
export function probePluginPath(): string | undefined {
  return process.env['REWIND_PROBE_PLUGIN'] || nativeFile(PLUGIN_FILE);
}

/** The probe plugin to load; `always`: wherever it can scan, worth it or not (tests). */
export interface ProbeChoice {
  plugin: string;
  always: boolean;
}

/**
 * The probe plugin for replays of a recording made with `qemuBinary` (the manifest's), when the
 * QEMU that replays it can load it (Rewind's build, patches/qemu/0004) and it is built; undefined
 * otherwise (scans then stop at each hit under the gdbstub, as before).
 */
export function probeFor(qemuBinary: string, always = false): ProbeChoice | undefined {
  const plugin = probePluginPath();
  if (!plugin) return undefined;
  let qemu;
  try {
    qemu = chooseQemu(qemuBinary);
  } catch {
    return undefined;
  }
  return qemu.build === 'rewind' && qemuHasProbeApi(qemu.path) ? { plugin, always } : undefined;
}

const apiCache = new Map<string, boolean>();

/** Whether the QEMU binary at `path` exports the plugin functions the probe needs (read once per binary and mtime). */
export function qemuHasProbeApi(path: string): boolean {
  let key: string;
  try {
    key = `${path}:${statSync(path).mtimeMs}`;
  } catch {
    return false;
  }
  let has = apiCache.get(key);
  if (has === undefined) {
    // The dynamic symbol table names it; a binary without the patch has the string nowhere.
    has = readFileSync(path).includes(API_SYMBOL);
    apiCache.set(key, has);
  }
  return has;
}

/**
 * Whether a probe replay finds exactly what a gdbstub scan for these traps finds: breakpoints
 * without a stack filter, write watchpoints of every write, within the plugin's limits.
 */
export function probeCanScan(what: Traps, sample?: MemoryRange): boolean {
  const bps = what.breakpoints ?? [];
  const wps = what.watchpoints ?? [];
  return (
    bps.length + wps.length > 0 &&
    new Set(bps.map((b) => b.address)).size <= MAX_PCS &&
    bps.every((b) => b.stack === undefined) &&
    wps.length <= MAX_WATCHES &&
    wps.every((w) => w.access === 'write' && w.changes !== true) &&
    (sample === undefined || sample.length <= MAX_SAMPLE)
  );
}

/** The plugin's arguments for these traps, writing to `out`. */
export function probeArgs(out: string, what: Traps, sample?: MemoryRange): string[] {
  const hex = (n: bigint) => n.toString(16);
  return [
    `out=${out}`,
    ...[...new Set((what.breakpoints ?? []).map((b) => b.address))].map((a) => `pc=${hex(a)}`),
    ...(what.watchpoints ?? []).map((w) => `watch=${hex(w.address)}:${w.size}`),
    ...(sample && sample.length > 0 ? [`sample=${hex(sample.address)}:${sample.length}`] : []),
    ...(sample?.task ? [`task=${hex(sample.task.currentTask)}:${sample.task.cpuNumber !== undefined ? hex(sample.task.cpuNumber) : '-'}:${sample.task.pid}:${sample.task.tgid}:${sample.task.comm}`] : []),
  ];
}

/** The plugin's output (rewind-probe.c, "OUTFILE"), in the order it happened; `file` names it in errors. */
export function parseProbeOutput(text: string, file: string): ProbeEvent[] {
  const out: ProbeEvent[] = [];
  const bad = (line: string) => new UserError(`the probe plugin's output ${file} has a line it never writes: "${line}"`, 'replay-failed');
  const lines = text.split('\n');
  // A line without its newline is one the plugin was writing when it stopped: never whole.
  if (lines.pop() !== '') throw bad(lines.length > 0 ? (text.split('\n').pop() ?? '') : text);
  const taskOf = (f: string[], at: number): { task?: SampledTask | undefined } | undefined => {
    if (f.length === at) return {};
    if (f.length !== at + 1) return undefined;
    if (f[at] === '-') return { task: undefined };
    const m = /^([0-9a-f]+),(-?\d+),(-?\d+),(-?\d+|-),((?:[0-9a-f]{2}){16})$/.exec(f[at]!);
    if (!m) return undefined;
    const comm = Buffer.from(m[5]!, 'hex');
    const nul = comm.indexOf(0);
    return { task: { task: BigInt(`0x${m[1]}`), pid: Number(m[2]), tgid: Number(m[3]), comm: comm.subarray(0, nul < 0 ? comm.length : nul).toString('utf8'), ...(m[4] !== '-' ? { cpu: Number(m[4]) } : {}) } };
  };
  for (const line of lines) {
    const f = line.split(' ');
    const x = f[0] === 'x' ? taskOf(f, 3) : f[0] === 'w' ? taskOf(f, 5) : undefined;
    if (f[0] === 'x' && x && /^\d+$/.test(f[1]!) && /^[0-9a-f]+$/.test(f[2]!)) {
      out.push({ kind: 'exec', icount: Number(f[1]), pc: BigInt(`0x${f[2]}`), ...x });
    } else if (f[0] === 'w' && x && /^\d+$/.test(f[1]!) && /^(-|[0-9a-f]+)$/.test(f[2]!) && /^[0-9a-f]+$/.test(f[3]!) && /^(-|([0-9a-f]{2})+)$/.test(f[4]!)) {
      out.push({ kind: 'write', icount: Number(f[1]), pc: f[2] === '-' ? undefined : BigInt(`0x${f[2]}`), watch: BigInt(`0x${f[3]}`), value: f[4] === '-' ? undefined : Buffer.from(f[4]!, 'hex'), ...x });
    } else if (f[0] === 'p' && f.length === 2 && /^[0-9a-f]+$/.test(f[1]!)) {
      const last = out[out.length - 1];
      if (last?.kind !== 'write' || last.pc !== undefined) throw bad(line);
      last.pc = BigInt(`0x${f[1]}`);
    } else throw bad(line);
  }
  return out;
}
