/* live_set_churn.c -- a long-lived live set with churn, single-threaded:
 * 200,000 blocks stay live while random ones are replaced, in phases
 * whose size mix shifts (small, larger, mixed, medium), which leaves
 * partly used pages behind: a test of fragmentation and peak RSS.  The
 * whole set is checked at the end of every phase. */
#include "stress.h"

enum { LS_LIVE = 200000, LS_PHASES = 4 };

static const size_t ls_range[LS_PHASES][2] = {{16, 96}, {96, 320}, {16, 320}, {32, 160}};
static void *ls_block[LS_LIVE];
static size_t ls_size[LS_LIVE];
static uint64_t ls_tag[LS_LIVE];

/* Puts a new stamped block of phase ph's sizes into slot i. */
static void ls_new(uint64_t *rng, size_t i, size_t ph)
{
    ls_size[i] = st_between(rng, ls_range[ph][0], ls_range[ph][1]);
    ls_tag[i] = st_rand(rng);
    ls_block[i] = st_malloc(ls_size[i]);
    st_stamp(ls_block[i], ls_size[i], ls_tag[i]);
}

/* Checks the whole live set; returns the sum of its tags. */
static uint64_t ls_check_all(void)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < LS_LIVE; i++)
        sum += st_check(ls_block[i], ls_size[i], ls_tag[i]);
    return sum;
}

int main(int argc, char **argv)
{
    double scale = st_scale(argc, argv, "live_set_churn");
    size_t ops = st_count(6e5, scale);     /* per phase */
    uint64_t rng = st_seed(17), sum = 0;
    double t0 = st_now();
    for (size_t i = 0; i < LS_LIVE; i++)
        ls_new(&rng, i, 0);
    for (size_t ph = 0; ph < LS_PHASES; ph++) {
        for (size_t k = 0; k < ops; k++) {
            size_t i = (size_t)(st_rand(&rng) % LS_LIVE);
            sum += st_check(ls_block[i], ls_size[i], ls_tag[i]);
            free(ls_block[i]);
            ls_new(&rng, i, ph);
        }
        sum += ls_check_all();
    }
    for (size_t i = 0; i < LS_LIVE; i++)
        free(ls_block[i]);
    double secs = st_now() - t0;
    return st_report("live_set_churn", secs, sum);
}
