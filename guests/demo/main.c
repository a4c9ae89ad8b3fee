/*
 * Rewind demo guest: kmain() and the main loop.
 * The loop handles console input and the heartbeat, and idles with "sti; hlt"
 * when there is nothing to do (record/replay of an idle guest depends on it).
 */
#include "kernel.h"

void kmain(uint32_t mb_magic, uint32_t mb_info)
{
    (void)mb_info;
    serial_init();
    interrupts_init();
    kprintf("\nRewind demo guest %s\n", DEMO_VERSION);
    if (mb_magic != 0x2BADB002)
        kprintf("warning: not booted by a multiboot loader (eax=0x%x)\n", mb_magic);
    kprintf("ready\n");
    shell_init();
    sti();

    for (;;) {
        int c;
        while ((c = serial_getc()) >= 0)
            shell_input((char)c);
        heartbeat_poll();
        cli();
        if (serial_rx_pending())
            sti();
        else
            sti_hlt();              /* wakes on the next interrupt (timer at least) */
    }
}
