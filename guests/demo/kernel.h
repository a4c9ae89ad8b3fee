/* Rewind demo guest: shared declarations. */
#ifndef DEMO_KERNEL_H
#define DEMO_KERNEL_H

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

#define DEMO_VERSION "0.1"

/* ---- port I/O and CPU helpers ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
/* Enable interrupts and halt atomically (the sti shadow covers the hlt). */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

/* ---- interrupt frame built by isr.S ---- */
struct regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;     /* pushed by the CPU */
};

/* ---- string.c ---- */
size_t kstrlen(const char *s);
int kstrcmp(const char *a, const char *b);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* ---- printf.c ---- */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- serial.c ---- */
void serial_init(void);
void serial_putc(char c);          /* '\n' is sent as "\r\n" */
void serial_puts(const char *s);
void serial_irq(void);             /* IRQ4 handler: drains the UART into the RX ring */
int serial_getc(void);             /* next received byte, or -1 if the ring is empty */
int serial_rx_pending(void);

/* ---- interrupts.c ---- */
extern volatile uint64_t ticks;    /* timer ticks since boot (100 Hz) */
void interrupts_init(void);        /* IDT, PIC, PIT */
void isr_dispatch(struct regs *r); /* called from isr.S */

/* ---- panic.c ---- */
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void poweroff(void) __attribute__((noreturn));

/* ---- config.c (bug a) ---- */
void config_set_name(const char *name);
const char *config_name(void);
void heartbeat_poll(void);         /* main loop: validates the config once per heartbeat */

/* ---- work.c (bug b) ---- */
void work_timer_tick(void);        /* called from the timer ISR */
void work_run(uint32_t units);
void spin_run(uint32_t millions);

/* ---- shell.c ---- */
void shell_init(void);
void shell_input(char c);

#endif
