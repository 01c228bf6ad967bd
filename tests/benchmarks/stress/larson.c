/* larson.c -- server simulation (larson-like): worker threads replace
 * random blocks in slot arrays and hand the arrays on to the next thread
 * every epoch, so most blocks are freed by another thread than the one
 * that allocated them.  Each array has its own seeded stream, so the
 * checksum does not depend on scheduling. */
#include <pthread.h>

#include "stress.h"

enum { LA_THREADS = 4, LA_SLOTS = 2000, LA_MIN = 8, LA_MAX = 400 };

typedef struct {
    void *block[LA_SLOTS];
    size_t size[LA_SLOTS];
    uint64_t tag[LA_SLOTS];
    uint64_t rng, sum;
} la_array;

static la_array la_arrays[LA_THREADS];
static pthread_barrier_t la_barrier;
static size_t la_epochs, la_ops;

/* Fills an array's slots (the "connections" a server starts with). */
static void la_fill(la_array *a, uint64_t id)
{
    a->rng = st_seed(id);
    for (size_t i = 0; i < LA_SLOTS; i++) {
        a->size[i] = st_between(&a->rng, LA_MIN, LA_MAX);
        a->tag[i] = st_rand(&a->rng);
        a->block[i] = st_malloc(a->size[i]);
        st_stamp(a->block[i], a->size[i], a->tag[i]);
    }
}

/* One epoch of work on one array: free a random slot's block (checking
 * it), allocate a new one of a random size. */
static void la_work(la_array *a)
{
    for (size_t k = 0; k < la_ops; k++) {
        size_t i = (size_t)(st_rand(&a->rng) % LA_SLOTS);
        a->sum += st_check(a->block[i], a->size[i], a->tag[i]);
        free(a->block[i]);
        a->size[i] = st_between(&a->rng, LA_MIN, LA_MAX);
        a->tag[i] = st_rand(&a->rng);
        a->block[i] = st_malloc(a->size[i]);
        st_stamp(a->block[i], a->size[i], a->tag[i]);
    }
}

/* A worker: takes array (id + epoch) each epoch, so arrays travel. */
static void *la_thread(void *arg)
{
    size_t id = (size_t)(uintptr_t)arg;
    for (size_t e = 0; e < la_epochs; e++) {
        la_work(&la_arrays[(id + e) % LA_THREADS]);
        pthread_barrier_wait(&la_barrier);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = st_scale(argc, argv, "larson");
    pthread_t th[LA_THREADS];
    uint64_t sum = 0;
    la_epochs = st_count(150, scale);
    la_ops = 25000;
    pthread_barrier_init(&la_barrier, NULL, LA_THREADS);
    double t0 = st_now();
    for (size_t i = 0; i < LA_THREADS; i++)
        la_fill(&la_arrays[i], i);
    for (size_t i = 0; i < LA_THREADS; i++)
        if (pthread_create(&th[i], NULL, la_thread, (void *)(uintptr_t)i))
            st_die("pthread_create failed", NULL, 0);
    for (size_t i = 0; i < LA_THREADS; i++)
        pthread_join(th[i], NULL);
    for (size_t t = 0; t < LA_THREADS; t++) {
        la_array *a = &la_arrays[t];
        for (size_t i = 0; i < LA_SLOTS; i++) {
            a->sum += st_check(a->block[i], a->size[i], a->tag[i]);
            free(a->block[i]);
        }
        sum += a->sum;
    }
    double secs = st_now() - t0;
    pthread_barrier_destroy(&la_barrier);
    return st_report("larson", secs, sum);
}
