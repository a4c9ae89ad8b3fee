import { defaultBundleName } from './record/bundle-name';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Bundle } from './bundle/reader';
import { CancelledError, isUserError, UserError } from './errors';
import { infoJson, type EventsJson } from './protocol';
import { record, defaultMaxLogBytes, DEFAULT_SNAPSHOT_EVERY, type RecordProgress } from './record/recorder';
import { LINUX_RECORDING_DEFAULTS } from './record/linux-defaults';
import { parseSize } from './record/size';
import { formatIcount, parseIcount } from './timepoint';
import { REWIND_VERSION } from './version';
import { EVENT_KINDS, type ReplayEvent } from './replay-log';
import { formatBytes, formatInfo, formatEvent } from './cli-format';
import { replayCheck } from './replay/check';
import { closeOnSignals, startBridge } from './bridge';
import { BRIDGE_PROTOCOL_VERSION, type BridgeListeningJson } from './protocol';
import { ReplayEngine, replayEnd } from './replay/engine';
import { EngineRelayTarget, GdbRelay } from './gdb/relay';
import { isLoopback } from './util/loopback';

const USAGE = `rewind ${REWIND_VERSION}: record guest kernels and debug the recordings backward and forward

Usage:
  rewind record --kernel FILE [options]     record a guest into a bundle directory
  rewind info BUNDLE [--json] [--verify]    what a recording holds
  rewind events BUNDLE [--json] [--kind K[,K...]] [--from N] [--to N] [--limit N]
                                            the recorded non-deterministic events, with time points
  rewind check BUNDLE [--json] [--timeout S]
                                            verify every file, then replay the whole recording and
                                            compare its end and console output with the recording
  rewind bridge --root DIR [--socket PATH | --listen HOST:PORT [--token-file F]] [--log FILE] [--allow-remote]
                                            serve replay sessions of the bundles under DIR over JSON-RPC
                                            (docs/bridge.md); TCP is loopback-only and needs a token
  rewind replay BUNDLE --gdb PORT [--host ADDR]
                                            serve the recording to gdb (target remote :PORT) with
                                            fast time travel behind reverse-stepi/reverse-continue

record options:
  --kernel FILE          ELF multiboot kernel (i386 or x86_64) or Linux bzImage
  --linux                the Linux preset: the kernel must be a bzImage (vmlinuz), and the Linux
                         defaults below are always added
  --initrd FILE          initial ramdisk
  --append TEXT          kernel command line (Linux gets the defaults below added)
  --no-linux-defaults    do not add those
  --disk FILE            a raw or qcow2 disk image, recorded through QEMU's blkreplay so that disk
                         I/O replays; the guest sees it as virtio-blk (Linux: /dev/vda, needs the
                         virtio_pci and virtio_blk drivers). The file is only read: it is copied
                         into the recording, and the guest writes to the copy
  --memory MIB           guest memory (default 64, 256 for Linux)
  --input FILE           serial console script: lines "expect TEXT", "send TEXT", "sleep SECONDS"
  --out DIR              bundle to write (default ./NAME-YYYYMMDD-HHMMSS.rewind); never overwritten
  --timeout SECONDS      stop after this long (wall clock)
  --stop-on TEXT         stop when the console prints TEXT
  --snapshot-every N     snapshot every N instructions, e.g. 200M (default ${formatIcount(DEFAULT_SNAPSHOT_EVERY)}; 0: initial only)
  --expect-timeout S     how long an "expect" waits (default 120)
  --max-log SIZE         stop when the replay log reaches SIZE, e.g. 512M (default here ${defaultMaxLogBytes() / 2 ** 20}M;
                         0: no limit). Indexing takes about 16 bytes of memory per log byte: a larger
                         log may need NODE_OPTIONS=--max-old-space-size=MB. A Linux guest writes
                         about 0.5 MB a second, one spinning after a panic about 12 MB a second
  --quiet                no progress output
  --json                 print the result as JSON

Linux defaults, added to a bzImage's command line unless it sets the parameter (docs/recording.md):
${LINUX_RECORDING_DEFAULTS.map((d) => `  ${d.param.padEnd(15)} ${d.why}`).join('\n')}

Numbers of instructions take k, M and G suffixes (1000s); sizes take K, M and G (1024s).
Docs: README.md, docs/.`;

type Handler = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, Handler> = {
  record: cmdRecord,
  info: cmdInfo,
  events: cmdEvents,
  check: cmdCheck,
  replay: cmdReplay,
  bridge: cmdBridge,
};

/** Entry point of the `rewind` command: returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === 'version') {
    process.stdout.write(REWIND_VERSION + '\n');
    return 0;
  }
  const handler = COMMANDS[cmd];
  if (!handler) {
    process.stderr.write(`rewind: unknown command "${cmd}"; run \`rewind help\` for the list\n`);
    return 2;
  }
  try {
    return await handler(rest);
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`rewind: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof CancelledError) {
      process.stderr.write(`rewind: ${e.message}\n`);
      return 130;
    }
    throw e;
  }
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UserError(`${(e as Error).message.split('\n')[0]}; run \`rewind help\``, 'bad-option');
  }
}

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`--${name} needs a non-negative number, got "${value}"`, 'bad-option');
  return n;
}

async function cmdRecord(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      kernel: { type: 'string' },
      linux: { type: 'boolean' },
      initrd: { type: 'string' },
      append: { type: 'string' },
      'no-linux-defaults': { type: 'boolean' },
      disk: { type: 'string' },
      'max-log': { type: 'string' },
      memory: { type: 'string' },
      input: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      'stop-on': { type: 'string' },
      'snapshot-every': { type: 'string' },
      'expect-timeout': { type: 'string' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    true,
  );
  const kernel = values.kernel ?? positionals[0];
  if (!kernel) throw new UserError('record needs a kernel: rewind record --kernel FILE', 'bad-option');
  if (positionals.length > (values.kernel ? 0 : 1)) throw new UserError(`unexpected argument "${positionals[values.kernel ? 0 : 1]}"; run \`rewind help\``, 'bad-option');
  let snapshotEvery: number | undefined;
  if (values['snapshot-every'] !== undefined) {
    snapshotEvery = parseIcount(values['snapshot-every']);
    if (snapshotEvery === undefined) throw new UserError(`--snapshot-every needs an instruction count such as 200M, got "${values['snapshot-every']}"`, 'bad-option');
  }
  let maxLogBytes: number | undefined;
  if (values['max-log'] !== undefined) {
    maxLogBytes = parseSize(values['max-log']);
    if (maxLogBytes === undefined) throw new UserError(`--max-log needs a size such as 512M or 2G (0: no limit), got "${values['max-log']}"`, 'bad-option');
  }
  if (values.disk === '') throw new UserError('--disk needs a disk image file: --disk FILE (raw or qcow2)', 'bad-option');
  const out = values.out ?? defaultBundleName(kernel);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) process.stderr.write('\nrewind: stopping the recording (the bundle will be complete)...\n');
    else process.stderr.write('rewind: still finishing the bundle; please wait\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = values.quiet ? undefined : progressPrinter();
  try {
    const result = await record({
      kernel,
      ...(values.initrd ? { initrd: values.initrd } : {}),
      ...(values.append !== undefined ? { append: values.append } : {}),
      linuxDefaults: !values['no-linux-defaults'],
      ...(values.linux ? { linux: true } : {}),
      ...(values.disk !== undefined ? { disk: values.disk } : {}),
      ...(maxLogBytes !== undefined ? { maxLogBytes } : {}),
      ...(values.memory !== undefined ? { memoryMiB: numberOption(values.memory, 'memory')! } : {}),
      ...(values.input ? { input: values.input } : {}),
      out,
      ...(values.timeout !== undefined ? { timeoutSeconds: numberOption(values.timeout, 'timeout')! } : {}),
      ...(values['stop-on'] ? { stopOn: values['stop-on'] } : {}),
      ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
      ...(values['expect-timeout'] !== undefined ? { expectTimeoutSeconds: numberOption(values['expect-timeout'], 'expect-timeout')! } : {}),
      signal: controller.signal,
      ...(progress ? { onProgress: progress.update } : {}),
    });
    progress?.done();
    const bundle = await Bundle.open(result.bundle);
    if (values.json) {
      process.stdout.write(JSON.stringify(infoJson(bundle.dir, bundle.manifest), null, 2) + '\n');
    } else {
      process.stdout.write(formatInfo(bundle.dir, bundle.manifest) + '\n');
    }
    for (const w of result.warnings) process.stderr.write(`rewind: warning: ${w}\n`);
    if (result.stopReason === 'input-failed') {
      process.stderr.write(`rewind: the input script did not complete (${result.stopDetail}); the recording up to that point is in ${result.bundle}\n`);
      return 1;
    }
    if (result.stopReason === 'log-limit') {
      process.stderr.write(`rewind: stopped early: ${result.stopDetail}; the recording up to that point is in ${result.bundle}. Raise --max-log for a longer recording\n`);
      return 1;
    }
    return 0;
  } finally {
    progress?.done();
    process.removeListener('SIGINT', onSigint);
  }
}

/** Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise. */
function progressPrinter(): { update: (p: RecordProgress) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (!tty && now - lastPrint < 2000 && p.phase === 'recording') return;
      lastPrint = now;
      const tail = (p.consoleTail[p.consoleTail.length - 1] ?? '').replace(/[\x00-\x1f\x7f]/g, '');
      const line = `${p.phase} ${(p.elapsedMs / 1000).toFixed(1)} s | ${formatIcount(p.icount)} instructions | log ${formatBytes(p.logBytes)} | ${p.snapshots} snapshots | ${tail}`;
      if (tty) {
        const width = process.stderr.columns ?? 100;
        process.stderr.write('\r\x1b[K' + line.slice(0, width - 1));
        shown = true;
      } else {
        process.stderr.write(line + '\n');
      }
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

async function cmdInfo(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, verify: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UserError('info needs one bundle: rewind info BUNDLE [--json] [--verify]', 'bad-option');
  const bundle = await Bundle.open(positionals[0]!);
  await bundle.verify(values.verify === true);
  // The log is small and the most important file: always check it fully.
  await bundle.readReplayLog();
  if (values.json) process.stdout.write(JSON.stringify(infoJson(bundle.dir, bundle.manifest), null, 2) + '\n');
  else process.stdout.write(formatInfo(bundle.dir, bundle.manifest) + '\n');
  return 0;
}

async function cmdEvents(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { json: { type: 'boolean' }, kind: { type: 'string', multiple: true }, from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' } },
    true,
  );
  if (positionals.length !== 1) throw new UserError('events needs one bundle: rewind events BUNDLE [--json] [--kind K] [--from N --to N]', 'bad-option');
  const icountOption = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = parseIcount(v);
    if (n === undefined) throw new UserError(`--${name} needs an instruction count such as 1500000 or 1.5M, got "${v}"`, 'bad-option');
    return n;
  };
  const from = icountOption(values.from, 'from');
  const to = icountOption(values.to, 'to');
  const limit = numberOption(values.limit, 'limit');
  const kinds = values.kind?.flatMap((k) => k.split(',')).filter(Boolean);
  const bundle = await Bundle.open(positionals[0]!);
  const index = await bundle.readIndex();
  if (kinds) {
    const unknown = kinds.filter((k) => !(k in index.counts) && !KNOWN_KINDS.has(k));
    if (unknown.length) throw new UserError(`unknown event kind "${unknown[0]}"; kinds are: ${[...KNOWN_KINDS].join(', ')}`, 'bad-option');
  }
  const kindSet = kinds ? new Set(kinds) : undefined;
  let events: ReplayEvent[] = index.events.filter(
    (e) => (!kindSet || kindSet.has(e.kind)) && (from === undefined || e.icount >= from) && (to === undefined || e.icount <= to),
  );
  if (limit !== undefined) events = events.slice(0, limit);
  if (values.json) {
    const out: EventsJson = {
      schema: 'rewind.events/1',
      bundle: bundle.dir,
      totalIcount: index.totalIcount,
      counts: index.counts,
      filter: { ...(kinds ? { kinds } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) },
      events,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    const lines = events.map(formatEvent);
    lines.push(`${events.length} of ${index.events.length} events; recording ends at icount ${index.totalIcount}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return 0;
}

const KNOWN_KINDS = new Set<string>(Object.keys(EVENT_KINDS));

async function cmdCheck(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, timeout: { type: 'string' } }, true);
  if (positionals.length !== 1) throw new UserError('check needs one bundle: rewind check BUNDLE', 'bad-option');
  const bundle = await Bundle.open(positionals[0]!);
  await bundle.verify(true);
  const index = await bundle.readIndex();
  if (index.totalIcount !== bundle.manifest.recording.totalIcount) {
    throw new UserError(`${bundle.dir}: the log ends at icount ${index.totalIcount} but the manifest says ${bundle.manifest.recording.totalIcount}; the bundle is damaged`, 'bundle-damaged');
  }
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    const tty = process.stderr.isTTY === true;
    const endIcount = replayEnd(index);
    const r = await replayCheck(bundle, endIcount, {
      ...(values.timeout !== undefined ? { timeoutSeconds: numberOption(values.timeout, 'timeout')! } : {}),
      signal: controller.signal,
      onProgress: (i, total) => {
        if (tty) process.stderr.write(`\r\x1b[Kreplaying ${formatIcount(i)} of ${formatIcount(total)} (${total ? Math.floor((100 * i) / total) : 100}%)`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    // QEMU may run a few instructions past the shutdown request before it stops, as it did when recording.
    const reachedEnd = r.icount >= r.endIcount && r.icount <= r.totalIcount;
    const ok = reachedEnd && r.consoleMatches;
    if (values.json) process.stdout.write(JSON.stringify({ schema: 'rewind.check/1', bundle: bundle.dir, ok, ...r }) + '\n');
    else {
      process.stdout.write(
        `files       ok (${Object.keys(bundle.manifest.files).length} files, sha256 verified)\n` +
          `log         ok (${index.events.length} events, ${formatBytes(bundle.manifest.stats.logBytesRaw)})\n` +
          `replay      ${reachedEnd ? 'ok' : 'MISMATCH'}: reached icount ${r.icount}, the recording ends at ${r.endIcount}..${r.totalIcount}, in ${r.wallSeconds.toFixed(1)} s\n` +
          `console     ${r.consoleMatches ? 'ok' : 'MISMATCH'}: the replay printed ${r.consoleBytes} bytes, the recording ${bundle.manifest.files[bundle.manifest.console.raw]?.size ?? '?'}\n`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

async function cmdReplay(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { gdb: { type: 'string' }, host: { type: 'string' }, 'allow-remote': { type: 'boolean' } }, true);
  if (positionals.length !== 1 || values.gdb === undefined) throw new UserError('replay needs a bundle and a port: rewind replay BUNDLE --gdb PORT', 'bad-option');
  const port = Number(values.gdb);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--gdb needs a TCP port number, got "${values.gdb}"`, 'bad-option');
  const host = values.host ?? '127.0.0.1';
  if (!isLoopback(host) && !values['allow-remote']) {
    throw new UserError(`${host} is not a loopback address; the gdb port has no authentication, so add --allow-remote only on a network you trust`, 'bad-option');
  }
  const engine = await ReplayEngine.open(positionals[0]!);
  const relay = new GdbRelay(new EngineRelayTarget(engine), { log: (l) => process.stderr.write(l + '\n') });
  try {
    const addr = await relay.listen(port, host);
    process.stderr.write(
      `rewind: serving ${engine.bundle.dir} (${formatIcount(engine.end)} instructions, ${engine.snapshots().length} snapshots)\n` +
        `rewind: in gdb: file ${engine.bundle.path(engine.bundle.manifest.guest.kernel.file)}\n` +
        `rewind:         target remote ${addr.address}:${addr.port}\n` +
        'rewind: continue, stepi, reverse-stepi, reverse-continue, breakpoints and watchpoints work; Ctrl-C here stops\n',
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return 0;
  } finally {
    await relay.close();
    await engine.close();
  }
}

async function cmdBridge(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      root: { type: 'string' },
      socket: { type: 'string' },
      listen: { type: 'string' },
      'token-file': { type: 'string' },
      log: { type: 'string' },
      'allow-remote': { type: 'boolean' },
    },
    false,
  );
  void positionals;
  if (!values.root) throw new UserError('bridge needs --root DIR: the directory whose bundles it may open', 'bad-option');
  const bridge = await startBridge({
    root: values.root,
    ...(values.socket !== undefined ? { socket: values.socket } : {}),
    ...(values.listen !== undefined ? { listen: values.listen } : {}),
    ...(values['token-file'] !== undefined ? { tokenFile: values['token-file'] } : {}),
    ...(values.log !== undefined ? { log: values.log } : {}),
    allowRemote: values['allow-remote'] === true,
  });
  const closed = closeOnSignals(bridge);
  const a = bridge.address;
  const listening: BridgeListeningJson = {
    schema: 'rewind.bridge/1',
    ...('socket' in a ? { socket: a.socket } : { host: a.host, port: a.port }),
    protocolVersion: BRIDGE_PROTOCOL_VERSION,
    ...(values['token-file'] !== undefined && bridge.token ? { tokenFile: values['token-file'] } : {}),
  };
  process.stdout.write(JSON.stringify(listening) + '\n');
  if (bridge.token && values['token-file'] === undefined) process.stderr.write(`rewind bridge: token ${bridge.token}\n`);
  await closed;
  return 0;
}
