/*
 * Rewind demo guest: machine configuration and the heartbeat.
 *
 * BUG (a), deliberate: config_set_name() copies the whole argument into the
 * 16-byte machine_name field, trusting the source length. A name longer than
 * 16 characters silently overwrites heartbeat_interval, which the struct
 * layout places right after it. Nothing fails at the moment of the write;
 * heartbeat_poll(), called from the main loop, notices the bad interval up to
 * one heartbeat (1 s) later and panics. See README.md.
 */
#include "kernel.h"

#define HEARTBEAT_DEFAULT   100u        /* ticks: one heartbeat per second */
#define HEARTBEAT_MIN       10u
#define HEARTBEAT_MAX       1000u

struct config {
    char machine_name[16];              /* fixed-width, NUL-padded, not always NUL-terminated */
    uint32_t heartbeat_interval;        /* ticks between heartbeats */
    uint32_t heartbeats;                /* heartbeats so far */
    char reserved[40];
};

struct config cfg = {
    .machine_name = "demo",
    .heartbeat_interval = HEARTBEAT_DEFAULT,
};

static uint64_t next_heartbeat = HEARTBEAT_DEFAULT;

void config_set_name(const char *name)
{
    size_t len = kstrlen(name);
    size_t i;
    for (i = 0; i < len; i++)               /* BUG: should stop at sizeof cfg.machine_name */
        cfg.machine_name[i] = name[i];
    for (; i < sizeof cfg.machine_name; i++)
        cfg.machine_name[i] = '\0';
}

const char *config_name(void)
{
    static char buf[sizeof cfg.machine_name + 1];
    memcpy(buf, cfg.machine_name, sizeof cfg.machine_name);
    buf[sizeof cfg.machine_name] = '\0';
    return buf;
}

void heartbeat_poll(void)
{
    if (ticks < next_heartbeat)
        return;
    uint32_t interval = cfg.heartbeat_interval;
    if (interval < HEARTBEAT_MIN || interval > HEARTBEAT_MAX)
        panic("heartbeat interval corrupted: 0x%08x", interval);
    cfg.heartbeats++;
    next_heartbeat = ticks + interval;
}
