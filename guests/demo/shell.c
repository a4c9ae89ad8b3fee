/*
 * Rewind demo guest: line editor and command shell on the serial console.
 * Every byte is echoed; '\r' or '\n' ends a line (echoed as "\r\n"; a '\n'
 * right after '\r' is ignored), backspace/DEL erases.
 */
#include "kernel.h"

#define LINE_MAX 128
#define PROMPT "> "

static char line[LINE_MAX];
static size_t line_len;
static char last_char;

static const char *skip_spaces(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

/* Parses a decimal number; returns -1 if s is not one. */
static int64_t parse_u32(const char *s)
{
    s = skip_spaces(s);
    if (*s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s++ - '0');
        if (v > 0xFFFFFFFFu)
            return -1;
    }
    if (*skip_spaces(s))
        return -1;
    return (int64_t)v;
}

static void cmd_help(const char *arg)
{
    (void)arg;
    kprintf("commands:\n"
            "  help        this list\n"
            "  hello       print a greeting\n"
            "  ticks       timer ticks since boot (100 Hz)\n"
            "  name TEXT   set the machine name\n"
            "  whoami      print the machine name\n"
            "  work N      process N units of work\n"
            "  spin N      compute for N million iterations\n"
            "  poweroff    power the machine off\n");
}

static void cmd_hello(const char *arg)
{
    (void)arg;
    kprintf("hello, world\n");
}

static void cmd_ticks(const char *arg)
{
    (void)arg;
    kprintf("ticks: %lu\n", ticks);
}

static void cmd_name(const char *arg)
{
    if (!*arg) {
        kprintf("usage: name TEXT\n");
        return;
    }
    config_set_name(arg);
    kprintf("name set\n");
}

static void cmd_whoami(const char *arg)
{
    (void)arg;
    kprintf("%s\n", config_name());
}

static void cmd_work(const char *arg)
{
    int64_t n = parse_u32(arg);
    if (n < 0) {
        kprintf("usage: work N\n");
        return;
    }
    work_run((uint32_t)n);
}

static void cmd_spin(const char *arg)
{
    int64_t n = parse_u32(arg);
    if (n < 0) {
        kprintf("usage: spin N\n");
        return;
    }
    spin_run((uint32_t)n);
}

static void cmd_poweroff(const char *arg)
{
    (void)arg;
    kprintf("Power off.\n");
    poweroff();
}

static const struct command {
    const char *name;
    void (*fn)(const char *arg);
} commands[] = {
    { "help", cmd_help },
    { "hello", cmd_hello },
    { "ticks", cmd_ticks },
    { "name", cmd_name },
    { "whoami", cmd_whoami },
    { "work", cmd_work },
    { "spin", cmd_spin },
    { "poweroff", cmd_poweroff },
};

static void shell_execute(char *cmd)
{
    cmd = (char *)skip_spaces(cmd);
    size_t end = kstrlen(cmd);
    while (end && cmd[end - 1] == ' ')
        cmd[--end] = '\0';
    if (!*cmd)
        return;
    char *arg = cmd;
    while (*arg && *arg != ' ')
        arg++;
    if (*arg)
        *arg++ = '\0';
    arg = (char *)skip_spaces(arg);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (kstrcmp(cmd, commands[i].name) == 0) {
            commands[i].fn(arg);
            return;
        }
    }
    kprintf("unknown command: %s (try help)\n", cmd);
}

void shell_init(void)
{
    line_len = 0;
    serial_puts(PROMPT);
}

void shell_input(char c)
{
    char prev = last_char;
    last_char = c;
    if (c == '\n' && prev == '\r')
        return;                                 /* "\r\n" is one Enter */
    if (c == '\r' || c == '\n') {
        serial_puts("\r\n");
        line[line_len] = '\0';
        shell_execute(line);
        line_len = 0;
        serial_puts(PROMPT);
        return;
    }
    if (c == '\b' || c == 0x7F) {
        if (line_len) {
            line_len--;
            serial_puts("\b \b");
        }
        return;
    }
    if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7E)
        return;                                 /* ignore other control bytes */
    if (line_len + 1 >= LINE_MAX)
        return;                                 /* line full */
    line[line_len++] = c;
    serial_putc(c);
}
