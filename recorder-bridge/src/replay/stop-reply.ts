/** What a gdbstub stop reply says about a watchpoint's access (the remote protocol's "T" packet). */

/** A watchpoint's access, from its stop reply. */
export interface WatchAccess {
  address: bigint;
  /** Made by an interrupt's or exception's frame, not an instruction (see Hit.delivery). */
  delivery: boolean;
}

/**
 * The access of a watchpoint stop reply ("T05watch:ADDR;..."), if it is one. Rewind's QEMU adds
 * "rewind-delivery:1;" when the CPU wrote the frame of an interrupt or exception
 * (patches/qemu/0005); Debian's QEMU fails its replay there instead.
 */
export function watchOf(reply: string): WatchAccess | undefined {
  const fields = reply.slice(3) + ';';
  const m = /(?:^|;)(?:watch|rwatch|awatch):([0-9a-fA-F]+);/.exec(fields);
  return m ? { address: BigInt('0x' + m[1]), delivery: /(?:^|;)rewind-delivery:1;/.test(fields) } : undefined;
}

/** The hit's `delivery` field, for a spread. */
export function deliveryOf(w: WatchAccess): { delivery?: true } {
  return w.delivery ? { delivery: true } : {};
}
