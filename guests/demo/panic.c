/*
 * Rewind demo guest: panic() and power-off.
 *
 * Power-off uses ACPI soft-off (SLP_TYP=0 | SLP_EN) written to PM1a_CNT of
 * the PIIX4 power-management function on QEMU's default "pc" machine.
 * SeaBIOS places the PM I/O base at 0x600, so PM1a_CNT is 0x604. If that does
 * not stop the machine, the base is read back from PCI config 00:01.3
 * register 0x40, then the Bochs/old-QEMU (0xB004) and VirtualBox (0x4004)
 * ports are tried, and finally the CPU halts forever with interrupts off.
 */
#include "kernel.h"

static uint32_t pci_config_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t reg)
{
    outl(0xCF8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xFC));
    return inl(0xCFC);
}

void poweroff(void)
{
    cli();
    outw(0x604, 0x2000);                                 /* QEMU pc + SeaBIOS */

    uint32_t id = pci_config_read32(0, 1, 3, 0x00);      /* PIIX4 PM: 8086:7113 */
    if (id == 0x71138086) {
        uint16_t base = pci_config_read32(0, 1, 3, 0x40) & 0xFFC0;
        if (base)
            outw(base + 4, 0x2000);
    }
    outw(0xB004, 0x2000);                                /* Bochs, old QEMU */
    outw(0x4004, 0x3400);                                /* VirtualBox */
    for (;;)
        __asm__ volatile("cli; hlt");
}

void panic(const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    cli();
    va_start(ap, fmt);
    kvsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    serial_puts("\nPANIC: ");
    serial_puts(buf);
    serial_puts("\n");
    poweroff();
}
