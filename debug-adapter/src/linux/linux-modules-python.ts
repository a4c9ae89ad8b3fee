/**
 * The loadable modules of a Linux guest at the current time point, in gdb's embedded Python
 * (appended after linux-gdb-python.ts, whose helpers it uses): `rewind-linux-modules` walks the
 * kernel's `modules` list as the kernel's own scripts/gdb (modules.py, symbols.py) does, and prints
 * one line of JSON: the kernel's release, and per module its name, state, where its code and data
 * were put (core_layout), the address of every section (`sect_attrs`, what
 * /sys/module/NAME/sections shows) and the GNU build-id read from its loaded note, which the
 * adapter checks a .ko against.
 *
 * struct module's layout comes from the type of module_put()'s parameter, never from a lookup of
 * "struct module" by name (which expands every compilation unit that defines it).
 */
export const LINUX_MODULES_PYTHON = String.raw`
_LX_MAX_MODULES = 1000
_LX_MODULE_UNFORMED = 3

def _lx_type_offset(t, path):
    """(byte offset, type) of a member path in a struct type."""
    pos, f = _lx_path(t, path)
    return pos // 8, f.type.strip_typedefs()

def _lx_module_layout(lx):
    if "module_layout" not in lx:
        try:
            fn = _lx_symbol("module_put")
            if fn is None:
                raise gdb.error("no module_put in the symbols (a kernel without loadable modules?)")
            t = fn.type.fields()[0].type.strip_typedefs().target().strip_typedefs()
            o = {}
            o["list"] = _lx_type_offset(t, "list")[0]
            o["name"], name_type = _lx_type_offset(t, "name")
            o["name_len"] = name_type.sizeof
            o["state"] = _lx_type_offset(t, "state")[0]
            o["base"] = _lx_type_offset(t, "core_layout.base")[0]
            o["size"] = _lx_type_offset(t, "core_layout.size")[0]
            o["sect_attrs"], attrs_ptr = _lx_type_offset(t, "sect_attrs")
            sa = attrs_ptr.target().strip_typedefs()
            o["nsections"] = _lx_type_offset(sa, "nsections")[0]
            o["attrs"], attrs_type = _lx_type_offset(sa, "attrs")
            elem = attrs_type.target().strip_typedefs()
            o["attr_size"] = elem.sizeof
            o["attr_name"] = _lx_type_offset(elem, "battr.attr.name")[0]
            o["attr_address"] = _lx_type_offset(elem, "address")[0]
            lx["module_layout"] = o
        except gdb.error as e:
            lx["module_layout"] = None
            lx["problems"].append("the module list (struct module): %s" % e)
    return lx["module_layout"]

def _lx_cstring_at(addr, limit=64):
    return _lx_cstr(_lx_read(addr, limit))

def _lx_build_id_at(addr):
    """The GNU build-id of an ELF note at addr (hex), or None."""
    b = _lx_read(addr, 16)
    namesz, descsz, ntype = _lx_struct.unpack_from("<III", b, 0)
    if ntype != 3 or namesz != 4 or b[12:15] != b"GNU" or descsz > 64:
        return None
    return _lx_read(addr + 16, descsz).hex()

def _lx_module(o, addr):
    b = _lx_read(addr, max(o["name"] + o["name_len"], o["state"] + 4, o["base"] + 8, o["size"] + 4, o["sect_attrs"] + 8))
    m = {"name": _lx_cstr(b[o["name"]:o["name"] + o["name_len"]]), "state": _lx_u32(b, o["state"]),
         "base": hex(_lx_u64(b, o["base"])), "size": _lx_u32(b, o["size"]), "sections": {}}
    attrs = _lx_u64(b, o["sect_attrs"])
    if attrs:
        n = _lx_u32(_lx_read(attrs + o["nsections"], 4))
        for i in range(min(n, 200)):
            a = attrs + o["attrs"] + i * o["attr_size"]
            name_ptr = _lx_u64(_lx_read(a + o["attr_name"], 8))
            address = _lx_u64(_lx_read(a + o["attr_address"], 8))
            m["sections"][_lx_cstring_at(name_ptr)] = hex(address)
    note = m["sections"].get(".note.gnu.build-id")
    if note:
        try:
            m["buildId"] = _lx_build_id_at(int(note, 16))
        except gdb.MemoryError:
            pass
    return m

class RewindLinuxModules(gdb.Command):
    """rewind-linux-modules: the loaded modules at the current time point, with their sections."""
    def __init__(self):
        super().__init__("rewind-linux-modules", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        lx = _lx_probe()
        if lx is None:
            _emit({"linux": False})
            return
        out = {"linux": True}
        try:
            out["release"] = _lx_cstring_at(_lx_addr_of("init_uts_ns") + _lx_offset("init_uts_ns", "name.release"), 65)
        except (gdb.error, TypeError):
            pass
        o = _lx_module_layout(lx)
        if arg.strip() == "--name-offset":
            # offsetof(struct module, name): the kernel-event scan reads module names without gdb.
            _emit({"linux": True, "nameOffset": o["name"]} if o is not None else {"linux": True, "error": "; ".join(lx["problems"])})
            return
        head = _lx_addr_of("modules")
        if o is None or head is None:
            out["error"] = "; ".join(lx["problems"]) or "no module list in the symbols"
            _emit(out)
            return
        modules = []
        try:
            node = _lx_u64(_lx_read(head, 8))
            while node != head and len(modules) < _LX_MAX_MODULES:
                m = _lx_module(o, node - o["list"])
                if m["state"] != _LX_MODULE_UNFORMED:
                    modules.append(m)
                node = _lx_u64(_lx_read(node, 8))
        except gdb.MemoryError:
            item = {}
            _lx_unreadable_why(item)
            out["error"] = item.get("error", "kernel memory is not readable here")
            _emit(out)
            return
        out["modules"] = modules
        _emit(out)

RewindLinuxModules()
`;
