/*
 * Rewind demo guest: interrupt entry stubs (64-bit).
 *
 * Every vector gets a stub that pushes a dummy error code (when the CPU does
 * not push one) and the vector number, then jumps to isr_common, which saves
 * all 15 general-purpose registers, calls isr_dispatch(struct regs *) and
 * returns with iretq. The C code is built with -mgeneral-regs-only, so no
 * SSE/x87 state needs saving.
 *
 * CFI: the CFA is defined as the address just above the CPU-pushed frame, so
 * gdb can unwind from a C handler through the interrupt into the interrupted
 * code (saved RIP at CFA-40, saved RSP at CFA-16).
 */
    .text

.macro ISR_NOERR vec
    .globl isr_stub_\vec
    .type isr_stub_\vec, @function
isr_stub_\vec:
    .cfi_startproc simple
    .cfi_signal_frame
    .cfi_def_cfa rsp, 40
    .cfi_offset rip, -40
    .cfi_offset rsp, -16
    pushq $0
    .cfi_adjust_cfa_offset 8
    pushq $\vec
    .cfi_adjust_cfa_offset 8
    jmp isr_common
    .cfi_endproc
    .size isr_stub_\vec, . - isr_stub_\vec
.endm

.macro ISR_ERR vec
    .globl isr_stub_\vec
    .type isr_stub_\vec, @function
isr_stub_\vec:
    .cfi_startproc simple
    .cfi_signal_frame
    .cfi_def_cfa rsp, 48
    .cfi_offset rip, -40
    .cfi_offset rsp, -16
    pushq $\vec
    .cfi_adjust_cfa_offset 8
    jmp isr_common
    .cfi_endproc
    .size isr_stub_\vec, . - isr_stub_\vec
.endm

/* CPU exceptions: 8, 10-14, 17, 21, 29, 30 push an error code */
ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31
/* PIC IRQs 0-15 remapped to vectors 32-47 */
ISR_NOERR 32
ISR_NOERR 33
ISR_NOERR 34
ISR_NOERR 35
ISR_NOERR 36
ISR_NOERR 37
ISR_NOERR 38
ISR_NOERR 39
ISR_NOERR 40
ISR_NOERR 41
ISR_NOERR 42
ISR_NOERR 43
ISR_NOERR 44
ISR_NOERR 45
ISR_NOERR 46
ISR_NOERR 47

    .type isr_common, @function
isr_common:
    .cfi_startproc simple
    .cfi_signal_frame
    .cfi_def_cfa rsp, 56
    .cfi_offset rip, -40
    .cfi_offset rsp, -16
    pushq %rax
    .cfi_adjust_cfa_offset 8
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    pushq %rcx
    .cfi_adjust_cfa_offset 8
    pushq %rdx
    .cfi_adjust_cfa_offset 8
    pushq %rsi
    .cfi_adjust_cfa_offset 8
    pushq %rdi
    .cfi_adjust_cfa_offset 8
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    pushq %r8
    .cfi_adjust_cfa_offset 8
    pushq %r9
    .cfi_adjust_cfa_offset 8
    pushq %r10
    .cfi_adjust_cfa_offset 8
    pushq %r11
    .cfi_adjust_cfa_offset 8
    pushq %r12
    .cfi_adjust_cfa_offset 8
    pushq %r13
    .cfi_adjust_cfa_offset 8
    pushq %r14
    .cfi_adjust_cfa_offset 8
    pushq %r15
    .cfi_adjust_cfa_offset 8
    /* the interrupted registers, for gdb's view of the outer frame */
    .cfi_offset rax, -64
    .cfi_offset rbx, -72
    .cfi_offset rcx, -80
    .cfi_offset rdx, -88
    .cfi_offset rsi, -96
    .cfi_offset rdi, -104
    .cfi_offset rbp, -112
    .cfi_offset r8, -120
    .cfi_offset r9, -128
    .cfi_offset r10, -136
    .cfi_offset r11, -144
    .cfi_offset r12, -152
    .cfi_offset r13, -160
    .cfi_offset r14, -168
    .cfi_offset r15, -176
    cld
    movq %rsp, %rdi                 /* struct regs * ; RSP is 16-byte aligned here */
    call isr_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                  /* vector + error code */
    iretq
    .cfi_endproc
    .size isr_common, . - isr_common

/* Table of stub addresses used by interrupts.c to fill the IDT. */
    .section .rodata
    .p2align 3
    .globl isr_stub_table
isr_stub_table:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .quad isr_stub_\n
    .endr
