/**
 * Every task of a Linux guest at the current time point, in gdb's embedded Python (appended after
 * linux-gdb-python.ts, whose helpers it uses): `rewind-linux-task-list` walks the kernel's task
 * list from init_task (`tasks`: one entry per process) and each process's threads
 * (`thread_group`), as the kernel's own scripts/gdb (tasks.py) does, and prints one line of JSON:
 * per task its address, pid, tgid, parent's tgid, comm, state as ps shows it, CPU, whether a CPU
 * runs it now (on_cpu), and whether it is a kernel thread. One read per task (the span of the
 * fields it needs), one for each parent.
 */
export const LINUX_TASKS_PYTHON = String.raw`
_LX_MAX_TASKS = 10000

def _lx_task_list_layout(lx):
    if "task_list" not in lx:
        t = "init_task"
        try:
            o = dict(_lx_task_layout(lx) or {})
            if not o:
                raise gdb.error("; ".join(lx["problems"]))
            o["tasks"] = _lx_offset(t, "tasks")
            o["thread_group"] = _lx_offset(t, "thread_group")
            o["real_parent"] = _lx_offset(t, "real_parent")
            o["on_cpu"] = _lx_offset(t, "on_cpu")
            try:
                o["cpu"] = _lx_offset(t, "cpu")  # 5.16+
            except gdb.error:
                o["cpu"] = _lx_offset(t, "thread_info.cpu")
            lx["task_list"] = o
        except gdb.error as e:
            lx["task_list"] = None
            lx["problems"].append("the task list (struct task_struct of init_task): %s" % e)
    return lx["task_list"]

def _lx_task_fields(o, addr):
    keys = ("comm", "pid", "tgid", "state", "flags", "exit_state", "tasks", "thread_group", "real_parent", "on_cpu", "cpu")
    lo = min(o[k] for k in keys)
    hi = max(o[k] + (16 if k == "comm" else 8) for k in keys)
    b = _lx_read(addr + lo, hi - lo)
    f = lambda k: o[k] - lo
    return {
        "task": hex(addr), "pid": _lx_i32(b, f("pid")), "tgid": _lx_i32(b, f("tgid")),
        "comm": _lx_cstr(b[f("comm"):f("comm") + 16]),
        "state": _lx_state_name(_lx_u32(b, f("state")), _lx_u32(b, f("exit_state"))),
        "kthread": bool(_lx_u32(b, f("flags")) & 0x00200000),
        "cpu": _lx_u32(b, f("cpu")), "running": _lx_i32(b, f("on_cpu")) != 0,
        "_next": _lx_u64(b, f("tasks")) - o["tasks"], "_thread_next": _lx_u64(b, f("thread_group")) - o["thread_group"],
        "_parent": _lx_u64(b, f("real_parent")),
    }

class RewindLinuxTaskList(gdb.Command):
    """rewind-linux-task-list: every task (processes and their threads) at the current time point."""
    def __init__(self):
        super().__init__("rewind-linux-task-list", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        lx = _lx_probe()
        if lx is None:
            _emit({"linux": False})
            return
        o = _lx_task_list_layout(lx)
        if o is None:
            _emit({"linux": True, "error": "; ".join(lx["problems"])})
            return
        init = _lx_addr_of("init_task")
        tasks = []
        tgids = {}
        try:
            leader = init
            while len(tasks) < _LX_MAX_TASKS:
                t = _lx_task_fields(o, leader)
                tasks.append(t)
                thread = t["_thread_next"]
                while thread != leader and len(tasks) < _LX_MAX_TASKS:
                    th = _lx_task_fields(o, thread)
                    tasks.append(th)
                    thread = th["_thread_next"]
                leader = t["_next"]
                if leader == init:
                    break
        except gdb.MemoryError:
            item = {}
            _lx_unreadable_why(item)
            _emit({"linux": True, "error": item.get("error", "kernel memory is not readable here")})
            return
        for t in tasks:
            tgids[int(t["task"], 16)] = t["tgid"]
        for t in tasks:
            parent = t.pop("_parent")
            t.pop("_next")
            t.pop("_thread_next")
            if parent in tgids:
                t["ppid"] = tgids[parent]
        _emit({"linux": True, "tasks": tasks, "truncated": len(tasks) >= _LX_MAX_TASKS})

RewindLinuxTaskList()
`;
