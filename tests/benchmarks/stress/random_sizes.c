/* random_sizes.c -- random sizes, single-threaded: a table of blocks is
 * replaced at random with sizes from a skewed mix (mostly small, some
 * medium, a few up to 128 KiB), touching every size class. */
#include "stress.h"

enum { RS_SLOTS = 8192 };

static void *rs_block[RS_SLOTS];
static size_t rs_size[RS_SLOTS];
static uint64_t rs_tag[RS_SLOTS];

/* A size: 70% 1-128 B, 25% up to 4 KiB, 5% up to 128 KiB. */
static size_t rs_pick(uint64_t *rng)
{
    unsigned kind = (unsigned)(st_rand(rng) % 100);
    return kind < 70 ? st_between(rng, 1, 128) : kind < 95 ? st_between(rng, 129, 4096)
                                                            : st_between(rng, 4097, 128 << 10);
}

/* Puts a new stamped block into slot i. */
static void rs_new(uint64_t *rng, size_t i)
{
    rs_size[i] = rs_pick(rng);
    rs_tag[i] = st_rand(rng);
    rs_block[i] = st_malloc(rs_size[i]);
    st_stamp(rs_block[i], rs_size[i], rs_tag[i]);
}

int main(int argc, char **argv)
{
    double scale = st_scale(argc, argv, "random_sizes");
    size_t ops = st_count(6e6, scale);
    uint64_t rng = st_seed(11), sum = 0;
    double t0 = st_now();
    for (size_t i = 0; i < RS_SLOTS; i++)
        rs_new(&rng, i);
    for (size_t k = 0; k < ops; k++) {
        size_t i = (size_t)(st_rand(&rng) % RS_SLOTS);
        sum += st_check(rs_block[i], rs_size[i], rs_tag[i]);
        free(rs_block[i]);
        rs_new(&rng, i);
    }
    for (size_t i = 0; i < RS_SLOTS; i++) {
        sum += st_check(rs_block[i], rs_size[i], rs_tag[i]);
        free(rs_block[i]);
    }
    double secs = st_now() - t0;
    return st_report("random_sizes", secs, sum);
}
