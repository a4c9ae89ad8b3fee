/**
 * Kernel command-line parameters a Linux guest needs to be recorded well. Each is added unless the
 * user's command line already sets that parameter. See docs/recording.md.
 */
export const LINUX_RECORDING_DEFAULTS: ReadonlyArray<{ param: string; why: string }> = [
  { param: 'console=ttyS0', why: 'the serial port is the console Rewind records and drives' },
  { param: 'nohz=off', why: 'without a periodic tick, an idle guest barely advances virtual time under record (a `sleep 20` never ends)' },
  { param: 'nokaslr', why: 'keeps the kernel at its link address so that vmlinux symbols are valid at every time point' },
  {
    param: 'panic=-1',
    why: 'a panicking kernel reboots at once, which ends the recording right after the whole panic report; without it the guest spins and the log grows by about 12 MB a second',
  },
];

/** The text Linux prints when it panics (before the reason). */
export const LINUX_PANIC_TEXT = 'Kernel panic - not syncing';

/** Returns the full command line and the defaults that were added (`kaslr`: all but nokaslr). */
export function withLinuxDefaults(append: string, opts: { kaslr?: boolean } = {}): { append: string; added: string[]; warnings: string[] } {
  const words = append.split(/\s+/).filter(Boolean);
  const has = (name: string) => words.find((w) => w === name || w.startsWith(name + '='));
  const added: string[] = [];
  const warnings: string[] = [];
  for (const { param } of LINUX_RECORDING_DEFAULTS) {
    const name = param.split('=')[0]!;
    if (name === 'nokaslr' && opts.kaslr) continue;
    const present = has(name);
    if (!present) added.push(param);
    else if (name === 'nohz' && present !== 'nohz=off') {
      warnings.push(`the command line sets ${present}; recording needs nohz=off, or an idle guest's time stalls`);
    } else if (name === 'panic' && !(Number(present.slice('panic='.length)) < 0)) {
      warnings.push(
        `the command line sets ${present}; after a panic the guest will spin ${present === 'panic=0' ? 'until --timeout or --max-log stops the recording' : 'until it reboots'}, and the log grows by about 12 MB a second (panic=-1 ends the recording at the panic)`,
      );
    }
  }
  return { append: [...words, ...added].join(' '), added, warnings };
}

/**
 * Whether a recording's kernel ran with KASLR: a Linux bzImage whose command line does not say
 * nokaslr (the defaults add it unless recorded with --kaslr); undefined for other kernels.
 */
export function kaslrOn(guest: { kernel: { format: string }; append: string }): boolean | undefined {
  if (guest.kernel.format !== 'linux-bzimage') return undefined;
  return !/(^|\s)nokaslr(\s|$)/.test(guest.append);
}
