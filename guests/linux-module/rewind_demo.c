// SPDX-License-Identifier: GPL-2.0
/*
 * rewind_demo: the module of Rewind's second Linux fixture (test/linux-module-fixture.ts).
 *
 * Its bug: a timer fills a kmalloc'ed buffer one byte a tick, but the loop's bound is the wrong
 * constant, so the last ticks write past the 20 bytes asked for. kmalloc(20) comes from the
 * 32-byte slab cache, so bytes 20..23 land in the same object's slack: nothing crashes, as with
 * most real overflows of this kind, but the write IS out of bounds (KASAN would report it).
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/timer.h>

#define DEMO_BUF_SIZE 20	/* what is allocated */
#define DEMO_PERIOD (HZ / 20)	/* a tick every 50 ms */

/* The bug: how many bytes the timer writes (not DEMO_BUF_SIZE). In .data. */
unsigned int rewind_demo_fill_size = 24;
/* Written by every tick (a watchpoint target on module data). In .bss. */
unsigned long rewind_demo_ticks;
static char *rewind_demo_buf;
static struct timer_list rewind_demo_timer;

/* Writes byte `pos` of the buffer; a few distinct lines for line breakpoints. */
static noinline void rewind_demo_fill(char *buf, unsigned int pos)
{
	char value = 'a' + (pos % 26);

	buf[pos] = value;
	if (pos + 1 == rewind_demo_fill_size)
		pr_info("rewind_demo: filled %u bytes of %u\n", pos + 1, DEMO_BUF_SIZE);
}

static void rewind_demo_tick(struct timer_list *t)
{
	unsigned long n = rewind_demo_ticks;

	rewind_demo_ticks = n + 1;
	if (n < rewind_demo_fill_size) {
		rewind_demo_fill(rewind_demo_buf, n);
		mod_timer(&rewind_demo_timer, jiffies + DEMO_PERIOD);
	}
}

static int __init rewind_demo_init(void)
{
	rewind_demo_buf = kmalloc(DEMO_BUF_SIZE, GFP_KERNEL);
	if (!rewind_demo_buf)
		return -ENOMEM;
	rewind_demo_ticks = 0;
	timer_setup(&rewind_demo_timer, rewind_demo_tick, 0);
	mod_timer(&rewind_demo_timer, jiffies + DEMO_PERIOD);
	pr_info("rewind_demo: loaded, buffer at %px\n", rewind_demo_buf);
	return 0;
}

static void __exit rewind_demo_exit(void)
{
	del_timer_sync(&rewind_demo_timer);
	pr_info("rewind_demo: unloading after %lu ticks\n", rewind_demo_ticks);
	kfree(rewind_demo_buf);
}

module_init(rewind_demo_init);
module_exit(rewind_demo_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Rewind's demo module: a timer that writes past a kmalloc'ed buffer");
