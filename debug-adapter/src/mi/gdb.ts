/**
 * One gdb process driven over GDB/MI (mi3): a command queue matched to result records by token,
 * async records as events, and a lifetime that never leaks the process.
 *
 * Why `mi-async on` (set by start()): in gdb's default synchronous MI mode, gdb stops reading its
 * input while the target runs, so the only way to stop a running target is SIGINT. With mi-async
 * on (gdb >= 7.8; needs a target that can run in the background, like `target remote`), gdb keeps
 * reading commands while the target runs: `-exec-interrupt` stops it, and commands that do not
 * need a stopped target keep working. In that mode SIGINT no longer stops the target (gdb 13 only
 * prints "Quit"); it only cancels a command that blocks gdb itself, which is what sigint() is for.
 *
 * gdb reads its commands from a pipe and exits when the pipe closes, so gdb cannot outlive the
 * adapter process by much even when the adapter is killed without calling dispose().
 */
import { ChildProcess, spawn } from 'node:child_process';
import { MiRecord, MiResultClass, MiTuple, parseMiLine } from './parser';

export interface GdbStartOptions {
  /** Default: `gdb` from PATH. */
  gdbPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Trace: every line written to gdb ("-> ...") and read from it ("<- ...", stderr "<! ..."). */
  log?: (line: string) => void;
}

export interface SendOptions {
  /** Rejects with GdbTimeoutError after this long (counted from send(), queue time included). Default: none. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A successful result record, with the stream text gdb printed while the command was pending. */
export interface MiResult {
  token: number;
  command: string;
  resultClass: Exclude<MiResultClass, 'error'>;
  results: MiTuple;
  /** `~` console stream text (what the CLI would print). */
  console: string;
  /** `&` log stream text (gdb's echo of errors and warnings). */
  log: string;
}

export type MiAsyncRecord = Extract<MiRecord, { type: 'exec' | 'status' | 'notify' }>;
export type MiStreamRecord = Extract<MiRecord, { type: 'console' | 'target' | 'log' }>;

export class GdbError extends Error {
  override name = 'GdbError';
}

export class GdbNotFoundError extends GdbError {
  override name = 'GdbNotFoundError';
  constructor(readonly gdbPath: string, reason: string) {
    super(`gdb ${reason} (${gdbPath}): install Debian's gdb package (apt-get install gdb) or set gdbPath to a gdb executable`);
  }
}

/** gdb answered `^error`: the message is gdb's `msg`. */
export class GdbCommandError extends GdbError {
  override name = 'GdbCommandError';
  constructor(readonly command: string, msg: string, readonly code?: string) {
    super(msg);
  }
}

export class GdbTimeoutError extends GdbError {
  override name = 'GdbTimeoutError';
  constructor(readonly command: string, readonly timeoutMs: number) {
    super(`gdb did not answer ${command} within ${timeoutMs} ms`);
  }
}

/** gdb is gone (or going: dispose() was called) before it answered. */
export class GdbExitedError extends GdbError {
  override name = 'GdbExitedError';
  constructor(message: string, readonly command: string | undefined, readonly exitCode: number | null, readonly exitSignal: NodeJS.Signals | null) {
    super(message);
  }
}

/** An MI C-string argument: quoted, with `\`, `"` and control characters escaped (gdb's mi_parse_argv unescapes them). */
export function miQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += '\\' + c.toString(8).padStart(3, '0');
    else out += ch;
  }
  return out + '"';
}

interface Pending {
  token: number;
  command: string;
  resolve: (r: MiResult) => void;
  reject: (e: unknown) => void;
  console: string;
  log: string;
  /** Rejected by a timeout or an abort while gdb still works on it: its result is dropped. */
  settled: boolean;
  cleanup: () => void;
}

type Listener<T> = (value: T) => void;

const DISPOSE_GRACE_MS = 2000;
/** After 'exit', how long to wait for the last stdout bytes (a grandchild may hold the pipe open). */
const CLOSE_GRACE_MS = 500;

export class Gdb {
  private nextToken = 1;
  private readonly queue: Pending[] = [];
  /** Written and not answered yet, oldest first (gdb answers in order). */
  private readonly inflight = new Map<number, Pending>();
  /** The queued command gdb is working on; the next one is written when it is answered. */
  private current: Pending | undefined;
  private partial: Buffer = Buffer.alloc(0);
  private stderrTail = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private disposing: Promise<void> | undefined;
  private readonly execListeners = new Set<Listener<MiAsyncRecord>>();
  private readonly notifyListeners = new Set<Listener<MiAsyncRecord>>();
  private readonly streamListeners = new Set<Listener<MiStreamRecord>>();
  private readonly exitListeners = new Set<() => void>();
  private resolveExited!: (v: { code: number | null; signal: NodeJS.Signals | null }) => void;

  /** Resolves when the gdb process is gone (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(private readonly proc: ChildProcess, private readonly log?: (line: string) => void) {
    this.exited = new Promise((r) => (this.resolveExited = r));
    proc.stdout!.on('data', (d: Buffer) => this.onData(d));
    proc.stderr!.on('data', (d: Buffer) => {
      const text = d.toString('utf8');
      this.stderrTail = (this.stderrTail + text).slice(-2000);
      for (const l of text.split('\n')) if (l) this.log?.(`<! ${l}`);
    });
    proc.stdin!.on('error', () => {}); // EPIPE after gdb died: reported through 'exit' instead
    proc.on('error', (e) => this.log?.(`(gdb process error: ${e.message})`));
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.onExit();
    };
    proc.once('exit', (code, signal) => {
      this.exitInfo = { code, signal };
      setTimeout(finish, CLOSE_GRACE_MS).unref();
    });
    proc.once('close', (code, signal) => {
      this.exitInfo ??= { code, signal };
      finish();
    });
  }

  /** Starts gdb (mi3, no init files, quiet, no pagination or confirmation, mi-async on). */
  static async start(opts: GdbStartOptions = {}): Promise<Gdb> {
    const gdbPath = opts.gdbPath ?? 'gdb';
    const settings = ['set pagination off', 'set confirm off', 'set width 0', 'set height 0', 'set print pretty off'];
    const args = ['--interpreter=mi3', '-nx', '-q', ...settings.flatMap((s) => ['-iex', s])];
    opts.log?.(`spawn ${gdbPath} ${args.join(' ')}`);
    // detached: gdb gets its own process group, so a Ctrl-C in the adapter's terminal does not
    // reach it (it would abort whatever gdb is doing) and dispose() can kill the group.
    const proc = spawn(gdbPath, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') reject(new GdbNotFoundError(gdbPath, 'not found'));
        else if (e.code === 'EACCES') reject(new GdbNotFoundError(gdbPath, 'is not executable'));
        else reject(e);
      });
    });
    const gdb = new Gdb(proc, opts.log);
    try {
      await gdb.send('-gdb-set mi-async on', { timeoutMs: 30_000 });
    } catch (e) {
      await gdb.dispose();
      throw e;
    }
    return gdb;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** True once gdb has exited (or dispose() began). */
  get isGone(): boolean {
    return this.exitInfo !== undefined || this.disposing !== undefined;
  }

  /**
   * Runs one MI command (without a token; one is added). Resolves with the result record; rejects
   * with GdbCommandError on ^error, GdbTimeoutError, GdbExitedError, or the signal's reason.
   */
  send(command: string, opts: SendOptions = {}): Promise<MiResult> {
    return this.submit(command, opts, false);
  }

  /** Runs a CLI command through `-interpreter-exec console` and resolves with its console output. */
  async console(cliCommand: string, opts: SendOptions = {}): Promise<string> {
    return (await this.send(`-interpreter-exec console ${miQuote(cliCommand)}`, opts)).console;
  }

  /**
   * Stops the running target: writes `-exec-interrupt` at once, ahead of queued commands. gdb
   * answers ^done at once; the stop itself arrives later as `*stopped` (see nextStop()).
   */
  interrupt(opts: SendOptions = {}): Promise<MiResult> {
    return this.submit('-exec-interrupt', opts, true);
  }

  /**
   * Sends SIGINT to gdb: cancels a command that blocks gdb itself (a long Python command, or
   * `-target-select` to a stub that never answers: ^error "Quit"). Best effort: a SIGINT that lands
   * while gdb runs Python code of its own can be swallowed. In mi-async mode it does not stop a
   * running target (gdb 13 only logs "Quit"); interrupt() does that.
   */
  sigint(): void {
    if (!this.isGone && this.proc.pid !== undefined) this.proc.kill('SIGINT');
  }

  onExec(cb: Listener<MiAsyncRecord>): () => void {
    return subscribe(this.execListeners, cb);
  }

  /** `=...` notifications and `+...` status records. */
  onNotify(cb: Listener<MiAsyncRecord>): () => void {
    return subscribe(this.notifyListeners, cb);
  }

  /** Every stream record (console, target, log), also those that belong to a command's result. */
  onStream(cb: Listener<MiStreamRecord>): () => void {
    return subscribe(this.streamListeners, cb);
  }

  /**
   * The results of the next `*stopped` record. Call it before the command that makes the target
   * run: gdb may print `*stopped` right behind `^running`, before the caller's await returns.
   */
  nextStop(opts: SendOptions = {}): Promise<MiTuple> {
    return new Promise<MiTuple>((resolve, reject) => {
      if (this.isGone) return reject(this.exitedError('*stopped'));
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      let timer: NodeJS.Timeout | undefined;
      const settle = (err: unknown, value?: MiTuple): void => {
        off();
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.exitListeners.delete(onExit);
        if (value) resolve(value);
        else reject(err);
      };
      const off = this.onExec((rec) => rec.asyncClass === 'stopped' && settle(undefined, rec.results));
      const onAbort = (): void => settle(opts.signal!.reason);
      const onExit = (): void => settle(this.exitedError('*stopped'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.exitListeners.add(onExit);
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => settle(new GdbTimeoutError('*stopped', opts.timeoutMs!)), opts.timeoutMs);
    });
  }

  /**
   * Ends gdb: `-gdb-exit`, then SIGKILL (of gdb's process group) if gdb is still there after 2 s.
   * Resolves once the process is gone; safe to call again.
   */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      if (this.exitInfo === undefined) {
        this.write(`${this.nextToken++}-gdb-exit`);
        this.proc.stdin!.end();
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), DISPOSE_GRACE_MS).unref());
        if ((await Promise.race([this.exited, timer])) === 'timeout' && this.exitInfo === undefined) this.kill();
      }
      await this.exited;
    })();
    return this.disposing;
  }

  private kill(): void {
    const pid = this.proc.pid;
    if (pid === undefined) return;
    this.log?.(`SIGKILL gdb (pid ${pid})`);
    try {
      process.kill(-pid, 'SIGKILL'); // the group: gdb and anything it started
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private submit(command: string, opts: SendOptions, immediate: boolean): Promise<MiResult> {
    return new Promise<MiResult>((resolve, reject) => {
      if (this.isGone) return reject(this.exitedError(command));
      if (/[\r\n]/.test(command)) return reject(new Error(`an MI command is one line: ${JSON.stringify(command)}`));
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      const p: Pending = { token: this.nextToken++, command, resolve, reject, console: '', log: '', settled: false, cleanup: () => {} };
      let timer: NodeJS.Timeout | undefined;
      const abandon = (err: unknown): void => {
        p.settled = true;
        p.cleanup();
        const i = this.queue.indexOf(p);
        if (i >= 0) this.queue.splice(i, 1);
        // gdb still works on it (its result will be dropped); let the next command go.
        if (this.current === p) {
          this.current = undefined;
          this.pump();
        }
        reject(err);
      };
      const onAbort = (): void => abandon(opts.signal!.reason);
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => abandon(new GdbTimeoutError(command, opts.timeoutMs!)), opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      p.cleanup = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      if (immediate) this.writePending(p);
      else {
        this.queue.push(p);
        this.pump();
      }
    });
  }

  private pump(): void {
    if (this.current || this.isGone) return;
    const next = this.queue.shift();
    if (!next) return;
    this.current = next;
    this.writePending(next);
  }

  private writePending(p: Pending): void {
    this.inflight.set(p.token, p);
    this.write(`${p.token}${p.command}`);
  }

  private write(line: string): void {
    this.log?.(`-> ${line}`);
    this.proc.stdin!.write(line + '\n');
  }

  private onData(d: Buffer): void {
    let buf = this.partial.length ? Buffer.concat([this.partial, d]) : d;
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      this.onLine(buf.subarray(0, nl));
      buf = buf.subarray(nl + 1);
    }
    this.partial = Buffer.from(buf); // a copy: do not pin the whole chunk
  }

  private onLine(line: Buffer): void {
    const rec = parseMiLine(line);
    if (this.log) this.log(rec.type === 'junk' ? `<? ${rec.line}` : `<- ${line.toString('utf8')}`);
    switch (rec.type) {
      case 'result':
        return this.onResult(rec);
      case 'exec':
        return emit(this.execListeners, rec, this.log);
      case 'status':
      case 'notify':
        return emit(this.notifyListeners, rec, this.log);
      case 'console':
      case 'log':
      case 'target': {
        const oldest = this.inflight.values().next().value as Pending | undefined;
        if (oldest && rec.type === 'console') oldest.console += rec.text;
        if (oldest && rec.type === 'log') oldest.log += rec.text;
        return emit(this.streamListeners, rec, this.log);
      }
      default:
        return; // the prompt, and junk (already traced)
    }
  }

  private onResult(rec: Extract<MiRecord, { type: 'result' }>): void {
    const p = rec.token === undefined ? undefined : this.inflight.get(rec.token);
    if (!p) {
      this.log?.(`(result without a pending command: token ${rec.token ?? 'none'})`);
      return;
    }
    this.inflight.delete(p.token);
    if (this.current === p) this.current = undefined;
    if (!p.settled) {
      p.settled = true;
      p.cleanup();
      if (rec.resultClass === 'error') {
        const msg = typeof rec.results['msg'] === 'string' ? rec.results['msg'] : 'unknown error';
        const code = typeof rec.results['code'] === 'string' ? rec.results['code'] : undefined;
        p.reject(new GdbCommandError(p.command, msg, code));
      } else {
        p.resolve({ token: p.token, command: p.command, resultClass: rec.resultClass, results: rec.results, console: p.console, log: p.log });
      }
    }
    this.pump();
  }

  private onExit(): void {
    const info = this.exitInfo ?? { code: null, signal: null };
    this.exitInfo = info;
    this.log?.(`gdb exited (code ${info.code}, signal ${info.signal})`);
    for (const p of [...this.inflight.values(), ...this.queue]) {
      if (p.settled) continue;
      p.settled = true;
      p.cleanup();
      p.reject(this.exitedError(p.command));
    }
    this.inflight.clear();
    this.queue.length = 0;
    this.current = undefined;
    for (const cb of [...this.exitListeners]) cb();
    this.resolveExited(info);
  }

  private exitedError(command: string | undefined): GdbExitedError {
    const info = this.exitInfo;
    const what = command ? ` before answering ${command}` : '';
    if (!info) return new GdbExitedError(`gdb is shutting down${what}`, command, null, null);
    const how = info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
    const stderr = this.stderrTail.trim();
    return new GdbExitedError(`gdb ${how}${what}${stderr ? `: ${stderr}` : ''}`, command, info.code, info.signal);
  }
}

function subscribe<T>(set: Set<Listener<T>>, cb: Listener<T>): () => void {
  set.add(cb);
  return () => set.delete(cb);
}

function emit<T>(set: Set<Listener<T>>, value: T, log?: (line: string) => void): void {
  for (const cb of [...set]) {
    try {
      cb(value);
    } catch (e) {
      log?.(`(listener failed: ${e instanceof Error ? e.message : String(e)})`);
    }
  }
}
