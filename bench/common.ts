/** Shared benchmark helpers: clocks, medians, result paths, and the machine/version header every result carries. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { chooseQemu } from '../recorder-bridge/src/qemu/qemu-binary';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { killAllChildren } from '../recorder-bridge/src/util/processes';
import { REWIND_VERSION } from '../recorder-bridge/src/version';
import { descendantsOf } from '../test/support/procs';

export const ROOT = join(__dirname, '..', '..');

export const now = (): bigint => process.hrtime.bigint();
/** Seconds since `t0` (a now()). */
export const since = (t0: bigint): number => Number(now() - t0) / 1e9;
/** A sleep that does not keep the process alive (for time limits raced against the real work). */
export const deadline = (ms: number): Promise<void> => sleep(Math.max(0, ms), undefined, { ref: false });

/**
 * Lets engines finish their background work after a move (parking spare replay processes behind the
 * new position, a ladder point near it, blank processes), as they do while a user looks at a stop.
 */
export async function settle(engines: ReplayEngine | Iterable<ReplayEngine>, maxMs = 30_000): Promise<void> {
  const until = Date.now() + maxMs;
  for (const engine of engines instanceof ReplayEngine ? [engines] : engines) {
    const e = engine as unknown as { spare?: Promise<void> };
    while (e.spare && Date.now() < until) await Promise.race([e.spare.catch(() => undefined), deadline(until - Date.now())]);
  }
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A benchmark's command line: parseArgs, plus `--help`, which prints the usage (the header comment of
 * bench/NAME.ts) and exits, and an unknown or malformed option told in one line with a pointer to
 * --help instead of a stack trace (exit code 2).
 */
export function benchArgs<T extends ParseArgsConfig>(bench: string, config: T): ReturnType<typeof parseArgs<T>> {
  const withHelp = { ...config, options: { ...config.options, help: { type: 'boolean' as const } } };
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(withHelp) as unknown as ReturnType<typeof parseArgs<T>>;
  } catch (e) {
    process.stderr.write(`bench/${bench}: ${(e as Error).message}. Run it with --help for its options.\n`);
    process.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${usageOf(bench)}\n`);
    process.exit(0);
  }
  return parsed;
}

/** The header comment of bench/NAME.ts, without its comment markers. */
function usageOf(bench: string): string {
  const source = readFileSync(join(ROOT, 'bench', `${bench}.ts`), 'utf8');
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? `bench/${bench}`;
  return header
    .split('\n')
    .map((l) => l.replace(/^ ?\* ?/, ''))
    .join('\n')
    .trim();
}

export function resultsPath(name: string): string {
  const d = new Date().toISOString().slice(0, 10);
  return join(ROOT, 'bench', 'results', `${name}-${d}`);
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'not found';
  }
}

/** A Markdown header naming the machine and the versions of everything measured. */
export async function benchHeader(name: string, method: string): Promise<string> {
  const os = (() => {
    try {
      return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  return [
    `# bench/${name}, ${new Date().toISOString()}`,
    '',
    `- machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${os}`,
    `- versions: Rewind ${REWIND_VERSION}, Node ${process.version}, ${firstLine('qemu-system-x86_64', ['--version'])}, ${firstLine('gdb', ['--version'])}`,
    `- Rewind replays x86_64 guests with: ${rewindQemu()} (QEMU + gdb baselines run Debian's binary)`,
    `- method: ${method}`,
    '',
  ].join('\n');
}

/** Which QEMU the engine runs for x86_64 guests here, as its banner says. */
function rewindQemu(): string {
  const q = chooseQemu('qemu-system-x86_64');
  return q.build === 'rewind' ? `Rewind's build, ${firstLine(q.path, ['--version'])}` : "Debian's binary (Rewind's build is not built, or REWIND_QEMU=system)";
}

/** A progress line on stderr (results go to files). */
export const progress = (line: string) => process.stderr.write(`${line}\n`);

/** Seconds for a results table: 'n/a', '> LIMIT s' for what did not finish. */
export function fmtS(s: number | undefined, limit?: number): string {
  if (s === undefined || Number.isNaN(s)) return 'n/a';
  if (!Number.isFinite(s)) return limit !== undefined ? `> ${limit} s` : 'did not finish';
  return `${s < 1 ? s.toFixed(3) : s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
}

export const fmtN = (n: number) => n.toLocaleString('en-US');

/** The q-quantile, nearest rank (Infinity for requests that did not finish in time; errors left out). */
export function quantile(xs: number[], q: number): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** How many times faster `use` is than `off` (the baseline), as '12x'. */
export function ratio(off: number, use: number): string {
  if (!(use > 0) || Number.isNaN(off)) return 'n/a';
  if (!Number.isFinite(off)) return Number.isFinite(use) ? `> ${(off / use).toFixed(0)}x` : 'n/a';
  if (!Number.isFinite(use)) return '< 1x';
  const r = off / use;
  return `${r.toFixed(r < 10 ? 1 : 0)}x`;
}

/** The commit measured, and whether the engine or the adapter had uncommitted changes (read-only git). */
export function sourceState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'debug-adapter', 'recorder-bridge'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return `git ${head}${dirty ? `, with uncommitted changes in ${dirty} file(s) of debug-adapter/ and recorder-bridge/ (the working tree as built for this run)` : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

/** Kills every process this benchmark started that is still there (a QEMU or gdb a failure left behind), by pid, naming each. */
export function killLeftovers(bench: string): void {
  killAllChildren();
  for (const p of descendantsOf()) {
    progress(`bench/${bench}: killing leftover process ${p.pid} (${p.comm})`);
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
