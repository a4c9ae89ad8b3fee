/**
 * Kernel command-line parameters a Linux guest needs to be recorded well. Each is added unless the
 * user's command line already sets that parameter. See docs/recording.md.
 */
export const LINUX_RECORDING_DEFAULTS: ReadonlyArray<{ param: string; why: string }> = [
  { param: 'console=ttyS0', why: 'the serial port is the console Rewind records and drives' },
  { param: 'nohz=off', why: 'without a periodic tick, an idle guest barely advances virtual time under record (a `sleep 20` never ends)' },
  { param: 'nokaslr', why: 'keeps the kernel at its link address so that vmlinux symbols are valid at every time point' },
];

/** Returns the full command line and the defaults that were added. */
export function withLinuxDefaults(append: string): { append: string; added: string[]; warnings: string[] } {
  const words = append.split(/\s+/).filter(Boolean);
  const has = (name: string) => words.find((w) => w === name || w.startsWith(name + '='));
  const added: string[] = [];
  const warnings: string[] = [];
  for (const { param } of LINUX_RECORDING_DEFAULTS) {
    const name = param.split('=')[0]!;
    const present = has(name);
    if (!present) added.push(param);
    else if (name === 'nohz' && present !== 'nohz=off') {
      warnings.push(`the command line sets ${present}; recording needs nohz=off, or an idle guest's time stalls`);
    }
  }
  return { append: [...words, ...added].join(' '), added, warnings };
}
