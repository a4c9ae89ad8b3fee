/**
 * Record options, checked in one place with one set of limits and messages, whoever gives them:
 * the command line (`rewind record --memory 256`), a launch configuration (`"record": {"memory":
 * 256}`), or code calling record() (`memoryMiB: 256`). Each message names the option as its origin
 * spells it. Files are resolved against `cwd` but not opened here: the recorder says what is wrong
 * with a kernel, an initrd or a disk when it reads them.
 */
import { isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors';
import { parseIcount } from '../timepoint';
import { parseSize } from './size';
import type { RecordOptions } from './types';

export type RecordOptionsOrigin = 'cli' | 'launch' | 'extension' | 'api';

/** The options as given: strings from a command line, JSON values from a launch configuration. */
export interface RawRecordOptions {
  kernel?: unknown;
  initrd?: unknown;
  append?: unknown;
  input?: unknown;
  stopOn?: unknown;
  /** Seconds of wall clock; 0: no limit. */
  timeout?: unknown;
  /** MiB. */
  memory?: unknown;
  /** Instructions ("200M"); 0: only the initial snapshot. */
  snapshotEvery?: unknown;
  out?: unknown;
  linux?: unknown;
  linuxDefaults?: unknown;
  /** Keep the kernel's address randomization (a bzImage's defaults then leave out nokaslr). */
  kaslr?: unknown;
  disk?: unknown;
  /** Bytes ("512M"); 0: no limit. */
  maxLog?: unknown;
  /** Seconds. */
  expectTimeout?: unknown;
}

export type ParsedRecordOptions = Omit<RecordOptions, 'out' | 'signal' | 'finishSignal' | 'onProgress'> & { out?: string };

export const MEMORY_MIB = { min: 8, max: 65536 } as const;

const NAMES: Record<RecordOptionsOrigin, Record<keyof RawRecordOptions, string>> = {
  cli: {
    kernel: '--kernel', initrd: '--initrd', append: '--append', input: '--input', stopOn: '--stop-on', timeout: '--timeout', memory: '--memory',
    snapshotEvery: '--snapshot-every', out: '--out', linux: '--linux', linuxDefaults: '--no-linux-defaults', kaslr: '--kaslr', disk: '--disk', maxLog: '--max-log', expectTimeout: '--expect-timeout',
  },
  launch: {
    kernel: '"record.kernel"', initrd: '"record.initrd"', append: '"record.append"', input: '"record.input"', stopOn: '"record.stopOn"', timeout: '"record.timeout"',
    memory: '"record.memory"', snapshotEvery: '"record.snapshotEvery"', out: '"record.out"', linux: '"record.linux"', linuxDefaults: '"record.linuxDefaults"', kaslr: '"record.kaslr"', disk: '"record.disk"',
    maxLog: '"record.maxLog"', expectTimeout: '"record.expectTimeout"',
  },
  extension: {
    kernel: 'the kernel', initrd: 'the initrd', append: 'the kernel command line', input: 'the input script', stopOn: 'the stop text',
    timeout: 'the setting rewind.record.timeoutSeconds', memory: 'the guest memory', snapshotEvery: 'the setting rewind.record.snapshotEvery', out: 'the output folder',
    linux: 'linux', linuxDefaults: 'linuxDefaults', kaslr: 'kaslr', disk: 'the disk image', maxLog: 'the log limit', expectTimeout: 'the expect timeout',
  },
  api: {
    kernel: 'kernel', initrd: 'initrd', append: 'append', input: 'input', stopOn: 'stopOn', timeout: 'timeoutSeconds', memory: 'memoryMiB', snapshotEvery: 'snapshotEvery',
    out: 'out', linux: 'linux', linuxDefaults: 'linuxDefaults', kaslr: 'kaslr', disk: 'disk', maxLog: 'maxLogBytes', expectTimeout: 'expectTimeoutSeconds',
  },
};

const given = (v: unknown): boolean => v !== undefined && v !== null;
const shown = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));

export function parseRecordOptions(raw: RawRecordOptions, origin: RecordOptionsOrigin, cwd = process.cwd()): ParsedRecordOptions {
  const name = NAMES[origin];
  const bad = (message: string) => new UserError(message, 'bad-option');

  const text = (key: keyof RawRecordOptions, what: string): string | undefined => {
    const v = raw[key];
    if (!given(v)) return undefined;
    if (typeof v !== 'string' || v === '') throw bad(`${name[key]} needs ${what}, got ${shown(v)}`);
    return v;
  };
  const file = (key: keyof RawRecordOptions, what: string): string | undefined => {
    const v = text(key, what);
    return v === undefined ? undefined : isAbsolute(v) ? v : resolve(cwd, v);
  };
  const flag = (key: keyof RawRecordOptions): boolean | undefined => {
    const v = raw[key];
    if (!given(v)) return undefined;
    if (typeof v !== 'boolean') throw bad(`${name[key]} must be true or false, got ${shown(v)}`);
    return v;
  };
  /** A number given as a number or a string: `parse` reads the string forms ("200M"). */
  const count = (key: keyof RawRecordOptions, what: string, parse: (s: string) => number | undefined, ok: (n: number) => boolean): number | undefined => {
    const v = raw[key];
    if (!given(v)) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parse(v.trim()) : undefined;
    if (n === undefined || !Number.isFinite(n) || !ok(n)) throw bad(`${name[key]} needs ${what}, got ${shown(v)}`);
    return n;
  };
  const seconds = (s: string) => (/^\d+(\.\d+)?$/.test(s) ? Number(s) : undefined);
  const wholeNumber = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined);

  const kernel = file('kernel', 'a kernel file (an ELF multiboot kernel or a Linux bzImage)');
  if (!kernel) throw bad(`${name.kernel} is required: an ELF multiboot kernel or a Linux bzImage`);
  const append = raw.append === '' ? '' : text('append', 'the kernel command line');
  const linux = flag('linux');
  // The command line's flag is --no-linux-defaults: given means false.
  const linuxDefaults = flag('linuxDefaults');
  if (linux && linuxDefaults === false) {
    throw bad(`the Linux preset (${name.linux}) always adds the Linux recording defaults; drop ${name.linuxDefaults}, or drop ${name.linux} and set the command line yourself`);
  }
  const kaslr = flag('kaslr');
  if (kaslr && linuxDefaults === false) {
    throw bad(`${name.kaslr} leaves nokaslr out of the Linux recording defaults, which ${name.linuxDefaults} turns off: without the defaults, KASLR is on unless your command line says nokaslr; drop ${name.kaslr}`);
  }
  if (kaslr && append !== undefined && /(^|\s)nokaslr(\s|$)/.test(append)) {
    throw bad(`${name.kaslr} keeps KASLR on, but ${name.append} says nokaslr; drop one of them`);
  }
  const timeoutSeconds = count('timeout', 'a number of seconds (0: no limit)', seconds, (n) => n >= 0);
  const memoryMiB = count('memory', `a whole number of MiB from ${MEMORY_MIB.min} to ${MEMORY_MIB.max}`, wholeNumber, (n) => Number.isInteger(n) && n >= MEMORY_MIB.min && n <= MEMORY_MIB.max);
  const snapshotEvery = count('snapshotEvery', 'an instruction count such as 200M (0: only the initial snapshot)', parseIcount, (n) => Number.isSafeInteger(n) && n >= 0);
  const maxLogBytes = count('maxLog', 'a size such as 512M or 2G (0: no limit)', parseSize, (n) => Number.isSafeInteger(n) && n >= 0);
  const expectTimeoutSeconds = count('expectTimeout', 'a number of seconds greater than 0', seconds, (n) => n > 0);
  const initrd = file('initrd', 'an initrd file');
  const input = file('input', 'an input script file');
  const disk = file('disk', 'a disk image file (raw or qcow2; Rewind copies it into the recording and never writes to it)');
  const out = file('out', 'the folder to write the recording to');
  const stopOn = text('stopOn', 'the console text to stop at');
  return {
    kernel,
    ...(initrd !== undefined ? { initrd } : {}),
    ...(append !== undefined ? { append } : {}),
    ...(linux !== undefined ? { linux } : {}),
    ...(linuxDefaults !== undefined ? { linuxDefaults } : {}),
    ...(kaslr !== undefined ? { kaslr } : {}),
    ...(disk !== undefined ? { disk } : {}),
    ...(maxLogBytes !== undefined ? { maxLogBytes } : {}),
    ...(memoryMiB !== undefined ? { memoryMiB } : {}),
    ...(input !== undefined ? { input } : {}),
    ...(out !== undefined ? { out } : {}),
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    ...(stopOn !== undefined ? { stopOn } : {}),
    ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
    ...(expectTimeoutSeconds !== undefined ? { expectTimeoutSeconds } : {}),
  };
}

/** The options of a record() call, checked as above (numbers in the API's own units). */
export function checkRecordOptions(opts: Omit<RecordOptions, 'out'> & { out?: string }): void {
  parseRecordOptions(
    {
      kernel: opts.kernel,
      initrd: opts.initrd,
      append: opts.append,
      input: opts.input,
      stopOn: opts.stopOn,
      timeout: opts.timeoutSeconds,
      memory: opts.memoryMiB,
      snapshotEvery: opts.snapshotEvery,
      out: opts.out,
      linux: opts.linux,
      linuxDefaults: opts.linuxDefaults,
      kaslr: opts.kaslr,
      disk: opts.disk,
      maxLog: opts.maxLogBytes,
      expectTimeout: opts.expectTimeoutSeconds,
    },
    'api',
  );
}
