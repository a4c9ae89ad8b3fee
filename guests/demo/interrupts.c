/*
 * Rewind demo guest: IDT, 8259 PIC, PIT, and the C side of interrupt dispatch.
 * Vectors 0-31: CPU exceptions (fatal: panic with vector, error code, RIP).
 * Vectors 32-47: IRQ 0-15 (PIC remapped). IRQ0 = PIT timer, IRQ4 = COM1.
 */
#include "kernel.h"

#define PIC1_CMD    0x20
#define PIC1_DATA   0x21
#define PIC2_CMD    0xA0
#define PIC2_DATA   0xA1
#define PIC_EOI     0x20
#define IRQ_BASE    0x20

#define PIT_CH0     0x40
#define PIT_CMD     0x43
#define PIT_HZ      1193182u
#define TIMER_HZ    100u

struct idt_entry {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t zero;
} __attribute__((packed));

struct idt_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static struct idt_entry idt[256];
extern const uint64_t isr_stub_table[48];

volatile uint64_t ticks;

static const char *const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
    "#OF overflow", "#BR bound range", "#UD invalid opcode", "#NM device not available",
    "#DF double fault", "coprocessor segment overrun", "#TS invalid TSS", "#NP segment not present",
    "#SS stack fault", "#GP general protection", "#PF page fault", "reserved",
    "#MF x87 FP error", "#AC alignment check", "#MC machine check", "#XM SIMD FP error",
    "#VE virtualization", "#CP control protection", "reserved", "reserved",
    "reserved", "reserved", "reserved", "reserved",
    "reserved", "reserved", "#SX security", "reserved",
};

static void idt_set(int vec, uint64_t handler)
{
    idt[vec].offset_lo = handler & 0xFFFF;
    idt[vec].selector = 0x08;              /* 64-bit code segment (boot.S) */
    idt[vec].ist = 0;
    idt[vec].type_attr = 0x8E;             /* present, DPL 0, 64-bit interrupt gate */
    idt[vec].offset_mid = (handler >> 16) & 0xFFFF;
    idt[vec].offset_hi = handler >> 32;
    idt[vec].zero = 0;
}

static void pic_init(void)
{
    outb(PIC1_CMD, 0x11);                  /* ICW1: init, expect ICW4 */
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, IRQ_BASE);             /* ICW2: vector offsets */
    outb(PIC2_DATA, IRQ_BASE + 8);
    outb(PIC1_DATA, 0x04);                 /* ICW3: slave on IRQ2 */
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01);                 /* ICW4: 8086 mode */
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, (uint8_t)~((1 << 0) | (1 << 4)));   /* unmask IRQ0 (timer), IRQ4 (COM1) */
    outb(PIC2_DATA, 0xFF);
}

static void pit_init(void)
{
    uint16_t divisor = (PIT_HZ + TIMER_HZ / 2) / TIMER_HZ;   /* 11932 -> ~100 Hz */
    outb(PIT_CMD, 0x34);                   /* channel 0, lo/hi byte, mode 2 (rate generator) */
    outb(PIT_CH0, divisor & 0xFF);
    outb(PIT_CH0, divisor >> 8);
}

void interrupts_init(void)
{
    for (int v = 0; v < 48; v++)
        idt_set(v, isr_stub_table[v]);
    struct idt_ptr p = { sizeof idt - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" : : "m"(p));
    pic_init();
    pit_init();
}

static void pic_eoi(int irq)
{
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
}

/* IRQ0, 100 Hz. */
static void timer_irq(void)
{
    ticks++;
    work_timer_tick();
}

void isr_dispatch(struct regs *r)
{
    uint64_t vec = r->vector;
    if (vec < 32) {
        panic("CPU exception %lu (%s), error code 0x%lx, rip 0x%lx, rsp 0x%lx",
              vec, exception_names[vec], r->error_code, r->rip, r->rsp);
    }
    int irq = (int)(vec - IRQ_BASE);
    if (irq == 7 || irq == 15) {
        /* possibly spurious: check the PIC's in-service register */
        uint16_t cmd = irq == 7 ? PIC1_CMD : PIC2_CMD;
        outb(cmd, 0x0B);
        if (!(inb(cmd) & 0x80)) {
            if (irq == 15)
                outb(PIC1_CMD, PIC_EOI);
            return;
        }
    }
    switch (irq) {
    case 0:
        timer_irq();
        break;
    case 4:
        serial_irq();
        break;
    default:
        break;
    }
    pic_eoi(irq);
}
