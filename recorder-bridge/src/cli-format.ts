import type { IndexInfoJson, InfoJson } from '@rewind/protocol';
import type { Manifest } from './bundle/manifest';
import { DISK_DEVICES } from './bundle/drive';
import { kaslrOn } from './record/linux-defaults';
import type { ReplayEvent } from './replay-log';
import { formatIcount } from './timepoint';

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** The human-readable summary printed by `rewind info` and at the end of `rewind record` (with the index's state when looked for). */
export function formatInfo(dir: string, m: Manifest, index?: IndexInfoJson, kaslr?: KaslrInfo): string {
  const r = m.recording;
  const k = m.guest.kernel;
  const ratio = m.stats.logBytesCompressed > 0 ? ` (${Math.round(m.stats.logBytesRaw / m.stats.logBytesCompressed)}x)` : '';
  const rows: Array<[string, string]> = [
    ['recording', dir],
    ['kernel', `${k.originalPath} (${k.format}${k.linuxVersion ? `, Linux ${k.linuxVersion.split(' ')[0]}` : ''}${k.buildId ? `, build-id ${k.buildId.slice(0, 16)}` : ''})`],
  ];
  if (m.guest.initrd) rows.push(['initrd', m.guest.initrd.originalPath]);
  const d = m.guest.disk;
  if (d) {
    const linuxName = (DISK_DEVICES as Record<string, { linuxDevice: string } | undefined>)[d.device]?.linuxDevice;
    rows.push([
      'disk',
      `${d.originalPath} (${d.format}, ${formatBytes(d.virtualSize)}, sha256 ${d.sha256.slice(0, 16)}) as ${d.device}${linuxName ? ` (${linuxName} in Linux)` : ''}, through blkreplay; its blocks are in ${d.file}`,
    ]);
  }
  if (m.guest.append) rows.push(['command line', m.guest.append]);
  if (m.guest.appendDefaults.length) rows.push(['linux defaults', `${m.guest.appendDefaults.join(' ')} (added by Rewind: docs/recording.md)`]);
  const randomized = kaslr ?? kaslrInfo(m);
  if (randomized) rows.push(['kaslr', kaslrText(randomized)]);
  rows.push(
    ['memory', `${m.guest.memoryMiB} MiB`],
    ['qemu', `${m.qemu.binary} ${m.qemu.version}${qemuBuildOf(m.qemu.banner)}`],
    ['recorded', `${r.startedAt}, ${r.wallSeconds.toFixed(1)} s wall${r.guestSeconds !== undefined ? `, ~${r.guestSeconds.toFixed(1)} s guest` : ''}`],
    ['stopped by', r.stopReason + (r.stopDetail ? ` (${r.stopDetail})` : '')],
    ['instructions', `${r.totalIcount} (${formatIcount(r.totalIcount)})`],
    ['replay log', `${formatBytes(m.stats.logBytesRaw)} raw, ${formatBytes(m.stats.logBytesCompressed)} compressed${ratio}, format ${r.replayLog.logFormatName}`],
    ['events', `${m.stats.eventTotal}: ` + Object.entries(m.stats.eventCounts).sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ${n}`).join(', ')],
    ['snapshots', m.snapshots.list.map((s) => `${s.name}@${formatIcount(s.icount)}`).join(', ') || 'none'],
    ['verified', verificationLine(m)],
    ['console', `${m.console.lineCount} lines`],
  );
  if (index) rows.push(['index', formatIndex(index, dir)]);
  for (const w of r.warnings) rows.push(['warning', w]);
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, v]) => `${key.padEnd(width)}  ${v}`).join('\n');
}

/** Whether a Linux recording's kernel ran with KASLR, and its offset when known. */
export interface KaslrInfo {
  on: boolean;
  offset?: bigint;
}

/** On or off from the recorded command line (the offset needs the vmlinux); undefined: not Linux. */
function kaslrInfo(m: Manifest): KaslrInfo | undefined {
  const on = kaslrOn(m.guest);
  return on === undefined ? undefined : { on };
}

function kaslrJson(k: KaslrInfo | undefined): Pick<InfoJson, 'kaslr'> {
  return k ? { kaslr: { on: k.on, ...(k.offset !== undefined ? { offset: `0x${k.offset.toString(16)}` } : {}) } } : {};
}

function kaslrText(k: KaslrInfo): string {
  if (!k.on) return 'off (nokaslr): the kernel runs at its link addresses';
  if (k.offset === undefined) return 'on: the debugger finds the kernel\'s offset when it opens the recording with its vmlinux (here: rewind info --vmlinux FILE)';
  return `on, offset 0x${k.offset.toString(16)}: the kernel runs that far above the vmlinux's link addresses`;
}

/** What `rewind info` says of the snapshots' verification (bundle-format.md, "Snapshot verification"). */
function verificationLine(m: Manifest): string {
  const v = m.snapshots.verification;
  if (!v) return 'not in this bundle (format 1 or 2): the snapshots are verified when it is first opened';
  const ok = m.snapshots.list.filter((s) => s.verified).length;
  const what = [
    v.replaced.length ? `${v.replaced.length} replaced (${v.replaced.map((r) => r.name).join(', ')})` : '',
    v.added.length ? `${v.added.length} added` : '',
    v.dropped.length ? `${v.dropped.length} dropped (${v.dropped.map((d) => d.name).join(', ')})` : '',
  ].filter(Boolean);
  const head = ok === m.snapshots.list.length ? `all ${ok} snapshots resume` : `${ok} of ${m.snapshots.list.length} snapshots (the rest are verified when the recording is first opened)`;
  return `${head}${what.length ? `; ${what.join(', ')}` : ''}; ${v.seconds} s`;
}

/** What `rewind info` says of a recording's analysis index (docs/index-design.md, "Storage"). */
export function formatIndex(s: IndexInfoJson, bundleDir: string): string {
  switch (s.state) {
    case 'none':
      return `none; \`rewind index ${bundleDir}\` builds it`;
    case 'incomplete':
      return `incomplete: ${s.slices} slices cover ${formatIcount(s.covered ?? 0)} of ${formatIcount(s.end ?? 0)} instructions (${s.where}); \`rewind index ${bundleDir}\` replays the rest`;
    case 'complete':
      return (
        `${s.where}, ${formatBytes(s.bytes ?? 0)}: ${s.buckets} buckets of ${formatIcount(s.bucket ?? 0)} instructions in ${s.slices} slices` +
        (s.extraSnapshots ? `; ${extraSnapshotsText(s)}` : '')
      );
    case 'damaged':
      return `DAMAGED: ${s.message}`;
  }
}

/** "2 extra snapshots (310 MB on disk)": the verified snapshots the index pass saved. */
export function extraSnapshotsText(s: { extraSnapshots?: number; extraBytes?: number }): string {
  const n = s.extraSnapshots ?? 0;
  return `${n} extra snapshot${n === 1 ? '' : 's'} (${formatBytes(s.extraBytes ?? 0)} on disk)`;
}

/** One line of `rewind events`. */
export function formatEvent(e: ReplayEvent): string {
  let what = e.detail ?? '';
  if (e.bytes !== undefined) what = JSON.stringify(e.bytes);
  else if (e.value !== undefined) what = what ? `${what} ${e.value}` : e.value;
  return `#${String(e.index).padEnd(7)} ${String(e.icount).padStart(13)}  ${e.kind.padEnd(13)} ${what}`.trimEnd();
}

/** `rewind info --json` (and `record`/`salvage --json`): the manifest as docs/json-output.md shows it. */
export function infoJson(bundleDir: string, m: Manifest, index?: IndexInfoJson, kaslr?: KaslrInfo): InfoJson {
  return {
    schema: 'rewind.info/1',
    bundle: bundleDir,
    formatVersion: m.formatVersion,
    kernel: {
      originalPath: m.guest.kernel.originalPath,
      format: m.guest.kernel.format,
      sha256: m.guest.kernel.sha256,
      ...(m.guest.kernel.buildId ? { buildId: m.guest.kernel.buildId } : {}),
      ...(m.guest.kernel.linuxVersion ? { linuxVersion: m.guest.kernel.linuxVersion } : {}),
    },
    ...(m.guest.initrd ? { initrd: { originalPath: m.guest.initrd.originalPath, sha256: m.guest.initrd.sha256 } } : {}),
    ...(m.guest.disk ? { disk: { originalPath: m.guest.disk.originalPath, format: m.guest.disk.format, sha256: m.guest.disk.sha256, virtualSize: m.guest.disk.virtualSize, device: m.guest.disk.device } } : {}),
    append: m.guest.append,
    ...kaslrJson(kaslr ?? kaslrInfo(m)),
    memoryMiB: m.guest.memoryMiB,
    qemu: { binary: m.qemu.binary, version: m.qemu.version },
    recordedAt: m.recording.startedAt,
    stopReason: m.recording.stopReason,
    ...(m.recording.stopDetail ? { stopDetail: m.recording.stopDetail } : {}),
    wallSeconds: m.recording.wallSeconds,
    ...(m.recording.guestSeconds !== undefined ? { guestSeconds: m.recording.guestSeconds } : {}),
    totalIcount: m.recording.totalIcount,
    log: {
      formatName: m.recording.replayLog.logFormatName,
      formatVersion: m.recording.replayLog.logFormatVersion,
      rawBytes: m.stats.logBytesRaw,
      compressedBytes: m.stats.logBytesCompressed,
    },
    events: { total: m.stats.eventTotal, byKind: m.stats.eventCounts },
    snapshots: m.snapshots.list,
    console: { lines: m.console.lineCount },
    warnings: m.recording.warnings,
    ...(index ? { index } : {}),
  };
}

/** The build part of a QEMU banner, " (Debian 1:7.2+dfsg-7+deb12u18+b3)" or " (…, Rewind replay patches)"; "" if none. */
function qemuBuildOf(banner: string | undefined): string {
  const m = banner ? /\(([^)]*)\)\s*$/.exec(banner) : null;
  return m ? ` (${m[1]})` : '';
}
