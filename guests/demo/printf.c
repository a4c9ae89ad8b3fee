/* Rewind demo guest: a small printf (%d %i %u %x %X %p %s %c %%, with
 * optional '0' flag, width, and the l/ll/z length modifiers). */
#include "kernel.h"

struct out {
    char *buf;          /* NULL: write straight to the serial console */
    size_t size;
    size_t len;
};

static void emit(struct out *o, char c)
{
    if (!o->buf)
        serial_putc(c);
    else if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void emit_num(struct out *o, uint64_t v, unsigned base, int upper,
                     int neg, int width, char pad)
{
    char tmp[24];
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    if (neg)
        width--;
    if (neg && pad == '0')
        emit(o, '-');
    for (int i = n; i < width; i++)
        emit(o, pad);
    if (neg && pad != '0')
        emit(o, '-');
    while (n)
        emit(o, tmp[--n]);
}

static int format(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(&o, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            emit_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, 0, v < 0, width, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
            emit_num(&o, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', 0, width, pad);
            break;
        }
        case 'p':
            emit(&o, '0');
            emit(&o, 'x');
            emit_num(&o, (uint64_t)va_arg(ap, void *), 16, 0, 0, 16, '0');
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = (int)kstrlen(s);
            for (int i = n; i < width; i++)
                emit(&o, ' ');
            while (*s)
                emit(&o, *s++);
            break;
        }
        case 'c':
            emit(&o, (char)va_arg(ap, int));
            break;
        case '%':
            emit(&o, '%');
            break;
        case '\0':
            fmt--;
            break;
        default:
            emit(&o, '%');
            emit(&o, *fmt);
            break;
        }
    }
    if (buf && size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    return format(buf, size, fmt, ap);
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format(NULL, 0, fmt, ap);
    va_end(ap);
}
