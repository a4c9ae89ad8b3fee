/**
 * Where a task that is not running sleeps (issue 14: the Tasks view's click), in gdb's embedded
 * Python (appended after linux-gdb-python.ts and linux-tasks-python.ts, whose helpers it uses):
 * `rewind-linux-task-stack TASK` prints one line of JSON, the task's saved stack as gdb unwinds it.
 *
 * A task switched out keeps its callee-saved registers in a `struct inactive_task_frame` at
 * `task->thread.sp` (x86_64: r15, r14, r13, r12, bx, bp, then the return address into
 * __schedule, or ret_from_fork for a task never run). For the length of one walk a Python frame
 * unwinder says that the innermost frame's caller has exactly those registers; gdb then unwinds
 * from there with the kernel's DWARF call frame information, as it does for the running CPU, so
 * the frames have functions, files and lines. The unwinder claims nothing outside that walk.
 */
export const LINUX_TASK_STACK_PYTHON = String.raw`
import gdb.unwinder as _lx_unwinder

_LX_MAX_STACK_FRAMES = 64
# struct inactive_task_frame (arch/x86/include/asm/switch_to.h, x86_64), unchanged since 4.9.
_LX_SWITCH_FRAME = (("r15", 0), ("r14", 8), ("r13", 16), ("r12", 24), ("rbx", 32), ("rbp", 40))
_LX_SWITCH_RET = 48
_LX_SWITCH_SIZE = 56

class _LxFrameId(object):
    # What a frame id is to gdb 13 (gdb.unwinder.FrameId comes with gdb 14): an object with sp and pc.
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc

class _LxTaskUnwinder(_lx_unwinder.Unwinder):
    def __init__(self):
        super().__init__("rewind-linux-task")
        self.regs = None

    def __call__(self, pending_frame):
        if self.regs is None or pending_frame.level() != 0:
            return None
        sp = pending_frame.read_register("rsp")
        pc = pending_frame.read_register("rip")
        info = pending_frame.create_unwind_info(_LxFrameId(sp, pc))
        u64 = gdb.lookup_type("unsigned long")
        for name, value in self.regs.items():
            info.add_saved_register(name, gdb.Value(value).cast(u64))
        return info

_lx_task_unwinder = _LxTaskUnwinder()
_lx_unwinder.register_unwinder(None, _lx_task_unwinder, replace=True)

def _lx_saved_regs(task):
    sp = _lx_u64(_lx_read(task + _lx_offset("init_task", "thread.sp"), 8))
    b = _lx_read(sp, _LX_SWITCH_SIZE)
    regs = dict((name, _lx_u64(b, off)) for name, off in _LX_SWITCH_FRAME)
    regs["rip"] = _lx_u64(b, _LX_SWITCH_RET)
    regs["rsp"] = sp + _LX_SWITCH_SIZE
    return regs

def _lx_frame_json(f):
    item = {"address": hex(f.pc())}
    if f.name():
        item["function"] = f.name()
    sal = f.find_sal()
    if sal.symtab is not None and sal.line:
        item["file"] = sal.symtab.filename
        item["fullname"] = sal.symtab.fullname()
        item["line"] = sal.line
    return item

class RewindLinuxTaskStack(gdb.Command):
    """rewind-linux-task-stack TASK: the saved stack of a task that is not running (TASK: its task_struct's address)."""
    def __init__(self):
        super().__init__("rewind-linux-task-stack", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        lx = _lx_probe()
        if lx is None:
            _emit({"linux": False})
            return
        try:
            task = int(arg, 0)
        except ValueError:
            _emit({"linux": True, "error": "give a task_struct's address, not %r" % arg})
            return
        try:
            o = _lx_task_list_layout(lx)
            if o is not None:
                t = _lx_task_fields(o, task)
                if t["running"]:
                    _emit({"linux": True, "error": "%s [%d] runs on CPU %d at this time point: its stack is that vCPU's (the Call Stack of its thread), not a saved one" % (t["comm"], t["pid"], t["cpu"])})
                    return
            regs = _lx_saved_regs(task)
        except gdb.MemoryError:
            item = {}
            _lx_unreadable_why(item)
            _emit({"linux": True, "error": item.get("error", "the task's saved registers are not readable here")})
            return
        frames = []
        _lx_task_unwinder.regs = regs
        gdb.invalidate_cached_frames()
        try:
            f = gdb.newest_frame().older()
            while f is not None and len(frames) < _LX_MAX_STACK_FRAMES:
                frames.append(_lx_frame_json(f))
                f = f.older()
        except gdb.error as e:
            if not frames:
                _emit({"linux": True, "error": "gdb cannot unwind the task's stack: %s" % e})
                return
        finally:
            _lx_task_unwinder.regs = None
            gdb.invalidate_cached_frames()
        # Past the task's first function (ret_from_fork, the idle task's entry) gdb goes on into
        # whatever the stack's top holds: frames with no function.
        while frames and "function" not in frames[-1]:
            frames.pop()
        _emit({"linux": True, "sp": hex(regs["rsp"] - _LX_SWITCH_SIZE), "frames": frames})

RewindLinuxTaskStack()
`;
