/* prodcons.c -- producer/consumer: producers allocate messages and pass
 * them through a locked queue in batches; consumers check and free them,
 * so every free is a cross-thread free.  The checksum is the sum of the
 * message tags, independent of which consumer got which message. */
#include <pthread.h>

#include "stress.h"

enum { PC_PRODUCERS = 2, PC_CONSUMERS = 2, PC_BATCH = 64, PC_RING = 64, PC_MIN = 24, PC_MAX = 1024 };

typedef struct {
    void *msg[PC_BATCH];
} pc_batch;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty;
    pc_batch ring[PC_RING];
    size_t head, count, batches_left;
} pc_q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {{{0}}}, 0, 0, 0};

static size_t pc_batches;           /* per producer */
static uint64_t pc_sum[PC_CONSUMERS];

/* A producer: builds batches of stamped messages (tag, size, ..., tail)
 * and queues them, waiting while the queue is full. */
static void *pc_producer(void *arg)
{
    uint64_t rng = st_seed(100 + (uintptr_t)arg);
    for (size_t b = 0; b < pc_batches; b++) {
        pc_batch batch;
        for (size_t i = 0; i < PC_BATCH; i++) {
            size_t n = st_between(&rng, PC_MIN, PC_MAX);
            uint64_t tag = st_rand(&rng);
            batch.msg[i] = st_malloc(n);
            st_stamp(batch.msg[i], n, tag);
            memcpy((char *)batch.msg[i] + 8, &n, sizeof n);
        }
        pthread_mutex_lock(&pc_q.lock);
        while (pc_q.count == PC_RING)
            pthread_cond_wait(&pc_q.not_full, &pc_q.lock);
        pc_q.ring[(pc_q.head + pc_q.count++) % PC_RING] = batch;
        pthread_cond_signal(&pc_q.not_empty);
        pthread_mutex_unlock(&pc_q.lock);
    }
    return NULL;
}

/* A consumer: takes batches until all are consumed, checks and frees
 * every message. */
static void *pc_consumer(void *arg)
{
    uint64_t sum = 0;
    for (;;) {
        pc_batch batch;
        pthread_mutex_lock(&pc_q.lock);
        while (pc_q.count == 0 && pc_q.batches_left > 0)
            pthread_cond_wait(&pc_q.not_empty, &pc_q.lock);
        if (pc_q.batches_left == 0) {
            pthread_mutex_unlock(&pc_q.lock);
            pc_sum[(uintptr_t)arg] = sum;
            return NULL;
        }
        batch = pc_q.ring[pc_q.head];
        pc_q.head = (pc_q.head + 1) % PC_RING;
        pc_q.count--;
        if (--pc_q.batches_left == 0)
            pthread_cond_broadcast(&pc_q.not_empty);
        pthread_cond_signal(&pc_q.not_full);
        pthread_mutex_unlock(&pc_q.lock);
        for (size_t i = 0; i < PC_BATCH; i++) {
            size_t n;
            uint64_t tag;
            memcpy(&n, (char *)batch.msg[i] + 8, sizeof n);
            memcpy(&tag, batch.msg[i], sizeof tag);
            if (n < PC_MIN || n > PC_MAX)
                st_die("message size field changed", batch.msg[i], n);
            sum += st_check(batch.msg[i], n, tag);
            free(batch.msg[i]);
        }
    }
}

int main(int argc, char **argv)
{
    double scale = st_scale(argc, argv, "prodcons");
    pthread_t prod[PC_PRODUCERS], cons[PC_CONSUMERS];
    uint64_t sum = 0;
    pc_batches = st_count(20000, scale);
    pc_q.batches_left = pc_batches * PC_PRODUCERS;
    double t0 = st_now();
    for (size_t i = 0; i < PC_CONSUMERS; i++)
        if (pthread_create(&cons[i], NULL, pc_consumer, (void *)(uintptr_t)i))
            st_die("pthread_create failed", NULL, 0);
    for (size_t i = 0; i < PC_PRODUCERS; i++)
        if (pthread_create(&prod[i], NULL, pc_producer, (void *)(uintptr_t)i))
            st_die("pthread_create failed", NULL, 0);
    for (size_t i = 0; i < PC_PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    for (size_t i = 0; i < PC_CONSUMERS; i++) {
        pthread_join(cons[i], NULL);
        sum += pc_sum[i];
    }
    double secs = st_now() - t0;
    return st_report("prodcons", secs, sum);
}
