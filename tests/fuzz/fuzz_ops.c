/*
** fuzz_ops.c -- libFuzzer harness for libpool: the input is decoded into a
** sequence of operations (malloc, calloc, realloc, free, aligned_alloc,
** heap_new, heap_malloc, heap_free_sized, heap_realloc_sized, heap_destroy,
** trim, usable_size, owns, stats) run against a shadow model: every live
** block's contents, alignment, usable size, ownership and non-overlap are
** checked, and a sized heap's live_bytes and per-class live counts must be
** exact.  Each input ends by freeing everything, so inputs are independent.
**
** Build: clang -fsanitize=fuzzer,address,undefined -Ilibpool/include
**        libpool/src/ *.c and this file (see tests/test_fuzz.py)
*/
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define FZ_SLOTS 64
#define FZ_HEAPS 4
#define FZ_PROCESS (-1) /* slot heap index of the process pool */

/* A model failure: say what and where, then crash so libFuzzer keeps the input. */
#define FZ_CHECK(cond)                                                          \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz_ops: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                            \
        }                                                                       \
    } while (0)

typedef struct {
    unsigned char *p;       /* NULL: empty slot */
    size_t n;               /* requested bytes */
    int heap;               /* FZ_PROCESS or a heap index */
    unsigned seed;          /* contents pattern */
} fz_slot_t;

typedef struct {
    pool_heap_t *h;         /* NULL: not made */
    int sized, debug;
    size_t limit;
} fz_heap_t;

typedef struct {
    const uint8_t *data;
    size_t len, pos;
} fz_input_t;

static fz_slot_t slots[FZ_SLOTS];
static fz_heap_t heaps[FZ_HEAPS];

/* Next input byte (0 once the input is used up). */
static unsigned fz_byte(fz_input_t *in) { return in->pos < in->len ? in->data[in->pos++] : 0; }

/* A request size: mostly small, some up to the largest class, some large,
** a few absurd (which must fail cleanly). */
static size_t fz_size(fz_input_t *in) {
    unsigned kind = fz_byte(in), a = fz_byte(in), b = fz_byte(in);
    size_t v = (size_t)a << 8 | b;
    switch (kind & 7) {
    case 0: case 1: case 2: return v % 129;
    case 3: case 4: return v % 1100;
    case 5: return v * 3 % (POOL_MAX_CLASS_SIZE + 200);
    case 6: return (kind & 8) ? v * 40 : v % 64;
    default: return (kind & 16) ? SIZE_MAX - v : (size_t)PTRDIFF_MAX + v;
    }
}

/* Whether n is absurd: no allocator can meet it. */
static int fz_absurd(size_t n) { return n > ((size_t)1 << 46); }

/* Contents pattern: byte i of a block with seed s is fz_pat[(s + i) % 251];
** filled and checked 256 bytes at a time (a byte loop would spend the
** run in coverage callbacks). */
static unsigned char fz_pat[512];
static const unsigned char fz_zero[4096];

static void fz_init_pattern(void) {
    for (unsigned i = 0; i < sizeof fz_pat; i++) fz_pat[i] = (unsigned char)((i % 251) * 167u + 13u);
}

static void fz_fill(fz_slot_t *s) {
    for (size_t off = 0; off < s->n; off += 256) {
        size_t m = s->n - off < 256 ? s->n - off : 256;
        memcpy(s->p + off, fz_pat + (s->seed + off) % 251, m);
    }
}

/* The first `n` bytes of slot s still hold its pattern. */
static void fz_verify(const fz_slot_t *s, size_t n) {
    for (size_t off = 0; off < n; off += 256) {
        size_t m = n - off < 256 ? n - off : 256;
        FZ_CHECK(memcmp(s->p + off, fz_pat + (s->seed + off) % 251, m) == 0);
    }
}

/* n bytes at p are zero. */
static void fz_verify_zero(const unsigned char *p, size_t n) {
    for (size_t off = 0; off < n; off += sizeof fz_zero) {
        size_t m = n - off < sizeof fz_zero ? n - off : sizeof fz_zero;
        FZ_CHECK(memcmp(p + off, fz_zero, m) == 0);
    }
}

/* A fresh block p of n bytes (alignment a) for heap hi: every property the
** API promises, then it goes in slot k. */
static void fz_take(int k, unsigned char *p, size_t n, size_t align, int hi, unsigned seed) {
    FZ_CHECK(p != NULL);
    FZ_CHECK((uintptr_t)p % (align > POOL_MIN_ALIGN ? align : POOL_MIN_ALIGN) == 0);
    FZ_CHECK(pool_owns(p) && pool_owns(p + (n ? n - 1 : 0)));
    FZ_CHECK(pool_usable_size(p) >= n);
    FZ_CHECK(pool_heap_of(p) == (hi == FZ_PROCESS ? NULL : heaps[hi].h));
    for (int j = 0; j < FZ_SLOTS; j++) {
        const fz_slot_t *o = &slots[j];
        if (j == k || !o->p) continue;
        size_t on = o->n ? o->n : 1, nn = n ? n : 1;
        FZ_CHECK(p + nn <= o->p || o->p + on <= p);
    }
    slots[k] = (fz_slot_t){ p, n, hi, seed };
    fz_fill(&slots[k]);
}

/* A live slot chosen by the input, or -1. */
static int fz_live(fz_input_t *in) {
    int k = (int)(fz_byte(in) % FZ_SLOTS);
    for (int i = 0; i < FZ_SLOTS; i++, k = (k + 1) % FZ_SLOTS)
        if (slots[k].p) return k;
    return -1;
}

static int fz_empty(fz_input_t *in) {
    int k = (int)(fz_byte(in) % FZ_SLOTS);
    for (int i = 0; i < FZ_SLOTS; i++, k = (k + 1) % FZ_SLOTS)
        if (!slots[k].p) return k;
    return -1;
}

/* Whether heap hi (made, sized, with its limit) may refuse `add` more
** bytes: only a limited heap may say ENOMEM to a sane request. */
static int fz_may_fail(int hi, size_t n) {
    if (fz_absurd(n)) return 1;
    return hi != FZ_PROCESS && heaps[hi].limit != 0;
}

static void fz_free_slot(int k) {
    fz_slot_t *s = &slots[k];
    fz_verify(s, s->n);
    if (s->heap == FZ_PROCESS) pool_free(s->p);
    else if (heaps[s->heap].sized) pool_heap_free_sized(heaps[s->heap].h, s->p, s->n);
    else pool_heap_free(heaps[s->heap].h, s->p);
    s->p = NULL;
}

/* A sized heap counts requested bytes exactly, and its classes count its
** live blocks exactly. */
static void fz_check_heap_stats(int hi) {
    fz_heap_t *hp = &heaps[hi];
    if (!hp->h || !hp->sized) return;
    pool_stats_t st;
    FZ_CHECK(pool_heap_stats(hp->h, &st) == 0);
    size_t live = 0, large = 0, per[POOL_NCLASSES] = { 0 };
    for (int k = 0; k < FZ_SLOTS; k++) {
        if (!slots[k].p || slots[k].heap != hi) continue;
        live += slots[k].n;
        /* A debug heap's malloc(0) is a guard page behind a large header. */
        int c = hp->debug && slots[k].n == 0 ? -1 : pool_size_class(slots[k].n + (hp->debug ? 16 : 0));
        if (c < 0) large++;
        else per[c]++;
    }
    FZ_CHECK(st.live_bytes == live);
    FZ_CHECK(st.large_blocks == large);
    for (int c = 0; c < POOL_NCLASSES; c++) FZ_CHECK(st.classes[c].live_blocks == per[c]);
}

/* Allocate into an empty slot through one of the allocation calls. */
static void fz_alloc(fz_input_t *in, unsigned op) {
    int k = fz_empty(in);
    size_t n = fz_size(in);
    unsigned seed = fz_byte(in);
    if (k < 0) return;
    int hi = op >= 3 ? (int)(fz_byte(in) % FZ_HEAPS) : FZ_PROCESS;
    if (hi != FZ_PROCESS && !heaps[hi].h) return;
    pool_heap_t *h = hi == FZ_PROCESS ? NULL : heaps[hi].h;
    size_t align = 0, count = 1;
    unsigned char *p;
    errno = 0;
    switch (op) {
    case 0: p = pool_malloc(n); break;
    case 1:
        count = 1 + fz_byte(in) % 4;
        p = pool_calloc(count, n);
        break;
    case 2:
        align = (size_t)1 << (fz_byte(in) % 23);
        p = pool_aligned_alloc(align, n);
        break;
    case 3: p = pool_heap_malloc(h, n); break;
    default:
        count = 1 + fz_byte(in) % 4;
        p = pool_heap_calloc(h, count, n);
        break;
    }
    size_t total = count * n;
    if (count > 1 && total / count != n) total = SIZE_MAX;
    if (!p) {
        FZ_CHECK(fz_may_fail(hi, total) && errno == ENOMEM);
        return;
    }
    FZ_CHECK(!fz_absurd(total));
    if (op == 1 || op == 4) fz_verify_zero(p, total);
    fz_take(k, p, total, align, hi, seed);
}

static void fz_realloc(fz_input_t *in) {
    int k = fz_live(in);
    size_t n = fz_size(in);
    unsigned seed = fz_byte(in);
    if (k < 0) return;
    fz_slot_t *s = &slots[k];
    fz_heap_t *hp = s->heap == FZ_PROCESS ? NULL : &heaps[s->heap];
    errno = 0;
    unsigned char *q = !hp ? pool_realloc(s->p, n)
                     : hp->sized ? pool_heap_realloc_sized(hp->h, s->p, s->n, n)
                     : pool_heap_realloc(hp->h, s->p, n);
    if (!q) {
        FZ_CHECK(fz_may_fail(s->heap, n) && errno == ENOMEM);
        fz_verify(s, s->n);  /* a failed realloc leaves the block as it was */
        return;
    }
    size_t keep = s->n < n ? s->n : n;
    fz_slot_t old = *s;
    old.p = q;
    fz_verify(&old, keep);
    s->p = NULL;
    fz_take(k, q, n, 0, old.heap, seed);
}

static void fz_heap_new(fz_input_t *in) {
    int hi = (int)(fz_byte(in) % FZ_HEAPS);
    unsigned flags = fz_byte(in);
    if (heaps[hi].h) return;
    pool_heap_options_t o = { .sized = (int)(flags & 1), .debug = (int)((flags >> 1) & 1), .name = "fuzz" };
    if (flags & 4) o.limit = (size_t)(fz_byte(in) + 1) << 10;
    heaps[hi] = (fz_heap_t){ pool_heap_new(&o), o.sized, o.debug, o.limit };
    FZ_CHECK(heaps[hi].h != NULL);
    /* POOL_DEBUG=1 makes every heap a debug heap. */
    if (getenv("POOL_DEBUG")) heaps[hi].debug = 1;
}

/* Destroying a heap releases its blocks, live or not: drop them. */
static void fz_heap_destroy(int hi) {
    if (!heaps[hi].h) return;
    for (int k = 0; k < FZ_SLOTS; k++)
        if (slots[k].p && slots[k].heap == hi) {
            fz_verify(&slots[k], slots[k].n);
            slots[k].p = NULL;
        }
    pool_heap_destroy(heaps[hi].h);
    heaps[hi].h = NULL;
}

static void fz_probe(fz_input_t *in) {
    int k = fz_live(in);
    int local = 0;
    FZ_CHECK(!pool_owns(&local) && !pool_owns(slots) && !pool_owns(NULL));
    if (k < 0) return;
    fz_slot_t *s = &slots[k];
    size_t off = s->n ? fz_byte(in) % s->n : 0;
    FZ_CHECK(pool_owns(s->p + off));
    FZ_CHECK(pool_usable_size(s->p) >= s->n);
    fz_verify(s, s->n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    fz_input_t in = { data, len, 0 };
    int steps = 0;
    if (!fz_pat[0]) fz_init_pattern();
    while (in.pos < in.len && steps++ < 2000) {
        unsigned op = fz_byte(&in) % 13;
        switch (op) {
        case 0: case 1: case 2: case 3: case 4: fz_alloc(&in, op); break;
        case 5: fz_realloc(&in); break;
        case 6: case 7: {
            int k = fz_live(&in);
            if (k >= 0) fz_free_slot(k);
            break;
        }
        case 8: fz_heap_new(&in); break;
        case 9: if (fz_byte(&in) % 4 == 0) fz_heap_destroy((int)(fz_byte(&in) % FZ_HEAPS)); break;
        case 10: if (fz_byte(&in) % 8 == 0) (void)pool_trim(); break;
        case 11: fz_probe(&in); break;
        default: fz_check_heap_stats((int)(fz_byte(&in) % FZ_HEAPS)); break;
        }
    }
    for (int hi = 0; hi < FZ_HEAPS; hi++) fz_check_heap_stats(hi);
    for (int k = 0; k < FZ_SLOTS; k++)
        if (slots[k].p) fz_free_slot(k);
    for (int hi = 0; hi < FZ_HEAPS; hi++) {
        fz_check_heap_stats(hi);
        fz_heap_destroy(hi);
    }
    return 0;
}
