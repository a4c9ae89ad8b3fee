/*
 * rewind-probe: a QEMU TCG plugin that records, in one replay, every execution of given code
 * addresses and every store to given memory ranges, each at its exact instruction count, with the
 * values the stores left. The engine runs it where the index says hits can be (docs/index-design.md,
 * "Probe replays"), instead of stopping at each hit under the gdbstub.
 *
 * QEMU API: plugin API version 1 as in QEMU 7.2, plus three functions of Rewind's QEMU
 * (patches/qemu/0004-plugins-rewind-icount-and-guest-memory.patch): qemu_plugin_rewind_icount(),
 * qemu_plugin_rewind_read_memory() and qemu_plugin_rewind_kernel_gs_base(). Debian ships no
 * qemu-plugin.h, so the types and functions used here are declared below, copied in shape from
 * that header. Rewind's are weak: loaded into Debian's QEMU, the plugin refuses to install with a
 * message that says so.
 *
 * Loading (QEMU 7.2 syntax; pc= and watch= may repeat):
 *   -plugin file=rewind-probe.so,out=OUTFILE,pc=HEX,watch=HEX:LEN,sample=HEX:LEN,task=CUR:CPU:PID:TGID:COMM
 * or, in a process launched before its query is known (the engine's probe blanks):
 *   -plugin file=rewind-probe.so,ctl=CTLFILE
 * where the plugin reads those arguments, one a line, from CTLFILE when QEMU translates its first
 * block (a process launched with -S translates none before the engine places it at a snapshot, and
 * the engine writes CTLFILE before that; without it then, QEMU aborts: no answer beats a wrong one).
 * task= (Linux on x86-64, as recorder-bridge/src/replay/task-sample.ts reads it at a gdbstub stop):
 * the per-CPU offsets of current_task and cpu_number (hex; CPU "-": none) and the offsets of pid,
 * tgid and comm in struct task_struct (decimal). Every line then ends with the task that ran:
 * " TASK,PID,TGID,CPU,COMMHEX" (CPU "-": unknown), or " -" where it cannot be read.
 *
 * Time: the patched QEMU's icount, read in a callback of a block's instruction i of n, counts the
 * whole block (QEMU subtracts all n from the budget when the block starts): the instructions before
 * i are that minus (n - i). A block that stops early (an exception, an I/O access re-executed by
 * icount's I/O recompile) runs no callbacks past the stop; the re-executed I/O instruction runs in
 * a one-instruction CF_MEMI_ONLY block, where QEMU drops instruction callbacks (so no execution is
 * recorded twice) and keeps memory callbacks (so its store is recorded once, with n - i = 1).
 *
 * OUTFILE (text, one line per event, written as it happens):
 *   "x ICOUNT PC"            an execution of PC (a pc= address) after ICOUNT instructions
 *   "w ICOUNT PC WATCH HEX"  a store overlapping the watch= range starting at WATCH, by the
 *                            instruction that ends at ICOUNT (it is the ICOUNT-th); PC is where
 *                            execution goes on after it, as a gdbstub watchpoint reports it, or "-"
 *                            when the store's instruction ends its block: then the next block's
 *                            start follows as "p PC" (none: the replay stopped right after it); HEX
 *                            is the sample= range after the store ("-": no sample, or not readable)
 * Hex numbers have no 0x. A store's callback runs after the access: one that faults is not recorded.
 * Stores that QEMU makes between instructions (exception and interrupt frames) and the page walker's
 * page-table bits run no callback: the index (rewind-index.c) does not see them either. A helper's
 * stores inside an instruction (cmpxchg16b) do.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- QEMU plugin API version 1 (QEMU 7.2), the part this plugin uses ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb, enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb, enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb, enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
/* Rewind's QEMU only (see above). */
uint64_t qemu_plugin_rewind_icount(void) __attribute__((weak));
int qemu_plugin_rewind_read_memory(uint64_t vaddr, void *buf, size_t len) __attribute__((weak));
uint64_t qemu_plugin_rewind_kernel_gs_base(void) __attribute__((weak));

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/*
 * ---- an instruction, packed into a callback's userdata ----
 * bits 0-47: its virtual address (x86-64 addresses are canonical: bit 47 extends into 48-63);
 * 48-57: n - i (its block has n instructions, it is the i-th from 0; QEMU blocks have at most 512);
 * 58-61: its size in bytes (at most 15); 62: it is the block's last.
 */
static uint64_t pack(uint64_t vaddr, size_t back, size_t size, bool last)
{
    return (vaddr & 0xffffffffffffULL) | ((uint64_t)back << 48) | ((uint64_t)size << 58) | ((uint64_t)last << 62);
}

static uint64_t insn_vaddr(uint64_t p)
{
    return (uint64_t)((int64_t)(p << 16) >> 16);
}

static uint64_t insn_back(uint64_t p)
{
    return (p >> 48) & 0x3ff;
}

static uint64_t insn_size(uint64_t p)
{
    return (p >> 58) & 0xf;
}

static bool insn_last(uint64_t p)
{
    return (p >> 62) & 1;
}

/* ---- what to record ---- */
#define MAX_PCS 4096
#define MAX_WATCHES 64
#define MAX_SAMPLE 4096
static uint64_t pcs[MAX_PCS];
static size_t n_pcs;
static struct range {
    uint64_t addr, len;
} watches[MAX_WATCHES], sample;
static size_t n_watches;
static struct {
    bool on, has_cpu;
    uint64_t current, cpu;
    unsigned pid, tgid, comm;
} task;
#define COMM_LEN 16
static int out_fd = -1;
static bool pending; /* a recorded store's instruction ended its block: the next block's start is its pc */

static void emit(const char *line, size_t n)
{
    while (n > 0) {
        ssize_t w = write(out_fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* A lost line would be a wrong answer, not a slow one. */
            fprintf(stderr, "rewind-probe: cannot write its output: %s\n", strerror(errno));
            abort();
        }
        line += w;
        n -= (size_t)w;
    }
}

/* Appends " -" or " TASK,PID,TGID,CPU,COMMHEX" at line + *n (room for 128 bytes) when task= is on. */
static void put_task(char *line, int *n)
{
    if (!task.on)
        return;
    uint64_t base = qemu_plugin_rewind_kernel_gs_base(), t = 0;
    int32_t pid, tgid, cpu;
    uint8_t comm[COMM_LEN];
    bool ok = base != 0 && qemu_plugin_rewind_read_memory(base + task.current, &t, 8) == 0 && t != 0 &&
              qemu_plugin_rewind_read_memory(t + task.pid, &pid, 4) == 0 && qemu_plugin_rewind_read_memory(t + task.tgid, &tgid, 4) == 0 &&
              qemu_plugin_rewind_read_memory(t + task.comm, comm, COMM_LEN) == 0;
    if (!ok) {
        *n += snprintf(line + *n, 3, " -");
        return;
    }
    *n += snprintf(line + *n, 64, " %" PRIx64 ",%" PRId32 ",%" PRId32 ",", t, pid, tgid);
    if (task.has_cpu && qemu_plugin_rewind_read_memory(base + task.cpu, &cpu, 4) == 0)
        *n += snprintf(line + *n, 16, "%" PRId32 ",", cpu);
    else
        *n += snprintf(line + *n, 3, "-,");
    for (int k = 0; k < COMM_LEN; k++)
        *n += snprintf(line + *n, 3, "%02x", comm[k]);
}

static void on_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    uint64_t p = (uint64_t)(uintptr_t)udata;
    char line[64 + 128];
    int n = snprintf(line, 64, "x %" PRIu64 " %" PRIx64, qemu_plugin_rewind_icount() - insn_back(p), insn_vaddr(p));
    put_task(line, &n);
    line[n++] = '\n';
    emit(line, (size_t)n);
}

static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (!pending)
        return;
    pending = false;
    char line[32];
    int n = snprintf(line, sizeof line, "p %" PRIx64 "\n", (uint64_t)(uintptr_t)udata);
    emit(line, (size_t)n);
}

static void on_store(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)vcpu;
    if (!qemu_plugin_mem_is_store(info))
        return;
    uint64_t size = 1u << qemu_plugin_mem_size_shift(info);
    const struct range *hit = NULL;
    for (size_t k = 0; k < n_watches && !hit; k++)
        if (vaddr < watches[k].addr + watches[k].len && watches[k].addr < vaddr + size)
            hit = &watches[k];
    if (!hit)
        return;
    uint64_t p = (uint64_t)(uintptr_t)udata;
    uint64_t icount = qemu_plugin_rewind_icount() - insn_back(p) + 1;
    static char line[64 + 2 * MAX_SAMPLE + 128];
    int n = insn_last(p) ? snprintf(line, 64, "w %" PRIu64 " - %" PRIx64 " ", icount, hit->addr)
                         : snprintf(line, 64, "w %" PRIu64 " %" PRIx64 " %" PRIx64 " ", icount, insn_vaddr(p) + insn_size(p), hit->addr);
    uint8_t bytes[MAX_SAMPLE];
    if (sample.len > 0 && qemu_plugin_rewind_read_memory(sample.addr, bytes, sample.len) == 0) {
        for (uint64_t k = 0; k < sample.len; k++)
            n += snprintf(line + n, 3, "%02x", bytes[k]);
    } else
        line[n++] = '-';
    put_task(line, &n);
    line[n++] = '\n';
    emit(line, (size_t)n);
    pending = insn_last(p);
}

static bool wanted_pc(uint64_t vaddr)
{
    size_t lo = 0, hi = n_pcs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pcs[mid] == vaddr)
            return true;
        if (pcs[mid] < vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* ctl= mode: the file to read the arguments from at the first translation (NULL once read). */
static const char *ctl_path;
static bool configure(int argc, char **argv);

/* Reads CTLFILE's lines as the arguments (ctl= mode). A bad file is the engine's bug: no answer beats a wrong one. */
static void read_ctl(void)
{
    const char *path = ctl_path;
    ctl_path = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rewind-probe: cannot read %s: %s\n", path, strerror(errno));
        abort();
    }
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    bool whole = feof(f) && !ferror(f);
    fclose(f);
    text[len] = 0;
    static char *argv[MAX_PCS + MAX_WATCHES + 8];
    int argc = 0;
    for (char *line = strtok(text, "\n"); whole && line; line = strtok(NULL, "\n"))
        if (argc < (int)(sizeof argv / sizeof *argv))
            argv[argc++] = line;
        else
            whole = false;
    if (!whole || !configure(argc, argv)) {
        fprintf(stderr, "rewind-probe: %s does not hold the arguments of a probe\n", path);
        abort();
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    if (ctl_path)
        read_ctl();
    size_t n = qemu_plugin_tb_n_insns(tb);
    /* The task's GS base is a TCG global: R_REGS has TCG write it back before a callback reads it. */
    enum qemu_plugin_cb_flags regs = task.on ? QEMU_PLUGIN_CB_R_REGS : QEMU_PLUGIN_CB_NO_REGS;
    if (n_watches > 0)
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)qemu_plugin_tb_vaddr(tb));
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        void *p = (void *)(uintptr_t)pack(vaddr, n - i, qemu_plugin_insn_size(insn), i + 1 == n);
        if (wanted_pc(vaddr))
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_exec, regs, p);
        if (n_watches > 0)
            qemu_plugin_register_vcpu_mem_cb(insn, on_store, regs, QEMU_PLUGIN_MEM_W, p);
    }
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    if (out_fd >= 0)
        close(out_fd);
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "HEX:LEN" into r; false when malformed. */
static bool parse_range(const char *s, struct range *r)
{
    char *end;
    errno = 0;
    r->addr = strtoull(s, &end, 16);
    if (errno || end == s || *end != ':')
        return false;
    const char *l = end + 1;
    r->len = strtoull(l, &end, 10);
    return !errno && end != l && *end == 0 && r->len > 0;
}

/* "CUR:CPU:PID:TGID:COMM" into task; false when malformed. */
static bool parse_task(const char *s)
{
    char cpu[32];
    int used = 0;
    if (sscanf(s, "%" SCNx64 ":%31[0-9a-f-]:%u:%u:%u%n", &task.current, cpu, &task.pid, &task.tgid, &task.comm, &used) != 5 || s[used] != 0)
        return false;
    task.has_cpu = strcmp(cpu, "-") != 0;
    if (task.has_cpu) {
        char *end;
        task.cpu = strtoull(cpu, &end, 16);
        if (*end != 0)
            return false;
    }
    task.on = true;
    return true;
}

/* Takes the arguments (from -plugin or CTLFILE) and opens OUTFILE; false, with a message, when they are bad. */
static bool configure(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (strncmp(a, "out=", 4) == 0)
            out = a + 4;
        else if (strncmp(a, "pc=", 3) == 0) {
            char *end;
            errno = 0;
            ok = n_pcs < MAX_PCS;
            if (ok)
                pcs[n_pcs++] = strtoull(a + 3, &end, 16);
            ok = ok && !errno && end != a + 3 && *end == 0;
        } else if (strncmp(a, "watch=", 6) == 0)
            ok = n_watches < MAX_WATCHES && parse_range(a + 6, &watches[n_watches++]);
        else if (strncmp(a, "sample=", 7) == 0)
            ok = parse_range(a + 7, &sample) && sample.len <= MAX_SAMPLE;
        else if (strncmp(a, "task=", 5) == 0)
            ok = parse_task(a + 5);
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "rewind-probe: bad argument %s (expected out=FILE, pc=HEX, watch=HEX:LEN, sample=HEX:LEN, task=CUR:CPU:PID:TGID:COMM, or only ctl=FILE; at most %d pcs, %d watches, %d sample bytes)\n", a, MAX_PCS, MAX_WATCHES, MAX_SAMPLE);
            return false;
        }
    }
    if (!out) {
        fprintf(stderr, "rewind-probe: needs out=FILE\n");
        return false;
    }
    qsort(pcs, n_pcs, sizeof *pcs, by_value);
    out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0) {
        fprintf(stderr, "rewind-probe: cannot create %s: %s\n", out, strerror(errno));
        return false;
    }
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    if (!qemu_plugin_rewind_icount || !qemu_plugin_rewind_read_memory || !qemu_plugin_rewind_kernel_gs_base) {
        fprintf(stderr, "rewind-probe: this QEMU lacks Rewind's plugin functions (qemu_plugin_rewind_icount): it needs Rewind's QEMU (scripts/build-qemu.sh)\n");
        return -1;
    }
    if (argc == 1 && strncmp(argv[0], "ctl=", 4) == 0 && argv[0][4] != 0)
        ctl_path = argv[0] + 4;
    else if (!configure(argc, argv))
        return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
