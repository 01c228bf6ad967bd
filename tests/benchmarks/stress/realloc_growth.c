/* realloc_growth.c -- realloc growth, single-threaded: many buffers grow
 * side by side by appending small chunks, half with a realloc to the
 * exact length on every append (a naive string builder), half doubling
 * their capacity; a finished buffer is checked byte by byte and freed. */
#include "stress.h"

enum { RG_BUFFERS = 128, RG_CHUNK = 64 };

typedef struct {
    unsigned char *data;
    size_t len, cap, target;
    uint64_t tag;
    int exact;
} rg_buf;

static rg_buf rg_bufs[RG_BUFFERS];

/* Starts buffer b afresh: a tag, a target length 256 B - 512 KiB, a mode. */
static void rg_start(rg_buf *b, uint64_t *rng)
{
    b->tag = st_rand(rng);
    b->target = (size_t)1 << st_between(rng, 8, 18);
    b->target += st_between(rng, 0, b->target);
    b->exact = (int)(st_rand(rng) & 1);
    b->len = b->cap = 0;
    b->data = NULL;
}

/* realloc that fails the run on NULL. */
static void rg_resize(rg_buf *b, size_t cap)
{
    unsigned char *p = realloc(b->data, cap);
    if (!p)
        st_die("realloc returned NULL", b->data, cap);
    b->data = p;
    b->cap = cap;
}

/* Appends n pattern bytes, growing the buffer as its mode says. */
static void rg_append(rg_buf *b, size_t n)
{
    if (b->len + n > b->cap)
        rg_resize(b, b->exact ? b->len + n : (b->len + n) * 2);
    for (size_t i = 0; i < n; i++)
        b->data[b->len + i] = st_byte(b->tag, b->len + i);
    b->len += n;
}

/* Checks every byte of a finished buffer, frees it; returns a sum of
 * its tag and contents. */
static uint64_t rg_finish(rg_buf *b)
{
    uint64_t sum = b->tag + b->len;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] != st_byte(b->tag, i))
            st_die("realloc lost buffer contents", b->data, b->len);
        sum += b->data[i];
    }
    free(b->data);
    return sum;
}

int main(int argc, char **argv)
{
    double scale = st_scale(argc, argv, "realloc_growth");
    size_t appends = st_count(4e6, scale);
    uint64_t rng = st_seed(13), sum = 0;
    double t0 = st_now();
    for (size_t i = 0; i < RG_BUFFERS; i++)
        rg_start(&rg_bufs[i], &rng);
    for (size_t k = 0; k < appends; k++) {
        rg_buf *b = &rg_bufs[k % RG_BUFFERS];
        rg_append(b, st_between(&rng, 1, RG_CHUNK));
        if (b->len >= b->target) {
            sum += rg_finish(b);
            rg_start(b, &rng);
        }
    }
    for (size_t i = 0; i < RG_BUFFERS; i++)
        sum += rg_finish(&rg_bufs[i]);
    double secs = st_now() - t0;
    return st_report("realloc_growth", secs, sum);
}
