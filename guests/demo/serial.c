/*
 * Rewind demo guest: COM1 (16550 UART at 0x3F8).
 * Output is polled. Input is interrupt-driven: IRQ4 fires on "received data
 * available"; serial_irq() drains every byte the UART holds into rx_ring,
 * and the main loop consumes the ring with serial_getc().
 */
#include "kernel.h"

#define COM1        0x3F8
#define UART_RBR    (COM1 + 0)   /* receive buffer (DLAB=0, read) */
#define UART_THR    (COM1 + 0)   /* transmit holding (DLAB=0, write) */
#define UART_DLL    (COM1 + 0)   /* divisor latch low (DLAB=1) */
#define UART_IER    (COM1 + 1)   /* interrupt enable (DLAB=0) */
#define UART_DLM    (COM1 + 1)   /* divisor latch high (DLAB=1) */
#define UART_IIR    (COM1 + 2)   /* interrupt identification (read) */
#define UART_FCR    (COM1 + 2)   /* FIFO control (write) */
#define UART_LCR    (COM1 + 3)
#define UART_MCR    (COM1 + 4)
#define UART_LSR    (COM1 + 5)

#define LSR_DR      0x01         /* data ready */
#define LSR_THRE    0x20         /* transmit holding register empty */

#define RX_RING_SIZE 256         /* power of two */

static volatile uint8_t rx_ring[RX_RING_SIZE];
static volatile uint32_t rx_head;    /* written by the ISR */
static volatile uint32_t rx_tail;    /* written by the main loop */
volatile uint32_t rx_dropped;        /* bytes lost because the ring was full */

void serial_init(void)
{
    outb(UART_IER, 0x00);        /* no interrupts while configuring */
    outb(UART_LCR, 0x80);        /* DLAB */
    outb(UART_DLL, 0x01);        /* 115200 baud */
    outb(UART_DLM, 0x00);
    outb(UART_LCR, 0x03);        /* 8N1 */
    outb(UART_FCR, 0x07);        /* FIFO on, clear both, RX trigger level 1 byte */
    outb(UART_MCR, 0x0B);        /* DTR | RTS | OUT2 (OUT2 gates the IRQ line) */
    while (inb(UART_LSR) & LSR_DR)
        (void)inb(UART_RBR);     /* discard anything stale */
    (void)inb(UART_IIR);
    outb(UART_IER, 0x01);        /* interrupt on received data available */
}

static void serial_raw_putc(char c)
{
    while (!(inb(UART_LSR) & LSR_THRE))
        ;
    outb(UART_THR, (uint8_t)c);
}

void serial_putc(char c)
{
    if (c == '\n')
        serial_raw_putc('\r');
    serial_raw_putc(c);
}

void serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

/* IRQ4: drain the UART completely, so no byte waits for another interrupt. */
void serial_irq(void)
{
    (void)inb(UART_IIR);
    while (inb(UART_LSR) & LSR_DR) {
        uint8_t c = inb(UART_RBR);
        uint32_t head = rx_head;
        if (head - rx_tail < RX_RING_SIZE) {
            rx_ring[head % RX_RING_SIZE] = c;
            rx_head = head + 1;
        } else {
            rx_dropped++;
        }
    }
}

int serial_rx_pending(void)
{
    return rx_head != rx_tail;
}

int serial_getc(void)
{
    uint32_t tail = rx_tail;
    if (tail == rx_head)
        return -1;
    int c = rx_ring[tail % RX_RING_SIZE];
    rx_tail = tail + 1;
    return c;
}
