/**
 * Recording bundles as the pickers show them: is a folder a bundle, and a one-line summary of
 * its manifest. Never imports `vscode`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Manifest } from '@rewind/core';
import { shortIcount } from './format';

export function isBundle(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && existsSync(join(dir, 'manifest.json'));
  } catch {
    return false;
  }
}

export interface BundleSummary {
  path: string;
  name: string;
  /** "5.7M instructions · guest-poweroff · kernel.elf · 2026-11-23 17:30" */
  detail: string;
  recordedAt?: string;
}

/** Reads a bundle's manifest for a picker; a damaged manifest is reported in the detail, not thrown. */
export function summarizeBundle(dir: string): BundleSummary {
  const name = basename(dir);
  try {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Partial<Manifest>;
    return { path: dir, name, detail: summarizeManifest(m), ...(m.recording?.startedAt ? { recordedAt: m.recording.startedAt } : {}) };
  } catch (e) {
    return { path: dir, name, detail: `unreadable manifest (${(e as Error).message})` };
  }
}

export function summarizeManifest(m: Partial<Manifest>): string {
  const parts: string[] = [];
  if (typeof m.recording?.totalIcount === 'number') parts.push(`${shortIcount(m.recording.totalIcount)} instructions`);
  if (m.recording?.stopReason) parts.push(`stopped by ${m.recording.stopReason}`);
  if (m.guest?.kernel?.originalPath) parts.push(basename(m.guest.kernel.originalPath));
  if (m.recording?.startedAt) parts.push(m.recording.startedAt.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC'));
  return parts.join(' · ');
}
