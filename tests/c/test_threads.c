/* test_threads.c -- multi-thread stress: 8 worker threads that really race,
** handing blocks to each other through mailboxes so most frees happen on a
** thread other than the owner; workers exit and are replaced by new ones
** (thread caches must be returned); every block's contents are verified.
** Ends with exact process totals: every block allocated was freed. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

#define WORKERS 8
#define GENERATIONS 6
#define MAILBOX 4096

typedef struct { unsigned char *p; size_t n; uint32_t tag; } msg_t;
typedef struct {
    pthread_mutex_t lock;
    msg_t q[MAILBOX];
    size_t head, count;
} mailbox_t;

static mailbox_t boxes[WORKERS];
static long iterations = 60000; /* per worker; argv[1] sets it (sanitizer builds use fewer) */
static atomic_long freed_remote, freed_local, allocated;

static void stamp(msg_t *m) { for (size_t i = 0; i < m->n; i++) m->p[i] = (unsigned char)(m->tag + i); }
static void check_msg(const msg_t *m) {
    for (size_t i = 0; i < m->n; i++)
        if (m->p[i] != (unsigned char)(m->tag + i)) {
            fprintf(stderr, "block %p corrupted at %zu\n", (void *)m->p, i);
            exit(1);
        }
}

static int post(int to, msg_t m) {
    mailbox_t *b = &boxes[to];
    pthread_mutex_lock(&b->lock);
    int ok = b->count < MAILBOX;
    if (ok) b->q[(b->head + b->count++) % MAILBOX] = m;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

static int take(int me, msg_t *m) {
    mailbox_t *b = &boxes[me];
    pthread_mutex_lock(&b->lock);
    int ok = b->count > 0;
    if (ok) { *m = b->q[b->head]; b->head = (b->head + 1) % MAILBOX; b->count--; }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

typedef struct { int id; unsigned seed; } arg_t;

static void *worker(void *vp) {
    arg_t *a = vp;
    uint64_t r = a->seed * 2654435761u + 1;
    msg_t keep[64] = {{0}};
    for (long it = 0; it < iterations; it++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        msg_t m;
        if (take(a->id, &m)) { check_msg(&m); pool_free(m.p); atomic_fetch_add(&freed_remote, 1); }
        size_t n = (r >> 8) % 100 < 95 ? (r >> 16) % 600 : (r >> 16) % 200000;
        m.n = n; m.tag = (uint32_t)r; m.p = pool_malloc(n);
        CHECK(m.p != NULL);
        atomic_fetch_add(&allocated, 1);
        stamp(&m);
        int to = (int)((r >> 32) % WORKERS);
        if (to != a->id && post(to, m)) continue;
        msg_t *k = &keep[(r >> 40) % 64];
        if (k->p) { check_msg(k); pool_free(k->p); atomic_fetch_add(&freed_local, 1); }
        *k = m;
    }
    for (int i = 0; i < 64; i++)
        if (keep[i].p) { check_msg(&keep[i]); pool_free(keep[i].p); atomic_fetch_add(&freed_local, 1); }
    return NULL;
}

/* A thread that only frees (a consumer of the main thread's blocks): its
** first free makes its heap, which counts its frees exactly and goes at
** its exit; free keeps errno throughout. */
#define CONSUMED 5000
static unsigned char *consumed[CONSUMED];
static void *consumer(void *arg) {
    const pool_stats_t *start = arg;
    errno = EDOM;
    for (int i = 0; i < CONSUMED; i++) {
        CHECK(consumed[i][0] == (unsigned char)i);
        pool_free(consumed[i]);
    }
    CHECK_EQ(errno, EDOM);
    pool_stats_t st;
    CHECK(pool_stats(&st) == 0);
    CHECK_EQ(st.heaps, start->heaps + 1);
    CHECK_EQ(st.classes[pool_size_class(48)].frees - start->classes[pool_size_class(48)].frees, CONSUMED);
    CHECK_EQ(st.classes[pool_size_class(48)].live_blocks, start->classes[pool_size_class(48)].live_blocks - CONSUMED);
    return NULL;
}
/* free(NULL) makes no heap. */
static void *frees_null(void *arg) {
    const pool_stats_t *start = arg;
    pool_free(NULL);
    pool_stats_t st;
    CHECK(pool_stats(&st) == 0);
    CHECK_EQ(st.heaps, start->heaps);
    return NULL;
}
static void only_frees(void) {
    for (int i = 0; i < CONSUMED; i++) {
        CHECK((consumed[i] = pool_malloc(48)) != NULL);
        consumed[i][0] = (unsigned char)i;
    }
    pool_stats_t start, end;
    CHECK(pool_stats(&start) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, frees_null, &start) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pthread_create(&t, NULL, consumer, &start) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pool_stats(&end) == 0);
    CHECK_EQ(end.heaps, start.heaps);
    CHECK_EQ(end.frees - start.frees, CONSUMED);
    CHECK_EQ(end.live_bytes, start.live_bytes - CONSUMED * 48);
}

int main(int argc, char **argv) {
    if (argc > 1) CHECK((iterations = atol(argv[1])) > 0);
    pool_stats_t before, after;
    CHECK(pool_stats(&before) == 0);
    for (int i = 0; i < WORKERS; i++) pthread_mutex_init(&boxes[i].lock, NULL);
    for (int gen = 0; gen < GENERATIONS; gen++) {
        pthread_t t[WORKERS];
        arg_t args[WORKERS];
        for (int i = 0; i < WORKERS; i++) {
            args[i] = (arg_t){ i, (unsigned)(gen * 100 + i + 1) };
            CHECK(pthread_create(&t[i], NULL, worker, &args[i]) == 0);
        }
        for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
        /* Blocks still in mailboxes are freed by the main thread, whose
        ** heap owns none of them: remote frees into orphaned pages. */
        for (int i = 0; i < WORKERS; i++) {
            msg_t m;
            while (take(i, &m)) { check_msg(&m); pool_free(m.p); atomic_fetch_add(&freed_remote, 1); }
        }
        /* What the dead heaps left cached or unpurged goes back first, so
        ** that what is compared is what the generations kept. */
        pool_trim();
        pool_stats_t mid;
        CHECK(pool_stats(&mid) == 0);
        /* Thread heaps are returned at exit: only the main thread's lives. */
        CHECK(mid.heaps <= before.heaps + 1);
        /* Memory does not accumulate across generations. */
        if (gen == 1) after = mid;
        if (gen > 1) CHECK(mid.reserved_bytes <= after.reserved_bytes + ((size_t)64 << 20));
    }
    CHECK(pool_stats(&after) == 0);
    long total = atomic_load(&allocated);
    CHECK_EQ(atomic_load(&freed_remote) + atomic_load(&freed_local), total);
    CHECK_EQ((long long)(after.allocs - before.allocs), total);
    CHECK_EQ((long long)(after.frees - before.frees), total);
    for (int c = 0; c < POOL_NCLASSES; c++) CHECK_EQ(after.classes[c].live_blocks, before.classes[c].live_blocks);
    CHECK_EQ(after.large_blocks, before.large_blocks);
    CHECK_EQ(after.live_bytes, before.live_bytes);
    only_frees();
    printf("test_threads: %ld blocks, %ld freed by another thread, %d by a thread that only frees: ok\n", total,
           atomic_load(&freed_remote), CONSUMED);
    return 0;
}
