/* test_fork.c -- fork safety: the main thread forks repeatedly while other
** threads allocate and free; every child allocates, frees blocks made
** before the fork (its own and other threads'), starts a thread of its own,
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

static void *child_thread(void *arg) {
    for (int i = 0; i < 1000; i++) pool_free(pool_malloc((size_t)i * 13));
    return arg;
}

static int child_work(void) {
    /* Blocks from every thread's heap, freed here. */
    for (int i = 0; i < 256; i++) pool_free(__atomic_exchange_n(&shared[i], NULL, __ATOMIC_ACQ_REL));
    void *ps[2000];
    for (int i = 0; i < 2000; i++) {
        ps[i] = pool_malloc((size_t)(i % 700) * 3 + 1);
        if (!ps[i]) return 2;
        memset(ps[i], 2, (size_t)(i % 700) * 3 + 1);
    }
    for (int i = 0; i < 2000; i++) pool_free(ps[i]);
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0) return 3;
    pthread_join(t, NULL);
    pool_stats_t st;
    return pool_stats(&st) == 0 ? 0 : 4;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
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
    for (int i = 0; i < 256; i++) pool_free(shared[i]);
    CHECK_EQ(ok, FORKS);
    printf("test_fork: %d forks under %d allocating threads: ok\n", ok, THREADS);
    return 0;
}
