/* threads_churn.c -- many short-lived threads churning small objects:
 * waves of threads each keep a ring of small blocks and replace them
 * at random, then exit (their thread caches must be reclaimed).  The
 * checksum sums every thread's checked tags; each thread's stream is
 * seeded by its number. */
#include <pthread.h>

#include "stress.h"

enum { TC_PER_WAVE = 8, TC_LIVE = 512, TC_MIN = 8, TC_MAX = 128 };

static size_t tc_ops;

/* One thread's life: fill its ring, churn it, free it all. */
static void *tc_thread(void *arg)
{
    uint64_t rng = st_seed(1000 + (uintptr_t)arg), sum = 0;
    void *block[TC_LIVE];
    size_t size[TC_LIVE];
    uint64_t tag[TC_LIVE];
    for (size_t i = 0; i < TC_LIVE; i++) {
        size[i] = st_between(&rng, TC_MIN, TC_MAX);
        tag[i] = st_rand(&rng);
        block[i] = st_malloc(size[i]);
        st_stamp(block[i], size[i], tag[i]);
    }
    for (size_t k = 0; k < tc_ops; k++) {
        size_t i = (size_t)(st_rand(&rng) % TC_LIVE);
        sum += st_check(block[i], size[i], tag[i]);
        free(block[i]);
        size[i] = st_between(&rng, TC_MIN, TC_MAX);
        tag[i] = st_rand(&rng);
        block[i] = st_malloc(size[i]);
        st_stamp(block[i], size[i], tag[i]);
    }
    for (size_t i = 0; i < TC_LIVE; i++) {
        sum += st_check(block[i], size[i], tag[i]);
        free(block[i]);
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    double scale = st_scale(argc, argv, "threads_churn");
    size_t waves = st_count(100, scale);
    uint64_t sum = 0;
    tc_ops = 30000;
    double t0 = st_now();
    for (size_t w = 0; w < waves; w++) {
        pthread_t th[TC_PER_WAVE];
        for (size_t i = 0; i < TC_PER_WAVE; i++)
            if (pthread_create(&th[i], NULL, tc_thread, (void *)(uintptr_t)(w * TC_PER_WAVE + i)))
                st_die("pthread_create failed", NULL, 0);
        for (size_t i = 0; i < TC_PER_WAVE; i++) {
            void *ret;
            pthread_join(th[i], &ret);
            sum += (uint64_t)(uintptr_t)ret;
        }
    }
    double secs = st_now() - t0;
    return st_report("threads_churn", secs, sum);
}
