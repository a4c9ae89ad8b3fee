/*
 * Rewind demo guest: multiboot v1 entry.
 *
 * QEMU's -kernel loader refuses ELF64 multiboot images unless the header
 * uses the "a.out kludge" (flag bit 16): then it ignores the ELF headers and
 * loads [load_addr, load_end_addr) from the file offset of this header,
 * zero-fills up to bss_end_addr and jumps to entry_addr in 32-bit protected
 * mode (paging off, EAX = 0x2BADB002, EBX = multiboot info).
 *
 * _start (32-bit) zeroes .bss, identity-maps the first 1 GiB with 2 MiB
 * pages, enables PAE + long mode + paging, loads a 64-bit GDT and far-jumps
 * to long_mode_entry, which calls kmain().
 */
#define MB_MAGIC    0x1BADB002
#define MB_FLAGS    0x00010003      /* page-align modules | memory info | a.out kludge */

    .section .multiboot, "a"
    .p2align 2
multiboot_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long multiboot_header          /* header_addr */
    .long _load_start               /* load_addr */
    .long _load_end                 /* load_end_addr */
    .long _bss_end                  /* bss_end_addr */
    .long _start                    /* entry_addr */

    .section .text.boot, "ax"
    .code32
    .globl _start
    .type _start, @function
_start:
    cli
    cld
    movl %eax, %esi                 /* keep the multiboot magic/info */
    movl %ebx, %ebp

    /* zero .bss (it holds the page tables and the stack) */
    movl $_bss_start, %edi
    movl $_bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    movl $boot_stack_top, %esp

    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB (present|write|huge) */
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4
    movl $boot_pd, %eax
    orl $0x3, %eax
    movl %eax, boot_pdpt
    movl $boot_pd, %edi
    movl $0x83, %eax
    xorl %ecx, %ecx
1:  movl %eax, (%edi,%ecx,8)
    movl $0, 4(%edi,%ecx,8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    /* CR4.PAE */
    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4
    /* CR3 = PML4 */
    movl $boot_pml4, %eax
    movl %eax, %cr3
    /* EFER.LME */
    movl $0xC0000080, %ecx
    rdmsr
    orl $(1 << 8), %eax
    wrmsr
    /* CR0.PG | CR0.PE (and clear CR0.EM/TS for good measure) */
    movl %cr0, %eax
    orl $0x80000001, %eax
    andl $~0x0000000C, %eax
    movl %eax, %cr0

    lgdt gdt64_ptr
    ljmp $0x08, $long_mode_entry
    .size _start, . - _start

    .code64
    .type long_mode_entry, @function
long_mode_entry:
    .cfi_startproc
    .cfi_undefined rip              /* outermost frame: gdb's backtrace stops here */
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_stack_top, %rsp
    movl %esi, %edi                 /* kmain(magic, info) */
    movl %ebp, %esi
    xorl %ebp, %ebp                 /* terminates frame-pointer backtraces */
    call kmain
2:  cli
    hlt
    jmp 2b
    .cfi_endproc
    .size long_mode_entry, . - long_mode_entry

    .section .rodata
    .p2align 3
gdt64:
    .quad 0                         /* 0x00 null */
    .quad 0x00AF9A000000FFFF        /* 0x08 64-bit code, DPL 0 */
    .quad 0x00CF92000000FFFF        /* 0x10 data */
gdt64_end:
    .p2align 3
gdt64_ptr:
    .word gdt64_end - gdt64 - 1
    .quad gdt64

    .section .bss
    .p2align 12
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096
    .p2align 4
boot_stack: .skip 16384
    .globl boot_stack_top
boot_stack_top:
