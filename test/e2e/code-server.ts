/**
 * A real VS Code for end-to-end tests: code-server (from the npm registry, on Node 24) and
 * Debian's Chromium driven by playwright-core, as installed by scripts/e2e-setup.sh. Everything
 * runs in a throwaway HOME; code-server and Chromium run in process groups of their own that are
 * killed at the end, pass or fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from '../helpers';
import { alive, descendantsOf, procStat, waitUntil, type ProcessEntry } from '../support/procs';

export interface E2eEnv {
  node: string;
  codeServer: string;
  codeServerVersion: string;
  chromium: string;
}

export const E2E_ENV_FILE = join(ROOT, '.rewind-cache', 'e2e', 'env.json');

/** What scripts/e2e-setup.sh installed; a clear error when it has not run. */
export function e2eEnv(): E2eEnv {
  if (!existsSync(E2E_ENV_FILE)) throw new Error(`the VS Code test needs code-server and Chromium: run \`bash scripts/e2e-setup.sh\` (npm test runs it) — ${E2E_ENV_FILE} is missing`);
  const env = JSON.parse(readFileSync(E2E_ENV_FILE, 'utf8')) as E2eEnv;
  for (const [what, path] of [['Node 24', env.node], ['code-server', env.codeServer], ['Chromium', env.chromium]] as const) {
    if (!existsSync(path)) throw new Error(`${what} is missing at ${path}: run \`bash scripts/e2e-setup.sh\` again`);
  }
  return env;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Runs `cmd args` in a process group of its own, under a watchdog shell that kills the whole group
 * when this Node process's end of its stdin pipe closes: when the test ends, fails, is killed with
 * SIGKILL or times out, nothing it started (code-server, its extension host, gdb) outlives it.
 * QEMU runs in groups of its own under Rewind's own watchdog, tied to the extension host.
 */
const GROUP_WATCHDOG = 'exec 3<&0; "$@" </dev/null 3<&- & c=$!; (while read -r _ <&3; do :; done; kill -9 0) & w=$!; exec 3<&-; wait $c; s=$?; kill $w 2>/dev/null; exit $s';

function spawnGuarded(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: number): ChildProcess {
  const child = spawn('/bin/sh', ['-c', GROUP_WATCHDOG, 'rewind-e2e-watchdog', cmd, ...args], { env, stdio: ['pipe', log, log], detached: true });
  child.stdin!.on('error', () => undefined);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Every group started here, killed when this process exits (the watchdog covers SIGKILL). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) killGroup(child);
});

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = openSync(logFile, 'a');
    const child = spawnGuarded(cmd, args, env, log);
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms (log: ${logFile})`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${args.join(' ')} exited with ${code}; log: ${logFile}\n${readFileSync(logFile, 'utf8').slice(-2000)}`));
    });
  });
}

function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export interface CodeServerOptions {
  /** A folder for code-server's user data, extensions, HOME and logs. */
  dir: string;
  /** User settings (settings.json). */
  settings: Record<string, unknown>;
}

export class CodeServer {
  private child?: ChildProcess;
  port = 0;
  readonly userData: string;
  readonly extensions: string;
  readonly home: string;
  readonly log: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly e2e: E2eEnv, private readonly opts: CodeServerOptions) {
    this.userData = join(opts.dir, 'user-data');
    this.extensions = join(opts.dir, 'extensions');
    this.home = join(opts.dir, 'home');
    this.log = join(opts.dir, 'code-server.log');
    mkdirSync(opts.dir, { recursive: true });
    writeFileSync(this.log, '');
    for (const d of [join(this.userData, 'User'), this.extensions, this.home, join(this.home, '.config'), join(this.home, '.local', 'share'), join(this.home, '.cache')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(this.userData, 'User', 'settings.json'), JSON.stringify(opts.settings, null, 2));
    writeFileSync(join(opts.dir, 'config.yaml'), '');
    // code-server writes to HOME and the XDG folders: keep it away from the real ones.
    this.env = {
      ...process.env,
      HOME: this.home,
      XDG_CONFIG_HOME: join(this.home, '.config'),
      XDG_DATA_HOME: join(this.home, '.local', 'share'),
      XDG_CACHE_HOME: join(this.home, '.cache'),
      PATH: `${join(e2e.node, '..')}:${process.env.PATH ?? ''}`,
      // No extension gallery: code-server would otherwise ask one on the network for updates.
      EXTENSIONS_GALLERY: '{}',
    };
  }

  /** Changes user settings (undefined removes one); VS Code picks the file's change up by itself. */
  updateSettings(patch: Record<string, unknown>): void {
    const file = join(this.userData, 'User', 'settings.json');
    const settings = { ...(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete settings[k];
    writeFileSync(file, JSON.stringify(settings, null, 2));
  }

  private args(): string[] {
    return ['--user-data-dir', this.userData, '--extensions-dir', this.extensions, '--config', join(this.opts.dir, 'config.yaml')];
  }

  async installExtension(vsix: string): Promise<void> {
    await run(this.e2e.node, [this.e2e.codeServer, ...this.args(), '--install-extension', vsix, '--force'], this.env, this.log, 120_000);
  }

  /** Starts code-server on a free loopback port; `extraArgs` e.g. ['--log', 'trace'] (the Rewind log then has every DAP message). */
  async start(workspace: string, extraArgs: string[] = []): Promise<void> {
    this.port = await freePort();
    const log = openSync(this.log, 'a');
    this.child = spawnGuarded(
      this.e2e.node,
      [this.e2e.codeServer, ...this.args(), '--bind-addr', `127.0.0.1:${this.port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', ...extraArgs, workspace],
      this.env,
      log,
    );
    const until = Date.now() + 60_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`code-server exited with ${this.child.exitCode}; log: ${this.log}\n${readFileSync(this.log, 'utf8').slice(-2000)}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`code-server did not answer /healthz within 60 s; log: ${this.log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  url(workspace: string): string {
    return `http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(workspace)}`;
  }

  /** Processes code-server started, at any depth (the extension host, and gdb and QEMU under the inline adapter). */
  descendants(): ProcessEntry[] {
    return this.child?.pid ? descendantsOf(this.child.pid) : [];
  }

  /**
   * Stops code-server and everything it started, and returns when all of it is gone: SIGTERM to
   * code-server (up to 5 s to exit), then SIGKILL to its process group and, by PID, to every
   * descendant that left the group (QEMU and its watchdog run in groups of their own).
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const tree = this.descendants();
    const server = tree.find((p) => p.cmd.includes(this.e2e.codeServer));
    if (server) {
      try {
        process.kill(server.pid, 'SIGTERM');
      } catch {
        // gone
      }
      await waitUntil(() => !alive(server.pid), 5000);
    }
    killGroup(child, 'SIGKILL');
    for (const p of tree) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const pids = [child.pid, ...tree.map((p) => p.pid)];
    if (!(await waitUntil(() => !pids.some(alive), 10_000))) {
      throw new Error(`processes of code-server still running after SIGKILL: ${pids.filter(alive).join(', ')}`);
    }
  }
}

export interface BrowserHandle {
  browser: Browser;
  page: Page;
  /** Chromium's process groups (for leak checks). */
  pids: number[];
  close(): Promise<void>;
}

/**
 * Debian's Chromium, headless, with a fresh profile. playwright-core starts it in a process group
 * of its own (its main process is the leader); closing kills that group, and Chromium exits by
 * itself when this process dies (its DevTools pipe closes).
 */
export async function openBrowser(e2e: E2eEnv, viewport = { width: 1600, height: 1000 }): Promise<BrowserHandle> {
  const before = new Set(descendantsOf(process.pid).map((p) => p.pid));
  const browser = await chromium.launch({
    executablePath: e2e.chromium,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  // The new group leaders among this process's descendants: Chromium's main process.
  const groups = descendantsOf(process.pid)
    .filter((p) => !before.has(p.pid) && /chrom/i.test(p.cmd) && procStat(p.pid)?.pgid === p.pid)
    .map((p) => p.pid);
  const page = await browser.newPage({ viewport });
  return {
    browser,
    page,
    pids: groups,
    async close() {
      const tree = groups.flatMap((g) => [g, ...descendantsOf(g).map((p) => p.pid)]);
      await Promise.race([browser.close().catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
      for (const g of groups) {
        try {
          process.kill(-g, 'SIGKILL');
        } catch {
          // gone with the browser
        }
      }
      for (const pid of tree) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (!(await waitUntil(() => !tree.some(alive), 10_000))) throw new Error(`Chromium processes still running: ${tree.filter(alive).join(', ')}`);
    },
  };
}

