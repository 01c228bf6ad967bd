/* test_model.c -- randomized model test: millions of malloc, calloc,
** realloc, aligned_alloc and free operations (process pool and a
** first-class heap) checked against a shadow table.  Every block is filled
** with a pattern derived from its id and verified before it is freed or
** resized; alignment, usable size and non-overlap are checked. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

#define SLOTS 20000

typedef struct { unsigned char *p; size_t n; uint32_t id; size_t align; int heap; } slot_t;
static slot_t slots[SLOTS];
static uint64_t rng = 88172645463325252ull;

static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static unsigned char pat(uint32_t id, size_t i) { return (unsigned char)(id * 31u + i * 7u + (i >> 8)); }

static void fill(slot_t *s) { for (size_t i = 0; i < s->n; i++) s->p[i] = pat(s->id, i); }

static void verify(const slot_t *s, size_t upto) {
    for (size_t i = 0; i < upto && i < s->n; i++)
        if (s->p[i] != pat(s->id, i)) {
            fprintf(stderr, "block %p (id %u, %zu bytes) corrupted at %zu\n", (void *)s->p, s->id, s->n, i);
            exit(1);
        }
}

/* Sizes skewed small, with a tail of medium and large ones. */
static size_t pick_size(void) {
    uint64_t r = next() % 1000;
    if (r < 700) return next() % 257;
    if (r < 950) return next() % 4097;
    if (r < 998) return next() % 140000;
    return next() % (1u << 20);
}

static int cmp_slot(const void *a, const void *b) {
    const slot_t *x = *(slot_t *const *)a, *y = *(slot_t *const *)b;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* No two live blocks overlap: sort by address, compare neighbours. */
static void check_overlap(void) {
    static slot_t *live[SLOTS];
    size_t n = 0;
    for (size_t i = 0; i < SLOTS; i++) if (slots[i].p) live[n++] = &slots[i];
    qsort(live, n, sizeof *live, cmp_slot);
    for (size_t i = 1; i < n; i++) {
        size_t extent = live[i - 1]->n ? live[i - 1]->n : 1;
        CHECK(live[i - 1]->p + extent <= live[i]->p);
    }
}

int main(int argc, char **argv) {
    long ops = argc > 1 ? atol(argv[1]) : 2000000;
    pool_heap_t *heap = pool_heap_new(NULL);
    CHECK(heap != NULL);
    uint32_t ids = 1;
    long counts[5] = {0};
    for (long op = 0; op < ops; op++) {
        slot_t *s = &slots[next() % SLOTS];
        uint64_t kind = next() % 100;
        if (s->p) {
            verify(s, s->n < 64 || (op & 7) == 0 ? s->n : 64);
            if (kind < 30) {
                size_t n = pick_size();
                unsigned char *q = s->heap ? pool_heap_realloc(heap, s->p, n) : pool_realloc(s->p, n);
                CHECK(q != NULL);
                CHECK(((uintptr_t)q & 15) == 0);
                s->p = q;
                size_t old = s->n;
                s->n = n;
                verify(s, old < n ? old : n);
                fill(s);
                counts[2]++;
            } else {
                if (s->heap) pool_heap_free(heap, s->p); else pool_free(s->p);
                s->p = NULL;
                counts[4]++;
            }
        } else {
            size_t n = pick_size();
            s->id = ids++;
            s->align = 16;
            s->heap = (int)(next() % 4 == 0);
            if (kind < 60) {
                s->p = s->heap ? pool_heap_malloc(heap, n) : pool_malloc(n);
                counts[0]++;
            } else if (kind < 80) {
                s->p = s->heap ? pool_heap_calloc(heap, 1, n) : pool_calloc(n, 1);
                CHECK(s->p != NULL);
                for (size_t i = 0; i < n; i++) CHECK(s->p[i] == 0);
                counts[1]++;
            } else {
                s->heap = 0;
                s->align = (size_t)1 << (next() % 17);
                s->p = pool_aligned_alloc(s->align, n);
                counts[3]++;
            }
            CHECK(s->p != NULL);
            CHECK((uintptr_t)s->p % (s->align < 16 ? 16 : s->align) == 0);
            CHECK(pool_usable_size(s->p) >= n);
            CHECK(pool_owns(s->p));
            s->n = n;
            fill(s);
        }
        if (op % 500000 == 0) check_overlap();
        /* The allocator's own invariants (libpool/src/check.c). */
        if (op % 20000 == 0) CHECK(pool_check() > 0 && pool_heap_check(heap) >= 0);
    }
    check_overlap();
    CHECK(pool_check() > 0 && pool_heap_check(heap) >= 0);
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i].p) {
            verify(&slots[i], slots[i].n);
            if (slots[i].heap) pool_heap_free(heap, slots[i].p); else pool_free(slots[i].p);
        }
    pool_stats_t st;
    CHECK(pool_heap_stats(heap, &st) == 0);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(st.large_blocks, 0);
    CHECK(pool_heap_check(heap) >= 0);
    pool_heap_destroy(heap);
    CHECK(pool_check() >= 0);
    CHECK(pool_stats(&st) == 0);
    CHECK_EQ(st.large_blocks, 0);
    for (int c = 0; c < POOL_NCLASSES; c++) CHECK_EQ(st.classes[c].live_blocks, 0);
    CHECK_EQ(st.live_bytes, 0);
    printf("test_model: %ld ops (malloc %ld, calloc %ld, realloc %ld, aligned %ld, free %ld): ok\n", ops, counts[0],
           counts[1], counts[2], counts[3], counts[4]);
    return 0;
}
