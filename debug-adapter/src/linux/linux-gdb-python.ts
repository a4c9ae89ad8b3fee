/**
 * Linux kernel awareness in gdb's embedded Python: the one place where Rewind reads Linux's data
 * structures. Everything comes from the vmlinux's symbols and types (DWARF) and guest memory at the
 * current time point; the guest cooperates in nothing.
 *
 * Commands (each prints one line of JSON, except `rewind-dmesg` without --json, which prints the
 * log as `dmesg` does):
 *   rewind-linux-probe          is this Linux (linux_banner, init_task)? and the addresses of its
 *                               reporting functions (panic, oops_begin, __warn, report_bug) and
 *                               where modules load and go (do_init_module, free_module) and
 *                               where a CPU switches tasks (finish_task_switch)
 *   rewind-linux-tasks          per vCPU (gdb thread): the current task, its mode, jiffies/uptime
 *   rewind-linux-task-probe     the per-CPU and task_struct offsets the bridge follows to tell
 *                               which task made each write (value history; x86_64)
 *   rewind-dmesg [--json] [--max N]
 *                               the printk ring buffer (5.10+ lockless layout) as it is now
 *
 * Memory is read in bulk (a task_struct's interesting span in one read; the ring's descriptors,
 * infos and text each in at most two reads), never field by field: every read is a round trip
 * through the relay to the replay process.
 *
 * Appended to gdb-python.ts's helpers (it uses their `_emit`).
 */
export const LINUX_GDB_PYTHON = String.raw`
import struct as _lx_struct

_LX = None

# Where the file-static variables Rewind reads are defined (other files may have statics of the same name).
_LX_STATIC_HOME = {"prb": "printk.c", "printk_rb_static": "printk.c", "_printk_rb_static_descs": "printk.c",
                   "_printk_rb_static_infos": "printk.c"}

def _lx_symbol(name):
    """A global or file-static variable or function with debug information, or None."""
    try:
        sym = gdb.lookup_global_symbol(name)
        if sym is not None:
            return sym
        home = _LX_STATIC_HOME.get(name)
        if home is None:
            return gdb.lookup_static_symbol(name)
        for sym in gdb.lookup_static_symbols(name):
            if sym.symtab is not None and sym.symtab.filename.endswith(home):
                return sym
    except gdb.error:
        pass
    return None

def _lx_addr_of(name):
    """The address of a symbol, or None when the vmlinux has no such symbol."""
    sym = _lx_symbol(name)
    try:
        if sym is not None:
            v = sym.value()
            return int(v.address if v.address is not None else v) & 0xffffffffffffffff
        # No debug information (e.g. an assembly symbol): the ELF symbol table.
        return int(gdb.parse_and_eval("(unsigned long)&" + name)) & 0xffffffffffffffff
    except gdb.error:
        return None

# Offsets and sizes come from the types of variables (init_task is a struct task_struct, ...),
# walked with gdb.Type, never from C expressions: gdb's C parser looks every identifier up as a
# possible type name ("pid" alone costs seconds: it expands every compilation unit with a symbol
# of that name), and looking a struct up by name expands every unit that defines it.

def _lx_type_of(var):
    sym = _lx_symbol(var)
    if sym is None:
        raise gdb.error("no symbol %s" % var)
    t = sym.type.strip_typedefs()
    while t.code == gdb.TYPE_CODE_ARRAY:
        t = t.target().strip_typedefs()
    return t

def _lx_field(t, name):
    """(bit position, field) of a member, looking into anonymous structs and unions."""
    for f in t.strip_typedefs().fields():
        if f.name == name:
            return f.bitpos, f
        if not f.name and f.type is not None and f.type.strip_typedefs().code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
            try:
                pos, inner = _lx_field(f.type, name)
                return f.bitpos + pos, inner
            except gdb.error:
                pass
    raise gdb.error("no member %s in %s" % (name, t))

def _lx_path(t, path):
    """(bit position, field) of a member path ("desc_ring.count_bits") in a struct type."""
    pos = 0
    f = None
    for part in path.split("."):
        p, f = _lx_field(t, part)
        pos += p
        t = f.type.strip_typedefs()
    return pos, f

def _lx_member(var, path):
    """(bit position, field) of a member path in the type of a variable."""
    return _lx_path(_lx_type_of(var), path)

def _lx_offset(var, path):
    return _lx_member(var, path)[0] // 8

def _lx_sizeof(var):
    return int(_lx_type_of(var).sizeof)

def _lx_bitfield(var, path):
    """(byte offset, bit shift, bit width) of a bitfield member of a variable's type."""
    pos, f = _lx_member(var, path)
    return (pos // 8, pos % 8, f.bitsize)

_LX_FUNCTIONS = ("panic", "oops_begin", "__warn", "report_bug", "do_init_module", "free_module", "finish_task_switch")

def _lx_probe():
    """
    Linux's symbols, from the vmlinux; None when this is not a Linux kernel. Symbol lookups only:
    the layouts (types) are read on first use (_lx_task_layout, _lx_ring_layout).
    """
    global _LX
    if _LX is not None:
        return _LX if _LX.get("linux") else None
    if _lx_addr_of("linux_banner") is None or _lx_addr_of("init_task") is None:
        _LX = {"linux": False}
        return None
    lx = {"linux": True, "problems": []}
    # The current task: a per-cpu pointer (6.1: current_task; 6.2+: pcpu_hot.current_task).
    cur = _lx_addr_of("current_task")
    if cur is None:
        hot = _lx_addr_of("pcpu_hot")
        if hot is not None:
            try:
                cur = hot + _lx_offset("pcpu_hot", "current_task")
            except gdb.error:
                cur = None
    lx["current_task"] = cur
    lx["per_cpu_offset"] = _lx_addr_of("__per_cpu_offset")
    if cur is None:
        lx["problems"].append("no current_task or pcpu_hot symbol: the current task is unknown")
    lx["jiffies"] = _lx_addr_of("jiffies_64")
    lx["tick_nsec"] = _lx_addr_of("tick_nsec")
    lx["prb"] = _lx_addr_of("prb")
    lx["functions"] = {}
    for name in _LX_FUNCTIONS:
        a = _lx_addr_of(name)
        if a is not None:
            lx["functions"][name] = a
    _LX = lx
    return lx

def _lx_task_layout(lx):
    if "task" not in lx:
        try:
            t = "init_task"
            state = "__state"
            try:
                _lx_offset(t, state)
            except gdb.error:
                state = "state"  # before 5.14
            lx["task"] = {"comm": _lx_offset(t, "comm"), "pid": _lx_offset(t, "pid"), "tgid": _lx_offset(t, "tgid"),
                          "state": _lx_offset(t, state), "flags": _lx_offset(t, "flags"),
                          "exit_state": _lx_offset(t, "exit_state")}
        except gdb.error as e:
            lx["task"] = None
            lx["problems"].append("struct task_struct (init_task): %s" % e)
    return lx["task"]

def _lx_ring_layout(lx):
    """printk's lockless ring buffer (5.10+): prb points at the static or the dynamic one."""
    if "ring" not in lx:
        try:
            # The static ring buffer and its arrays (prb may point at a dynamic one of the same types).
            r = "printk_rb_static"
            d = "_printk_rb_static_descs"
            i = "_printk_rb_static_infos"
            lx["ring"] = {
                "size": _lx_sizeof(r),
                "count_bits": _lx_offset(r, "desc_ring.count_bits"), "descs": _lx_offset(r, "desc_ring.descs"),
                "infos": _lx_offset(r, "desc_ring.infos"), "head_id": _lx_offset(r, "desc_ring.head_id"),
                "tail_id": _lx_offset(r, "desc_ring.tail_id"),
                "size_bits": _lx_offset(r, "text_data_ring.size_bits"), "data": _lx_offset(r, "text_data_ring.data"),
                "head_lpos": _lx_offset(r, "text_data_ring.head_lpos"), "tail_lpos": _lx_offset(r, "text_data_ring.tail_lpos"),
                "desc_size": _lx_sizeof(d), "state_var": _lx_offset(d, "state_var"),
                "begin": _lx_offset(d, "text_blk_lpos.begin"), "next": _lx_offset(d, "text_blk_lpos.next"),
                "info_size": _lx_sizeof(i), "seq": _lx_offset(i, "seq"), "ts_nsec": _lx_offset(i, "ts_nsec"),
                "text_len": _lx_offset(i, "text_len"), "facility": _lx_offset(i, "facility"),
                "level": _lx_bitfield(i, "level"), "caller_id": _lx_offset(i, "caller_id"),
            }
        except gdb.error as e:
            lx["ring"] = None
            lx["problems"].append("no printk ring buffer of the 5.10+ layout (%s): dmesg is not available" % e)
    return lx["ring"] if lx["prb"] is not None else None

# QEMU's gdbstub answers reads of more than 2 KiB with an error (E22), whatever packet size the
# relay announces: read in chunks that it serves.
_LX_CHUNK = 2048

def _lx_read(addr, n):
    inf = gdb.selected_inferior()
    if n <= _LX_CHUNK:
        return bytes(inf.read_memory(addr, n))
    parts = []
    for off in range(0, n, _LX_CHUNK):
        parts.append(bytes(inf.read_memory(addr + off, min(_LX_CHUNK, n - off))))
    return b"".join(parts)

def _lx_u64(b, off=0):
    return _lx_struct.unpack_from("<Q", b, off)[0]

def _lx_i32(b, off=0):
    return _lx_struct.unpack_from("<i", b, off)[0]

def _lx_u32(b, off=0):
    return _lx_struct.unpack_from("<I", b, off)[0]

def _lx_cstr(b):
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")

# task_struct.__state bits (include/linux/sched.h) and the letters ps shows.
_LX_STATES = [(0x1, "S (sleeping)"), (0x2, "D (disk sleep)"), (0x4, "T (stopped)"), (0x8, "t (tracing stop)"),
              (0x10, "X (dead)"), (0x20, "Z (zombie)"), (0x40, "P (parked)"), (0x80, "I (dead)")]

def _lx_state_name(state, exit_state):
    if exit_state & 0x20:
        return "Z (zombie)"
    if exit_state & 0x10:
        return "X (dead)"
    if state == 0:
        return "R (running)"
    if state & 0x402 == 0x402:
        return "I (idle)"
    for bit, name in _LX_STATES:
        if state & bit:
            return name
    return "0x%x" % state

def _lx_task(lx, cpu):
    """The current task of a CPU, read in two small reads and one of the task's interesting span."""
    base = lx["current_task"]
    if lx["per_cpu_offset"] is not None:
        base += _lx_u64(_lx_read(lx["per_cpu_offset"] + 8 * cpu, 8))
    task = _lx_u64(_lx_read(base & 0xffffffffffffffff, 8))
    if task == 0:
        return {"task": "0x0"}
    o = lx["task"]
    lo = min(o["comm"], o["pid"], o["tgid"], o["state"], o["flags"], o["exit_state"])
    hi = max(o["comm"] + 16, o["pid"] + 4, o["tgid"] + 4, o["state"] + 4, o["flags"] + 4, o["exit_state"] + 4)
    b = _lx_read(task + lo, hi - lo)
    state = _lx_u32(b, o["state"] - lo)
    exit_state = _lx_u32(b, o["exit_state"] - lo)
    flags = _lx_u32(b, o["flags"] - lo)
    return {"task": hex(task), "comm": _lx_cstr(b[o["comm"] - lo:o["comm"] - lo + 16]),
            "pid": _lx_i32(b, o["pid"] - lo), "tgid": _lx_i32(b, o["tgid"] - lo),
            "state": _lx_state_name(state, exit_state), "kthread": bool(flags & 0x00200000)}

def _lx_cpu_of(thread):
    lwp = thread.ptid[1]
    return (lwp - 1) if lwp > 0 else (thread.num - 1)

class RewindLinuxProbe(gdb.Command):
    """rewind-linux-probe: whether the symbols are Linux's (linux_banner, init_task), and the addresses of its reporting functions."""
    def __init__(self):
        super().__init__("rewind-linux-probe", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        lx = _lx_probe()
        if lx is None:
            _emit({"linux": False})
            return
        _emit({"linux": True, "functions": dict((k, hex(v)) for k, v in lx["functions"].items())})

def _lx_unreadable_why(item):
    """Why kernel memory is unreadable on the selected CPU: paging off, KPTI's user page tables, or too early."""
    frame = gdb.newest_frame()
    try:
        cr0 = int(frame.read_register("cr0"))
        cr3 = int(frame.read_register("cr3"))
    except (gdb.error, RuntimeError):
        cr0, cr3 = 1 << 31, 0
    if not cr0 & (1 << 31):
        item["error"] = "paging is off: the kernel has not started yet"
    elif item.get("mode") == "user" or cr3 & (1 << 12):
        # KPTI: the user page tables (PTI_USER_PGTABLE_BIT, bit 12 of CR3) map almost none of the kernel.
        item["error"] = ("kernel memory is not mapped while this CPU is on the user page tables "
                         "(kernel page-table isolation, KPTI): stop in the kernel to see the task")
        item["kpti"] = True
    else:
        item["error"] = "kernel memory is not readable here yet (the kernel has not set up its page tables)"

class RewindLinuxTaskProbe(gdb.Command):
    """rewind-linux-task-probe: what the bridge follows to read the current task at a write (x86_64: per-CPU offsets, task_struct offsets)."""
    def __init__(self):
        super().__init__("rewind-linux-task-probe", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        lx = _lx_probe()
        if lx is None:
            _emit({"linux": False})
            return
        # The bridge finds the per-CPU area at the kernel GS base: x86_64's layout (i386 keeps it in FS).
        if "x86-64" not in gdb.selected_inferior().architecture().name():
            _emit({"linux": True, "error": "the task of a write is read on x86_64 kernels only"})
            return
        if lx["current_task"] is None or _lx_task_layout(lx) is None:
            _emit({"linux": True, "error": "; ".join(lx["problems"])})
            return
        o = lx["task"]
        probe = {"currentTask": hex(lx["current_task"]), "pid": o["pid"], "tgid": o["tgid"], "comm": o["comm"]}
        cpu = _lx_addr_of("cpu_number")
        if cpu is not None:
            probe["cpuNumber"] = hex(cpu)
        _emit({"linux": True, "probe": probe})

class RewindLinuxTasks(gdb.Command):
    """rewind-linux-tasks: per vCPU, the current task (comm, pid, tgid, state), kernel or user mode; jiffies and uptime."""
    def __init__(self):
        super().__init__("rewind-linux-tasks", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        lx = _lx_probe()
        if lx is None:
            _emit({"linux": False})
            return
        out = {"linux": True, "cpus": []}
        try:
            selected = gdb.selected_thread()
        except gdb.error:
            selected = None
        threads = sorted(gdb.selected_inferior().threads(), key=lambda t: t.num)
        try:
            for t in threads:
                cpu = _lx_cpu_of(t)
                item = {"thread": t.num, "cpu": cpu}
                try:
                    t.switch()
                    cs = int(gdb.newest_frame().read_register("cs"))
                    item["mode"] = "user" if cs & 3 == 3 else "kernel"
                except (gdb.error, RuntimeError) as e:
                    item["error"] = "registers unreadable: %s" % e
                    out["cpus"].append(item)
                    continue
                if lx["current_task"] is None or _lx_task_layout(lx) is None:
                    item["error"] = "; ".join(lx["problems"])
                else:
                    try:
                        item.update(_lx_task(lx, cpu))
                    except gdb.MemoryError:
                        _lx_unreadable_why(item)
                out["cpus"].append(item)
        finally:
            if selected is not None and selected.is_valid():
                selected.switch()
        try:
            if lx["jiffies"] is not None:
                j = _lx_u64(_lx_read(lx["jiffies"], 8))
                out["jiffies"] = j
                if lx["tick_nsec"] is not None:
                    tick = _lx_u64(_lx_read(lx["tick_nsec"], 8))
                    if tick > 0:
                        hz = int(round(1e9 / tick))
                        initial = (-300 * hz) & 0xffffffff
                        out["hz"] = hz
                        out["uptimeSeconds"] = ((j - initial) & 0xffffffffffffffff) / float(hz)
        except gdb.MemoryError:
            pass
        _emit(out)

_LX_ID_MASK = (1 << 62) - 1

def _lx_ring_read(base, elem, count, start, n):
    """n elements of a ring of count elements, from index start (wrapping): at most two reads."""
    first = min(n, count - start)
    b = _lx_read(base + start * elem, first * elem)
    if n > first:
        b += _lx_read(base, (n - first) * elem)
    return b

def _lx_dmesg(max_records):
    lx = _lx_probe()
    if lx is None:
        raise gdb.GdbError("not a Linux kernel (the symbols have no linux_banner and init_task)")
    o = _lx_ring_layout(lx)
    if o is None:
        raise gdb.GdbError("; ".join(lx["problems"]) or "no printk ring buffer")
    try:
        rb = _lx_u64(_lx_read(lx["prb"], 8))
        h = _lx_read(rb, o["size"])
    except gdb.MemoryError:
        raise gdb.GdbError("the kernel log is not readable at this time point (before the kernel's page tables, or in user mode under KPTI)")
    count_bits = _lx_u32(h, o["count_bits"])
    size_bits = _lx_u32(h, o["size_bits"])
    if count_bits > 24 or size_bits > 31:
        raise gdb.GdbError("the printk ring buffer is not set up yet")
    count = 1 << count_bits
    size = 1 << size_bits
    descs = _lx_u64(h, o["descs"])
    infos = _lx_u64(h, o["infos"])
    data = _lx_u64(h, o["data"])
    head_id = _lx_u64(h, o["head_id"]) & _LX_ID_MASK
    tail_id = _lx_u64(h, o["tail_id"]) & _LX_ID_MASK
    head_lpos = _lx_u64(h, o["head_lpos"])
    tail_lpos = _lx_u64(h, o["tail_lpos"])
    n = min(((head_id - tail_id) & _LX_ID_MASK) + 1, count)
    first_id = (head_id - n + 1) & _LX_ID_MASK
    if max_records is not None and n > max_records:
        first_id = (head_id - max_records + 1) & _LX_ID_MASK
        n = max_records
    start = first_id & (count - 1)
    dsz = o["desc_size"]
    isz = o["info_size"]
    desc_b = _lx_ring_read(descs, dsz, count, start, n)
    info_b = _lx_ring_read(infos, isz, count, start, n)
    # The text: only the span in use (tail to head), or all of it.
    span = (head_lpos - tail_lpos) & 0xffffffffffffffff
    ring = bytearray(size)
    if span >= size:
        ring[:] = _lx_read(data, size)
    elif span > 0:
        t0 = tail_lpos & (size - 1)
        first = min(span, size - t0)
        ring[t0:t0 + first] = _lx_read(data + t0, first)
        if span > first:
            ring[0:span - first] = _lx_read(data, span - first)
    lvl_off, lvl_shift, lvl_bits = o["level"]
    lines = []
    for k in range(n):
        rid = (first_id + k) & _LX_ID_MASK
        sv = _lx_u64(desc_b, k * dsz + o["state_var"])
        if sv & _LX_ID_MASK != rid:
            continue
        state = sv >> 62
        if state not in (1, 2):  # committed, finalized (not reserved: being written; not reusable: gone)
            continue
        begin = _lx_u64(desc_b, k * dsz + o["begin"])
        nxt = _lx_u64(desc_b, k * dsz + o["next"])
        ib = k * isz
        seq = _lx_u64(info_b, ib + o["seq"])
        ts = _lx_u64(info_b, ib + o["ts_nsec"])
        text_len = _lx_struct.unpack_from("<H", info_b, ib + o["text_len"])[0]
        facility = info_b[ib + o["facility"]]
        level = (info_b[ib + lvl_off] >> lvl_shift) & ((1 << lvl_bits) - 1)
        caller = _lx_u32(info_b, ib + o["caller_id"])
        text = b""
        if not (begin & 1 and begin == nxt):
            if (begin >> size_bits) == (nxt >> size_bits) and begin < nxt:
                off, blk = begin & (size - 1), nxt - begin
            elif ((begin + size) >> size_bits) == (nxt >> size_bits):
                off, blk = 0, nxt & (size - 1)
            else:
                continue
            if blk < 8:
                continue
            text = bytes(ring[off + 8:off + 8 + min(text_len, blk - 8)])
        line = {"seq": seq, "timestampNs": ts, "level": level, "facility": facility,
                "text": text.decode("utf-8", "replace")}
        line["caller"] = ("CPU%d" % (caller & 0x7fffffff)) if caller & 0x80000000 else ("T%d" % caller)
        lines.append(line)
    first_seq = lines[0]["seq"] if lines else None
    return {"lines": lines, "bufferSize": size, "records": count,
            "firstSeq": first_seq, "nextSeq": (lines[-1]["seq"] + 1) if lines else None}

class RewindDmesg(gdb.Command):
    """rewind-dmesg [--json] [--max N]: the kernel log (printk ring buffer) as it is at the current time point."""
    def __init__(self):
        super().__init__("rewind-dmesg", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        as_json = "--json" in argv
        max_records = None
        if "--max" in argv:
            max_records = int(argv[argv.index("--max") + 1])
        try:
            r = _lx_dmesg(max_records)
        except gdb.GdbError as e:
            if as_json:
                _emit({"error": str(e)})
                return
            raise
        if as_json:
            _emit(r)
            return
        out = []
        for l in r["lines"]:
            ts = l["timestampNs"]
            prefix = "[%5d.%06d] " % (ts // 1000000000, (ts % 1000000000) // 1000)
            out.append(prefix + l["text"].replace("\n", "\n" + " " * len(prefix)))
        gdb.write("\n".join(out) + ("\n" if out else "(the kernel log is empty)\n"))

RewindLinuxProbe()
RewindLinuxTaskProbe()
RewindLinuxTasks()
RewindDmesg()
`;
