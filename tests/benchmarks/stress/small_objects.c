/* small_objects.c -- many small objects, single-threaded: each round
 * allocates a large array of 8-64 byte blocks, frees every other one,
 * refills the holes, then frees everything in reverse order. */
#include "stress.h"

enum { SO_COUNT = 200000, SO_MIN = 8, SO_MAX = 64 };

static void *so_block[SO_COUNT];
static size_t so_size[SO_COUNT];
static uint64_t so_tag[SO_COUNT];

/* Puts a new stamped block into slot i. */
static void so_new(uint64_t *rng, size_t i)
{
    so_size[i] = st_between(rng, SO_MIN, SO_MAX);
    so_tag[i] = st_rand(rng);
    so_block[i] = st_malloc(so_size[i]);
    st_stamp(so_block[i], so_size[i], so_tag[i]);
}

/* Checks and frees slot i's block; returns its tag. */
static uint64_t so_free(size_t i)
{
    uint64_t t = st_check(so_block[i], so_size[i], so_tag[i]);
    free(so_block[i]);
    return t;
}

int main(int argc, char **argv)
{
    double scale = st_scale(argc, argv, "small_objects");
    size_t rounds = st_count(20, scale);
    uint64_t rng = st_seed(7), sum = 0;
    double t0 = st_now();
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < SO_COUNT; i++)
            so_new(&rng, i);
        for (size_t i = 0; i < SO_COUNT; i += 2) {
            sum += so_free(i);
            so_new(&rng, i);
        }
        for (size_t i = SO_COUNT; i-- > 0;)
            sum += so_free(i);
    }
    double secs = st_now() - t0;
    return st_report("small_objects", secs, sum);
}
