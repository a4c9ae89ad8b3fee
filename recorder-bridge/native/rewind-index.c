/*
 * rewind-index: a QEMU TCG plugin that records, per time bucket of a replay, how often each guest
 * instruction address ran and which 4-byte grains of guest memory were written.
 *
 * QEMU API: plugin API version 1, as in QEMU 7.2 (include/qemu/qemu-plugin.h of qemu-7.2.0).
 * Debian ships no qemu-plugin.h, so the few types and functions used here are declared below,
 * copied in shape (not in text) from that header. Only libc and pthread are needed.
 *
 * Loading (QEMU 7.2 syntax):
 *   -plugin file=rewind-index.so,out=OUTFILE,ctl=SOCKET
 *
 * Time: the plugin keeps no clock. A plugin cannot read icount, and its own counters drift from it
 * (an instruction that faults is attempted twice). The engine runs the replay from bucket boundary
 * to bucket boundary with QMP replay-break (exact) and, while the vCPU is paused at a boundary,
 * sends a command on the control socket, which a thread of this plugin serves:
 *   "mark\n" -> the bucket that just ended (everything since the previous mark or drop) is appended
 *               to OUTFILE; answer "ok BYTES\n" (the record's size in the file).
 *   "drop\n" -> the bucket that just ended is discarded (what ran before the first boundary);
 *               answer "ok 0\n".
 *   anything else -> "err MESSAGE\n".
 * A command is only valid while the vCPU is paused: the counters and the written-grain set are the
 * vCPU thread's, and are read and reset without locks (the pause orders the accesses).
 *
 * Counts: at translation every instruction gets an inline +1 on a u64 slot of its own (one slot per
 * distinct guest virtual address). The add runs before the instruction, so a count is of attempts;
 * an instruction re-executed by icount's I/O recompile runs in a CF_MEMI_ONLY block, where QEMU
 * drops instruction callbacks, so it is not counted twice.
 *
 * Writes: a callback on every store (not loads) puts the 4-byte grains it touched (grain =
 * vaddr >> 2; a store touches up to five: 16 bytes that straddle) into the bucket's set. Grains,
 * not cache lines or 8-byte words: a variable that shares them with hot neighbours (timekeeping,
 * a 4-byte spinlock next to an int) would otherwise look written in almost every bucket, and every
 * such bucket is replayed by a watchpoint query (docs/index-design.md, "Write granularity"). A store's callback runs after the access: one that
 * faults is not recorded. QEMU 7.2 calls a callback registered for stores on loads too (its
 * accel/tcg/plugin-gen.c op_rw() reads the access's rw, 1 or 2, as if it were a 0/1 write flag),
 * with the load's meminfo: the callback keeps only what qemu_plugin_mem_is_store() says is a store.
 *
 * OUTFILE format (all integers unsigned LEB128 varints unless said otherwise):
 *   file   := magic record*
 *   magic  := the 8 bytes "RWNDIX03" (02: the same with 8-byte grains, 01: with 64-byte lines)
 *   record := length body          (length: the body's size in bytes)
 *   body   := seq nAddrs addr* nRuns run*
 *     seq    : 0, 1, 2... one per mark (drops do not count)
 *     addr   := vaddrDelta count  ascending guest virtual addresses; vaddrDelta is the distance from
 *                                 the previous address of the record (the first: from 0); count > 0
 *                                 is how often it ran in the bucket
 *     run    := gap nGrains       written grains (grain = vaddr >> 2), ascending, maximal runs of
 *                                 adjacent grains; gap is the first grain minus the end (first + n)
 *                                 of the previous run (the first: from 0)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- QEMU plugin API version 1 (QEMU 7.2), the part this plugin uses ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb, enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ---- growable byte buffer and varints ---- */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p)
        abort();
    b->cap = cap;
}

static void put_varint(buf_t *b, uint64_t v)
{
    buf_reserve(b, 10);
    while (v >= 0x80) {
        b->p[b->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (uint8_t)v;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/*
 * ---- instruction slots ----
 * Slot i's counter is counts[i / CHUNK][i % CHUNK]. Chunks never move: translated code holds
 * pointers to the counters. A hash table (open addressing, rebuilt when half full) maps a guest
 * virtual address to its slot. Only the vCPU thread (translation) adds slots; slot_lock keeps the
 * control thread's mark from reading the chunk list while it grows.
 */
#define CHUNK 65536u
static uint64_t **counts, **prevs, **vaddrs;
static size_t n_chunks, n_slots;
static struct slot_entry {
    uint64_t vaddr;
    uint32_t slot_plus_1; /* 0: empty */
} *slot_table;
static size_t slot_cap;
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        abort();
    return p;
}

static void slot_table_put(struct slot_entry *t, size_t cap, uint64_t vaddr, uint32_t slot_plus_1)
{
    for (size_t i = mix64(vaddr) & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (t[i].slot_plus_1 == 0) {
            t[i].vaddr = vaddr;
            t[i].slot_plus_1 = slot_plus_1;
            return;
        }
    }
}

/* The counter of `vaddr`, created on first sight. Caller holds slot_lock. */
static uint64_t *slot_counter(uint64_t vaddr)
{
    for (size_t i = mix64(vaddr) & (slot_cap - 1);; i = (i + 1) & (slot_cap - 1)) {
        uint32_t s = slot_table[i].slot_plus_1;
        if (s == 0)
            break;
        if (slot_table[i].vaddr == vaddr)
            return &counts[(s - 1) / CHUNK][(s - 1) % CHUNK];
    }
    if ((n_slots + 1) * 2 > slot_cap) {
        size_t cap = slot_cap * 2;
        struct slot_entry *t = xcalloc(cap, sizeof *t);
        for (size_t i = 0; i < slot_cap; i++)
            if (slot_table[i].slot_plus_1)
                slot_table_put(t, cap, slot_table[i].vaddr, slot_table[i].slot_plus_1);
        free(slot_table);
        slot_table = t;
        slot_cap = cap;
    }
    size_t s = n_slots++;
    if (s / CHUNK >= n_chunks) {
        n_chunks++;
        counts = realloc(counts, n_chunks * sizeof *counts);
        prevs = realloc(prevs, n_chunks * sizeof *prevs);
        vaddrs = realloc(vaddrs, n_chunks * sizeof *vaddrs);
        if (!counts || !prevs || !vaddrs)
            abort();
        counts[n_chunks - 1] = xcalloc(CHUNK, sizeof(uint64_t));
        prevs[n_chunks - 1] = xcalloc(CHUNK, sizeof(uint64_t));
        vaddrs[n_chunks - 1] = xcalloc(CHUNK, sizeof(uint64_t));
    }
    vaddrs[s / CHUNK][s % CHUNK] = vaddr;
    slot_table_put(slot_table, slot_cap, vaddr, (uint32_t)(s + 1));
    return &counts[s / CHUNK][s % CHUNK];
}

/*
 * ---- written grains of the current bucket ----
 * Per 4 KiB page of guest virtual addresses a bitmap of its 1024 grains, found by a hash table of
 * page numbers, with a small direct-mapped cache of recent pages in front (most stores go to a
 * page written a moment ago: the stack, the same structure). Not a hash set of grains: the Linux
 * boot clears and copies memory, up to 2M grains a bucket, and hashing each of them, then sorting
 * them at the bucket's end, made the pass's first slice 7.6x slower than its plain replay
 * (bench/results/index-pass-2026-12-07-grain-hash-set.md); here a store costs a bit set, and the end
 * sorts pages.
 */
#define GRAIN_SHIFT 2
#define PAGE_GRAINS 1024u
#define PAGE_WORDS (PAGE_GRAINS / 64)
#define RECENT_PAGES 256u
static struct written_page {
    uint64_t page; /* grain >> 10 */
    uint64_t bits[PAGE_WORDS];
    size_t table_slot; /* where page_table holds it, for clearing */
} *pages;
static size_t n_pages, pages_cap;
/* Open addressing over page numbers: index + 1 into `pages`, 0 empty; rebuilt when half full. */
static uint32_t *page_table;
static size_t page_table_cap;
static struct {
    uint64_t page_plus_1;
    uint32_t index;
} recent_pages[RECENT_PAGES];

static size_t page_table_slot(uint32_t *t, size_t cap, uint64_t page)
{
    size_t i = mix64(page) & (cap - 1);
    while (t[i] != 0 && pages[t[i] - 1].page != page)
        i = (i + 1) & (cap - 1);
    return i;
}

/* The index of `page`'s bitmap in `pages`, created empty on first sight. */
static uint32_t page_index(uint64_t page)
{
    size_t i = page_table_slot(page_table, page_table_cap, page);
    if (page_table[i] != 0)
        return page_table[i] - 1;
    if (n_pages == pages_cap) {
        pages_cap *= 2;
        pages = realloc(pages, pages_cap * sizeof *pages);
        if (!pages)
            abort();
    }
    struct written_page *w = &pages[n_pages];
    memset(w, 0, sizeof *w);
    w->page = page;
    page_table[i] = (uint32_t)(n_pages + 1);
    w->table_slot = i;
    n_pages++;
    if (n_pages * 2 > page_table_cap) {
        size_t cap = page_table_cap * 2;
        uint32_t *t = xcalloc(cap, sizeof *t);
        for (size_t k = 0; k < n_pages; k++) {
            size_t j = page_table_slot(t, cap, pages[k].page);
            t[j] = (uint32_t)(k + 1);
            pages[k].table_slot = j;
        }
        free(page_table);
        page_table = t;
        page_table_cap = cap;
    }
    return (uint32_t)(n_pages - 1);
}

static void note_grain(uint64_t grain)
{
    uint64_t page = grain / PAGE_GRAINS;
    unsigned r = (unsigned)(page ^ (page >> 8)) & (RECENT_PAGES - 1);
    uint32_t k;
    if (recent_pages[r].page_plus_1 == page + 1) {
        k = recent_pages[r].index;
    } else {
        k = page_index(page);
        recent_pages[r].page_plus_1 = page + 1;
        recent_pages[r].index = k;
    }
    unsigned bit = (unsigned)(grain % PAGE_GRAINS);
    pages[k].bits[bit / 64] |= 1ULL << (bit % 64);
}

static void clear_grains(void)
{
    for (size_t k = 0; k < n_pages; k++)
        page_table[pages[k].table_slot] = 0;
    n_pages = 0;
    memset(recent_pages, 0, sizeof recent_pages);
}

static int by_page(const void *a, const void *b)
{
    uint64_t x = ((const struct written_page *)a)->page, y = ((const struct written_page *)b)->page;
    return x < y ? -1 : x > y;
}

/*
 * Appends the written grains to `out` as runs (the format's nRuns run*: ascending, maximal, a run
 * may go on across pages). Sorts `pages`: call only before clear_grains().
 */
static void put_grain_runs(buf_t *out)
{
    qsort(pages, n_pages, sizeof *pages, by_page);
    /* Two passes over the bits: the count of runs comes first in the format. */
    for (int pass = 0; pass < 2; pass++) {
        size_t runs = 0;
        uint64_t first = 0, end = 0, prev_end = 0;
        bool open = false;
        for (size_t k = 0; k < n_pages; k++) {
            for (unsigned w = 0; w < PAGE_WORDS; w++) {
                for (uint64_t bits = pages[k].bits[w]; bits != 0; bits &= bits - 1) {
                    uint64_t g = pages[k].page * PAGE_GRAINS + w * 64 + (unsigned)__builtin_ctzll(bits);
                    if (open && g == end) {
                        end++;
                        continue;
                    }
                    if (open) {
                        if (pass == 1) {
                            put_varint(out, first - prev_end);
                            put_varint(out, end - first);
                        }
                        prev_end = end;
                    }
                    runs += open;
                    first = g;
                    end = g + 1;
                    open = true;
                }
            }
        }
        if (open) {
            runs++;
            if (pass == 1) {
                put_varint(out, first - prev_end);
                put_varint(out, end - first);
            }
        }
        if (pass == 0)
            put_varint(out, runs);
    }
}

static void on_store(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (!qemu_plugin_mem_is_store(info))
        return;
    /* Counted, not compared with a last grain: a store at the top of the address space wraps. */
    uint64_t size = 1u << qemu_plugin_mem_size_shift(info);
    uint64_t n = ((vaddr & ((1u << GRAIN_SHIFT) - 1)) + size + (1u << GRAIN_SHIFT) - 1) >> GRAIN_SHIFT;
    for (uint64_t k = 0; k < n; k++)
        note_grain((vaddr >> GRAIN_SHIFT) + k);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    pthread_mutex_lock(&slot_lock);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, slot_counter(qemu_plugin_insn_vaddr(insn)), 1);
        qemu_plugin_register_vcpu_mem_cb(insn, on_store, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_W, NULL);
    }
    pthread_mutex_unlock(&slot_lock);
}

/* ---- buckets ---- */
static int out_fd = -1;
static uint64_t seq;
static buf_t body, record;
static struct addr_count {
    uint64_t vaddr, count;
} *changed;
static size_t changed_cap;

static int by_vaddr(const void *a, const void *b)
{
    uint64_t x = ((const struct addr_count *)a)->vaddr, y = ((const struct addr_count *)b)->vaddr;
    return x < y ? -1 : x > y;
}

/* Ends the current bucket: encodes it into `body` (when `keep`) and resets it. */
static void end_bucket(bool keep)
{
    pthread_mutex_lock(&slot_lock);
    size_t n = 0;
    for (size_t s = 0; s < n_slots; s++) {
        uint64_t *c = &counts[s / CHUNK][s % CHUNK], *p = &prevs[s / CHUNK][s % CHUNK];
        uint64_t now = *c;
        if (now == *p)
            continue;
        if (keep) {
            if (n == changed_cap) {
                changed_cap = changed_cap ? changed_cap * 2 : 4096;
                changed = realloc(changed, changed_cap * sizeof *changed);
                if (!changed)
                    abort();
            }
            changed[n].vaddr = vaddrs[s / CHUNK][s % CHUNK];
            changed[n].count = now - *p;
            n++;
        }
        *p = now;
    }
    pthread_mutex_unlock(&slot_lock);
    body.n = 0;
    if (keep) {
        put_varint(&body, seq);
        qsort(changed, n, sizeof *changed, by_vaddr);
        put_varint(&body, n);
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            put_varint(&body, changed[i].vaddr - prev);
            put_varint(&body, changed[i].count);
            prev = changed[i].vaddr;
        }
        put_grain_runs(&body);
    }
    clear_grains();
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Handles one command line; writes the answer into `reply`. */
static void handle(const char *cmd, char *reply, size_t size)
{
    if (strcmp(cmd, "mark") == 0) {
        end_bucket(true);
        record.n = 0;
        put_varint(&record, body.n);
        buf_reserve(&record, body.n);
        memcpy(record.p + record.n, body.p, body.n);
        record.n += body.n;
        if (!write_all(out_fd, record.p, record.n)) {
            snprintf(reply, size, "err write: %s\n", strerror(errno));
            return;
        }
        seq++;
        snprintf(reply, size, "ok %zu\n", record.n);
    } else if (strcmp(cmd, "drop") == 0) {
        end_bucket(false);
        snprintf(reply, size, "ok 0\n");
    } else {
        snprintf(reply, size, "err unknown command\n");
    }
}

/* ---- the control socket ---- */
static int listen_fd = -1;
static char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void serve(int fd)
{
    char line[64];
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        if (c != '\n') {
            if (len + 1 < sizeof line)
                line[len++] = c;
            continue;
        }
        line[len] = 0;
        len = 0;
        char reply[160];
        handle(line, reply, sizeof reply);
        if (!write_all(fd, (const uint8_t *)reply, strlen(reply)))
            return;
    }
}

static void *control_thread(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        serve(fd);
        close(fd);
    }
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    if (listen_fd >= 0)
        unlink(ctl_path);
    if (out_fd >= 0)
        close(out_fd);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    const char *out = NULL, *ctl = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0)
            out = argv[i] + 4;
        else if (strncmp(argv[i], "ctl=", 4) == 0)
            ctl = argv[i] + 4;
        else {
            fprintf(stderr, "rewind-index: unknown argument %s (expected out=FILE, ctl=SOCKET)\n", argv[i]);
            return -1;
        }
    }
    if (!out || !ctl) {
        fprintf(stderr, "rewind-index: needs out=FILE and ctl=SOCKET\n");
        return -1;
    }
    if (strlen(ctl) >= sizeof ctl_path) {
        fprintf(stderr, "rewind-index: socket path too long: %s\n", ctl);
        return -1;
    }
    out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0) {
        fprintf(stderr, "rewind-index: cannot create %s: %s\n", out, strerror(errno));
        return -1;
    }
    if (!write_all(out_fd, (const uint8_t *)"RWNDIX03", 8)) {
        fprintf(stderr, "rewind-index: cannot write %s: %s\n", out, strerror(errno));
        return -1;
    }

    slot_cap = 1u << 16;
    slot_table = xcalloc(slot_cap, sizeof *slot_table);
    page_table_cap = 1u << 10;
    page_table = xcalloc(page_table_cap, sizeof *page_table);
    pages_cap = 1u << 8;
    pages = xcalloc(pages_cap, sizeof *pages);

    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strcpy(addr.sun_path, ctl);
    strcpy(ctl_path, ctl);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 1) < 0) {
        fprintf(stderr, "rewind-index: cannot listen on %s: %s\n", ctl, strerror(errno));
        return -1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, control_thread, NULL) != 0) {
        fprintf(stderr, "rewind-index: cannot start the control thread\n");
        return -1;
    }
    pthread_detach(t);

    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
