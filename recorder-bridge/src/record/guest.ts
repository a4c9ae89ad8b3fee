import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors';
import { probeKernel } from '../qemu/kernel-probe';
import { requireTool } from '../qemu/tools';
import { waitForExit } from '../util/processes';
import { probeDisk } from './disk';
import { withLinuxDefaults } from './linux-defaults';
import { checkRecordOptions } from './options';
import type { GuestSetup, RecordOptions } from './types';

/** The guest as QEMU boots it: checked options, the machine description, the console and control sockets. */

export async function prepareGuest(opts: Omit<RecordOptions, 'out'> & { out?: string }): Promise<GuestSetup> {
  // The CLI and launch configurations checked their options already; code calling record() gets the same checks.
  checkRecordOptions(opts);
  const kernelPath = resolve(opts.kernel);
  const kernelInfo = await probeKernel(kernelPath);
  if (opts.linux && kernelInfo.format !== 'linux-bzimage') {
    throw new UserError(
      `--linux records a Linux bzImage (arch/x86/boot/bzImage, or /boot/vmlinuz-* in Debian's linux-image packages), but ${opts.kernel} is a ${kernelInfo.format} kernel; pass the bzImage, or drop --linux for other kernels`,
      'kernel-invalid',
    );
  }
  let initrdPath: string | undefined;
  if (opts.initrd) {
    initrdPath = resolve(opts.initrd);
    const st = await fs.stat(initrdPath).catch(() => undefined);
    if (!st?.isFile()) throw new UserError(`initrd not found: ${opts.initrd}; check the path`, 'initrd-missing');
  }
  let append = opts.append ?? '';
  let appendDefaults: string[] = [];
  const warnings: string[] = [];
  if (kernelInfo.format === 'linux-bzimage' && opts.linuxDefaults !== false) {
    const d = withLinuxDefaults(append, { kaslr: opts.kaslr === true });
    append = d.append;
    appendDefaults = d.added;
    warnings.push(...d.warnings);
  }
  const memoryMiB = opts.memoryMiB ?? (kernelInfo.format === 'linux-bzimage' ? 256 : 64);
  const disk = opts.disk !== undefined ? await probeDisk(opts.disk, requireTool('qemu-img')) : undefined;
  return { kernelPath, kernelInfo, ...(initrdPath ? { initrdPath } : {}), append, appendDefaults, memoryMiB, ...(disk ? { disk } : {}), warnings };
}

/** The machine description: everything that must be identical between record and replay. */
export function machineArgsFor(setup: Pick<GuestSetup, 'memoryMiB' | 'append'>, files: { kernel: string; initrd?: string | undefined }): string[] {
  const args = ['-machine', 'pc', '-nodefaults', '-display', 'none', '-m', String(setup.memoryMiB), '-kernel', files.kernel];
  if (files.initrd) args.push('-initrd', files.initrd);
  if (setup.append) args.push('-append', setup.append);
  args.push('-net', 'none', '-no-reboot');
  return args;
}

export function consoleAndControlArgs(sockets: string): string[] {
  return [
    '-chardev', `pipe,id=con0,path=${join(sockets, 'console')}`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${join(sockets, 'qmp.sock')},server=on,wait=off`,
    '-monitor', 'none',
    // Start paused so that no console output is missed before Rewind is connected.
    '-S',
  ];
}

/** Makes the console FIFOs (DIR/console.in, DIR/console.out) and returns their base path. */
export async function consoleFifos(sockets: string): Promise<string> {
  const base = join(sockets, 'console');
  await runTool('mkfifo', ['-m', '600', `${base}.in`, `${base}.out`]);
  return base;
}

export async function runTool(binary: string, args: string[]): Promise<void> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const { code } = await waitForExit(child);
  if (code !== 0) throw new Error(`${basename(binary)} ${args.join(' ')} failed: ${err.trim()}`);
}
