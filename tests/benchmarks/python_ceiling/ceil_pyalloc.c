/*
** ceil_pyalloc.c -- the Python allocator ceiling (issue 15): the cheapest
** PyMemAllocatorEx there could be, for the MEM and OBJ domains.
** An experiment, not part of libpool: no checks, no counters, nothing ever
** returned to the OS.  Built and loaded by ceiling.py (ctypes).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define CEIL_STEP   16                      /* pymalloc's size step */
#define CEIL_MAX    512                     /* pymalloc's small-request limit */
#define CEIL_NCLASS (CEIL_MAX / CEIL_STEP + 1)
#define CEIL_RUN    ((uintptr_t)16 << 10)   /* a class's run: pymalloc's pool size */
#define CEIL_SPAN   ((uintptr_t)4 << 30)    /* the one reservation */
#define CEIL_NRUN   (CEIL_SPAN / CEIL_RUN)

typedef struct ceil_free { struct ceil_free *next; } ceil_free;

static uintptr_t ceil_base;                  /* start of the reservation */
static uintptr_t ceil_top;                   /* next run not yet handed to a class */
static ceil_free *ceil_list[CEIL_NCLASS];    /* LIFO of freed blocks per class */
static uintptr_t ceil_bump[CEIL_NCLASS];     /* next fresh block of the class's run */
static uintptr_t ceil_end[CEIL_NCLASS];      /* end of that run */
static unsigned char ceil_class[CEIL_NRUN];  /* class of every run (free finds a block's size) */
static PyMemAllocatorEx ceil_prev[3];        /* the allocators found (pymalloc) */
static PyMemAllocatorEx ceil_raw;            /* the raw domain: requests over 512 B */
static int ceil_domain[2] = { PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ };

/* Slow path: a class's run is used up; hand it the next 16 KiB run
** (NULL when the reservation is exhausted). */
static void *ceil_refill(size_t c) {
    if (ceil_top + CEIL_RUN > ceil_base + CEIL_SPAN) return NULL;
    ceil_class[(ceil_top - ceil_base) / CEIL_RUN] = (unsigned char)c;
    ceil_bump[c] = ceil_top + c * CEIL_STEP;
    ceil_end[c] = ceil_top + CEIL_RUN;
    void *p = (void *)ceil_top;
    ceil_top += CEIL_RUN;
    return p;
}

/* A block of class c: the list's head, else the run's bump pointer. */
static inline void *ceil_small(size_t c) {
    ceil_free *f = ceil_list[c];
    if (f) { ceil_list[c] = f->next; return f; }
    uintptr_t b = ceil_bump[c];
    if (b + c * CEIL_STEP <= ceil_end[c]) { ceil_bump[c] = b + c * CEIL_STEP; return (void *)b; }
    return ceil_refill(c);
}

static inline int ceil_ours(void *p) { return (uintptr_t)p - ceil_base < CEIL_SPAN; }

static void *ceil_malloc(void *ctx, size_t n) {
    (void)ctx;
    if (n <= CEIL_MAX) {
        void *p = ceil_small(n ? (n + CEIL_STEP - 1) / CEIL_STEP : 1);
        if (p) return p;
    }
    return ceil_raw.malloc(ceil_raw.ctx, n);
}

static void *ceil_calloc(void *ctx, size_t nelem, size_t size) {
    if (size && nelem > PY_SSIZE_T_MAX / size) return NULL;
    void *p = ceil_malloc(ctx, nelem * size);
    if (p) memset(p, 0, nelem * size);
    return p;
}

/* A block of ours goes on its class's list; any other (pymalloc's from
** before the install, or the raw domain's) to the allocator found. */
static void ceil_freefn(void *ctx, void *p) {
    if (ceil_ours(p)) {
        ceil_free *f = p;
        size_t c = ceil_class[((uintptr_t)p - ceil_base) / CEIL_RUN];
        f->next = ceil_list[c];
        ceil_list[c] = f;
        return;
    }
    PyMemAllocatorEx *prev = ctx;
    prev->free(prev->ctx, p);
}

static void *ceil_realloc(void *ctx, void *p, size_t n) {
    PyMemAllocatorEx *prev = ctx;
    if (!p) return ceil_malloc(ctx, n);
    if (!ceil_ours(p)) return prev->realloc(prev->ctx, p, n);
    size_t have = ceil_class[((uintptr_t)p - ceil_base) / CEIL_RUN] * CEIL_STEP;
    if (n <= have && n > have - CEIL_STEP) return p;
    void *q = ceil_malloc(ctx, n);
    if (!q) return NULL;
    memcpy(q, p, n < have ? n : have);
    ceil_freefn(ctx, p);
    return q;
}

/* Reserves the span and installs the ideal for MEM and OBJ, wrapping the
** allocators found; 0 on success, -1 if the mmap failed. */
int ceil_install(void) {
    void *m = mmap(NULL, CEIL_SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return -1;
    ceil_base = ceil_top = (uintptr_t)m;
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &ceil_raw);
    for (int i = 0; i < 2; i++) {
        int d = ceil_domain[i];
        PyMem_GetAllocator((PyMemAllocatorDomain)d, &ceil_prev[d]);
        PyMemAllocatorEx a = { &ceil_prev[d], ceil_malloc, ceil_calloc, ceil_realloc, ceil_freefn };
        PyMem_SetAllocator((PyMemAllocatorDomain)d, &a);
    }
    return 0;
}
