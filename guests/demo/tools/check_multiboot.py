#!/usr/bin/env python3
"""Checks that kernel.elf's multiboot v1 a.out-kludge header matches its ELF layout.

QEMU loads [load_addr, load_end_addr) from file offset
    header_offset - (header_addr - load_addr)
so that file range must hold exactly the memory image the ELF program header
describes. A mismatch shows up as a triple fault at boot.
"""
import struct
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "build/kernel.elf"
data = open(path, "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 2, "not an ELF64 file"

off = None
for i in range(0, min(len(data), 8192) - 12, 4):
    magic, flags, csum = struct.unpack_from("<III", data, i)
    if magic == 0x1BADB002 and (magic + flags + csum) & 0xFFFFFFFF == 0:
        off = i
        break
assert off is not None, "no multiboot header in the first 8 KiB"
magic, flags, csum, hdr, load, load_end, bss_end, entry = struct.unpack_from("<8I", data, off)
assert flags & 0x10000, "a.out kludge flag (bit 16) not set"

# ELF program headers
e_phoff, = struct.unpack_from("<Q", data, 0x20)
e_entry, = struct.unpack_from("<Q", data, 0x18)
e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
loads = []
for k in range(e_phnum):
    p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = \
        struct.unpack_from("<IIQQQQQQ", data, e_phoff + k * e_phentsize)
    if p_type == 1:
        loads.append((p_offset, p_paddr, p_filesz, p_memsz))
assert len(loads) == 1, f"expected one PT_LOAD segment, found {len(loads)}"
p_offset, p_paddr, p_filesz, p_memsz = loads[0]

text_off = off - (hdr - load)
errors = []
if text_off != p_offset:
    errors.append(f"load file offset 0x{text_off:x} != segment offset 0x{p_offset:x}")
if load != p_paddr:
    errors.append(f"load_addr 0x{load:x} != segment paddr 0x{p_paddr:x}")
if load_end - load != p_filesz:
    errors.append(f"load size 0x{load_end - load:x} != segment filesz 0x{p_filesz:x}")
if bss_end - load != p_memsz:
    errors.append(f"bss_end - load 0x{bss_end - load:x} != segment memsz 0x{p_memsz:x}")
if entry != e_entry:
    errors.append(f"entry_addr 0x{entry:x} != ELF entry 0x{e_entry:x}")
if not (load <= entry < load_end):
    errors.append("entry outside the loaded image")
print(f"multiboot header at file offset 0x{off:x}: header_addr=0x{hdr:x} load_addr=0x{load:x} "
      f"load_end_addr=0x{load_end:x} bss_end_addr=0x{bss_end:x} entry_addr=0x{entry:x}")
print(f"PT_LOAD: offset=0x{p_offset:x} paddr=0x{p_paddr:x} filesz=0x{p_filesz:x} memsz=0x{p_memsz:x}")
if errors:
    print("MISMATCH:\n  " + "\n  ".join(errors))
    sys.exit(1)
print("OK")
