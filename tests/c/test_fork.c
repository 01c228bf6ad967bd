/* test_fork.c -- fork safety: the main thread forks repeatedly while other
** threads allocate and free; every child allocates, frees blocks made
** before the fork (its own and other threads'), starts threads of its own
** (one of which has the thread pointer of a parent thread holding a page),
** and exits cleanly. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define THREADS 3
#define FORKS 150

static atomic_int stop;
static void *volatile shared[256];

static void *churn(void *arg) {
    unsigned r = (unsigned)(uintptr_t)arg * 7919u + 1;
    while (!atomic_load(&stop)) {
        r = r * 1103515245u + 12345u;
        size_t n = (r >> 8) % 3000 + ((r & 63) == 0 ? 300000 : 0);
        char *p = pool_malloc(n);
        CHECK(p != NULL);
        memset(p, 1, n);
        void *old = __atomic_exchange_n(&shared[(r >> 20) & 255], p, __ATOMIC_ACQ_REL);
        pool_free(old);
    }
    return NULL;
}

/* A thread of the child: it may have the thread pointer of one of the
** parent's threads (glibc reuses their stacks), whose pages it must free
** into as a remote thread does.  It frees its share of the blocks made
** before the fork, then churns blocks of its own. */
static void *child_thread(void *arg) {
    for (long i = (long)(uintptr_t)arg; i < 256; i += THREADS)
        pool_free(__atomic_exchange_n(&shared[i], NULL, __ATOMIC_ACQ_REL));
    for (int i = 0; i < 1000; i++) pool_free(pool_malloc((size_t)i * 13));
    return NULL;
}

/* A parent thread that holds HELD blocks of a class no other thread here
** uses (one page), and waits.  In a child, the thread that gets its thread
** pointer (glibc hands the child's threads the stacks of the parent's) frees
** them all: the last free empties that page, which belongs to the holder's
** heap, not to the freeing thread's. */
#define HELD 20
static void *held[HELD];
static const void *holder_tp;
static atomic_int heir_found;

static void *holder(void *arg) {
    for (int i = 0; i < HELD; i++) CHECK((held[i] = pool_malloc(2000)) != NULL);
    holder_tp = __builtin_thread_pointer();
    while (!atomic_load(&stop)) usleep(1000);
    return arg;
}

static void *heir(void *arg) {
    if (__builtin_thread_pointer() == holder_tp) {
        for (int i = 0; i < HELD; i++) pool_free(held[i]);
        atomic_store(&heir_found, 1);
    }
    return arg;
}

static int child_work(void) {
    /* Blocks from every thread's heap: some freed here, the rest by the
    ** child's threads. */
    for (int i = 0; i < 256; i += 2) pool_free(__atomic_exchange_n(&shared[i], NULL, __ATOMIC_ACQ_REL));
    void *ps[2000];
    for (int i = 0; i < 2000; i++) {
        ps[i] = pool_malloc((size_t)(i % 700) * 3 + 1);
        if (!ps[i]) return 2;
        memset(ps[i], 2, (size_t)(i % 700) * 3 + 1);
    }
    for (int i = 0; i < 2000; i++) pool_free(ps[i]);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, child_thread, (void *)(uintptr_t)i) != 0) return 3;
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    pthread_t u[THREADS + 1];
    for (int i = 0; i <= THREADS; i++)
        if (pthread_create(&u[i], NULL, heir, NULL) != 0) return 3;
    for (int i = 0; i <= THREADS; i++) pthread_join(u[i], NULL);
    if (!atomic_load(&heir_found)) return 5;      /* no thread got the holder's pointer */
    /* The heir freed them as a remote thread: the page is still the
    ** holder's heap's, and its remote frees wait for an owner that is gone
    ** (they still count as used).  Freed as the owner, the page would have
    ** emptied and gone to the heir's heap while the holder's still lists it. */
    static pool_page_info_t pages[4096];
    size_t np = pool_page_map(pages, 4096);
    if (np > 4096) return 6;
    int seen = 0;
    for (size_t k = 0; k < np; k++) {
        uintptr_t a = (uintptr_t)held[0];
        if (a < pages[k].address || a >= pages[k].address + pages[k].bytes) continue;
        seen = 1;
        if (pages[k].used != HELD) return 7;
    }
    if (!seen) return 8;
    pool_check();                       /* aborts on a list or page out of place */
    pool_stats_t st;
    return pool_stats(&st) == 0 ? 0 : 4;
}

int main(void) {
    pthread_t t[THREADS], h;
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    CHECK(pthread_create(&h, NULL, holder, NULL) == 0);
    while (!__atomic_load_n(&holder_tp, __ATOMIC_ACQUIRE)) usleep(1000);
    int ok = 0;
    for (int f = 0; f < FORKS; f++) {
        void *mine = pool_malloc(100);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            pool_free(mine);
            _exit(child_work());
        }
        pool_free(mine);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork %d: child status %d\n", f, status);
            exit(1);
        }
        ok++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    pthread_join(h, NULL);
    for (int i = 0; i < HELD; i++) pool_free(held[i]);
    for (int i = 0; i < 256; i++) pool_free(shared[i]);
    CHECK_EQ(ok, FORKS);
    printf("test_fork: %d forks under %d allocating threads: ok\n", ok, THREADS);
    return 0;
}
