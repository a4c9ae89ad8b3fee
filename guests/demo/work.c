/*
 * Rewind demo guest: "work" (bug b) and "spin" (long compute for benchmarks).
 *
 * BUG (b), deliberate: the timer ISR posts ticks with pending_ticks++, and
 * work_unit() in the main loop consumes them with a read-modify-write that is
 * NOT protected against the ISR (no cli/sti around it):
 *
 *     p = pending_ticks;  ...crunch() for ~13,500 instructions...;
 *     pending_ticks = p - handled;
 *
 * A timer interrupt inside that window increments pending_ticks, and the
 * final store overwrites the increment: the tick is lost. The invariant
 * isr_ticks == ticks_handled + pending_ticks, checked after every unit,
 * detects it and panics. See README.md for the trigger rate.
 */
#include "kernel.h"

#define WORK_BATCH          4u      /* ticks handled per unit at most */
#define WORK_WINDOW_ITERS   1500u   /* crunch() inside the race window: ~13,500 instructions */
#define WORK_TAIL_ITERS     500u    /* crunch() after the window (harmless): ~4,500 instructions */

volatile uint32_t pending_ticks;    /* posted by the ISR, not yet handled */
volatile uint32_t isr_ticks;        /* posted by the ISR in total */
volatile uint32_t ticks_handled;    /* handled by work_unit() in total */
volatile uint64_t work_hash;        /* result of the work, so it is not optimized away */

/* Called from the timer ISR (interrupts are off). */
void work_timer_tick(void)
{
    isr_ticks++;
    pending_ticks++;
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v;
    h *= 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return h;
}

/* The "processing" of one unit: a hash, about 9 instructions per iteration. */
static __attribute__((noinline)) uint64_t crunch(uint64_t h, uint32_t seed, uint32_t iters)
{
    for (uint32_t i = 0; i < iters; i++)
        h = mix(h, seed + i);
    return h;
}

static __attribute__((noinline)) void check_tick_invariant(void)
{
    cli();
    uint32_t isr = isr_ticks, handled = ticks_handled, pending = pending_ticks;
    sti();
    if (isr != handled + pending)
        panic("lost timer tick: isr=%u handled=%u pending=%u", isr, handled, pending);
}

static __attribute__((noinline)) void work_unit(void)
{
    uint32_t p = pending_ticks;                         /* read */
    uint32_t handled = p < WORK_BATCH ? p : WORK_BATCH;
    work_hash = crunch(work_hash, p, WORK_WINDOW_ITERS); /* the race window */
    ticks_handled += handled;
    pending_ticks = p - handled;                        /* write: BUG, not atomic w.r.t. the ISR */
    work_hash = crunch(work_hash, handled, WORK_TAIL_ITERS);
    check_tick_invariant();
}

void work_run(uint32_t units)
{
    for (uint32_t u = 0; u < units; u++)
        work_unit();
    kprintf("work done: %u units, ticks=%lu\n", units, ticks);
}

/* spin N: N million iterations of mix(), about 5 instructions each. */
void spin_run(uint32_t millions)
{
    uint64_t h = 0x243F6A8885A308D3ull;
    for (uint32_t m = 0; m < millions; m++) {
        uint32_t base = m * 1000000u;
        for (uint32_t i = 0; i < 1000000u; i++)
            h = mix(h, base + i);
        if ((m + 1) % 10 == 0 && m + 1 < millions)
            kprintf("spin: %u/%u\n", m + 1, millions);
    }
    kprintf("spin done: %016lx\n", h);
}
