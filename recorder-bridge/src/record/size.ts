/** A size in bytes: "512M", "1G", "65536", "2GiB" (K, M, G, T are powers of 1024); 0 is allowed. */
export function parseSize(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) return undefined;
  const n = Math.round(Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()));
  return Number.isSafeInteger(n) ? n : undefined;
}
