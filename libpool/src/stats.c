/*
** stats.c -- libpool's statistics: per-heap counters summed when read
** (nothing shared is counted on the fast path), the text report, JSON and
** the page map.
*/
#include <inttypes.h>
#include <stdarg.h>

#include "internal.h"

/* Heap counters of one heap into st (adding).  `live_exact` sums the bytes
** counted exactly (user heaps, large blocks); `derive` collects the
** per-class live blocks of heaps whose bytes are derived from them. */
static void add_heap(pool_stats_t *st, const pa_heap_t *h, int64_t *live_exact, int64_t derive[PA_NCLASSES]) {
    uint64_t lua_allocs[PA_NCLASSES] = {0}, lua_frees[PA_NCLASSES] = {0};
    if (h->lua_open) pa_lua_counts(h, lua_allocs, lua_frees);
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        uint64_t a = PA_CNT_GET(h->count[c].allocs) + lua_allocs[c];
        uint64_t f = PA_CNT_GET(h->count[c].frees) + lua_frees[c];
        st->classes[c].allocs += a;
        st->classes[c].frees += f;
        st->classes[c].pages += (size_t)PA_CNT_GET(h->class_pages[c]);
        st->classes[c].free_blocks += (size_t)PA_CNT_GET(h->class_blocks[c]); /* minus live, below */
        if (h->kind != PA_HEAP_USER) derive[c] += (int64_t)(a - f);
    }
    if (h->kind == PA_HEAP_USER) *live_exact += pa_heap_live(h);
    else *live_exact += PA_CNT_GET(h->large_bytes);
    st->reallocs += PA_CNT_GET(h->reallocs);
    for (unsigned t = 0; t < POOL_NTAGS; t++) st->tags[t] += PA_CNT_GET(h->tags[t]);
    st->allocs += PA_CNT_GET(h->large_allocs);
    st->frees += PA_CNT_GET(h->large_frees);
    st->large_blocks += (size_t)PA_CNT_GET(h->large_blocks);
    st->large_bytes += (size_t)PA_CNT_GET(h->large_bytes);
    st->large_alloc_bytes += PA_CNT_GET(h->large_alloc_bytes);
}

/* Turn summed counters into live/free blocks and bytes. */
static void finish(pool_stats_t *st, int64_t live_exact, const int64_t derive[PA_NCLASSES]) {
    int64_t live = live_exact;
    st->nclasses = PA_NCLASSES;
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        pool_class_stats_t *cs = &st->classes[c];
        cs->size = pa_class_size[c];
        int64_t lb = (int64_t)(cs->allocs - cs->frees);
        cs->live_blocks = lb > 0 ? (size_t)lb : 0;
        cs->free_blocks = cs->free_blocks > cs->live_blocks ? cs->free_blocks - cs->live_blocks : 0;
        st->allocs += cs->allocs;
        st->frees += cs->frees;
        live += derive[c] * (int64_t)pa_class_size[c];
    }
    st->live_bytes = live > 0 ? (size_t)live : 0;
    if (st->live_bytes > st->peak_bytes) st->peak_bytes = st->live_bytes;
}

int pool_stats(pool_stats_t *st) {
    if (!st) { errno = EINVAL; return -1; }
    pa_init();
    memset(st, 0, sizeof *st);
    int64_t live_exact = 0, derive[PA_NCLASSES] = {0};
    uint64_t heap_peak = 0;
    pa_lock();
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        st->classes[c].allocs = pa_g.dead_allocs[c];
        st->classes[c].frees = pa_g.dead_frees[c] + atomic_load(&pa_g.loose_frees[c]);
        st->classes[c].pages = (size_t)pa_g.orphan_pages[c];
        st->classes[c].free_blocks = (size_t)pa_g.orphan_blocks[c];
        derive[c] = (int64_t)(st->classes[c].allocs - st->classes[c].frees);
    }
    live_exact = pa_g.dead_live + pa_g.dead_large_bytes + atomic_load(&pa_g.loose_large_bytes);
    st->reallocs = pa_g.dead_reallocs;
    memcpy(st->tags, pa_g.dead_tags, sizeof st->tags);
    st->allocs = pa_g.dead_large_allocs;
    st->large_alloc_bytes = pa_g.dead_large_alloc_bytes;
    st->frees = pa_g.dead_large_frees + atomic_load(&pa_g.loose_large_frees);
    st->large_blocks = (size_t)(pa_g.dead_large_blocks + atomic_load(&pa_g.loose_large_blocks));
    st->large_bytes = (size_t)(pa_g.dead_large_bytes + atomic_load(&pa_g.loose_large_bytes));
    for (const pa_heap_t *h = pa_g.heaps; h; h = h->next_heap) {
        add_heap(st, h, &live_exact, derive);
        if (PA_CNT_GET(h->peak) > heap_peak) heap_peak = PA_CNT_GET(h->peak);
        st->heaps++;
    }
    st->peak_bytes = atomic_load(&pa_g.peak);
    if (heap_peak > st->peak_bytes) st->peak_bytes = heap_peak;
    finish(st, live_exact, derive);
    atomic_store(&pa_g.peak, st->peak_bytes);
    st->reserved_bytes = (size_t)atomic_load(&pa_g.reserved);
    st->committed_bytes = (size_t)atomic_load(&pa_g.committed);
    st->lock_acquires = pa_g.lock_acquires;
    pa_unlock();
    st->mmap_calls = atomic_load(&pa_g.mmaps);
    st->munmap_calls = atomic_load(&pa_g.munmaps);
    st->madvise_calls = atomic_load(&pa_g.madvises);
    return 0;
}

int pool_heap_stats(const pool_heap_t *heap, pool_stats_t *st) {
    if (!st || !heap) { errno = EINVAL; return -1; }
    const pa_heap_t *h = &heap->h;
    memset(st, 0, sizeof *st);
    int64_t live_exact = 0, derive[PA_NCLASSES] = {0};
    add_heap(st, h, &live_exact, derive);
    st->peak_bytes = PA_CNT_GET(h->peak);
    finish(st, live_exact, derive);
    st->committed_bytes = (size_t)PA_CNT_GET(h->committed) + st->large_bytes;
    st->reserved_bytes = st->committed_bytes;
    st->heaps = 1;
    return 0;
}

void pool_reset_peak(void) {
    pa_init();
    pa_lock();
    for (pa_heap_t *h = pa_g.heaps; h; h = h->next_heap)
        if (h->kind == PA_HEAP_THREAD) PA_CNT_SET(h->peak, 0);
    atomic_store(&pa_g.peak, 0);
    pa_unlock();
    pool_stats_t st;
    pool_stats(&st); /* the peak restarts from what is live now */
}

void pool_heap_reset_peak(pool_heap_t *heap) {
    if (!heap) return;
    pa_heap_t *h = &heap->h;
    int64_t live = pa_heap_live(h);
    PA_CNT_SET(h->peak, live > 0 ? (uint64_t)live : 0);
    pa_heap_rebound(h, live);
}

/* ---- text and JSON ---- */

typedef struct outbuf { char *buf; size_t len, need; } outbuf_t;

/* snprintf into the buffer, counting what the whole output needs. */
__attribute__((format(printf, 2, 3))) static void out(outbuf_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->need < o->len ? o->len - o->need : 0;
    int n = vsnprintf(room ? o->buf + o->need : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->need += (size_t)n;
}

size_t pool_stats_report(const pool_stats_t *st, char *buf, size_t len) {
    outbuf_t o = { buf, buf ? len : 0, 0 }; /* a NULL buffer only measures */
    if (buf && len) buf[0] = 0;
    if (!st) { errno = EINVAL; return 0; }
    out(&o, "poolalloc %s\n", POOL_VERSION);
    out(&o, "  live_bytes     %14zu   peak_bytes      %14zu\n", st->live_bytes, st->peak_bytes);
    out(&o, "  reserved_bytes %14zu   committed_bytes %14zu\n", st->reserved_bytes, st->committed_bytes);
    out(&o, "  allocs         %14" PRIu64 "   frees           %14" PRIu64 "\n", st->allocs, st->frees);
    out(&o, "  reallocs       %14" PRIu64 "   heaps           %14zu\n", st->reallocs, st->heaps);
    out(&o, "  large_blocks   %14zu   large_bytes     %14zu\n", st->large_blocks, st->large_bytes);
    out(&o, "  mmap_calls     %14" PRIu64 "   munmap_calls    %14" PRIu64 "   madvise_calls %" PRIu64 "\n",
        st->mmap_calls, st->munmap_calls, st->madvise_calls);
    out(&o, "  lock_acquires  %14" PRIu64 "\n", st->lock_acquires);
    /* bytes: of the live blocks, size x live_blocks (the leak column) */
    out(&o, "  %5s %7s %12s %12s %7s %14s %14s %14s\n", "class", "size", "live_blocks", "free_blocks", "pages",
        "allocs", "frees", "bytes");
    for (unsigned c = 0; c < st->nclasses && c < POOL_NCLASSES; c++) {
        const pool_class_stats_t *cs = &st->classes[c];
        if (!cs->pages && !cs->allocs) continue;
        out(&o, "  %5u %7zu %12zu %12zu %7zu %14" PRIu64 " %14" PRIu64 " %14zu\n", c, cs->size, cs->live_blocks,
            cs->free_blocks, cs->pages, cs->allocs, cs->frees, cs->size * cs->live_blocks);
    }
    return o.need;
}

size_t pool_stats_json(const pool_stats_t *st, char *buf, size_t len) {
    outbuf_t o = { buf, buf ? len : 0, 0 }; /* a NULL buffer only measures */
    if (buf && len) buf[0] = 0;
    if (!st) { errno = EINVAL; return 0; }
    out(&o, "{\"live_bytes\": %zu, \"peak_bytes\": %zu, \"reserved_bytes\": %zu, \"committed_bytes\": %zu, ",
        st->live_bytes, st->peak_bytes, st->reserved_bytes, st->committed_bytes);
    out(&o, "\"allocs\": %" PRIu64 ", \"frees\": %" PRIu64 ", \"reallocs\": %" PRIu64 ", ", st->allocs, st->frees,
        st->reallocs);
    out(&o, "\"large_blocks\": %zu, \"large_bytes\": %zu, \"mmap_calls\": %" PRIu64 ", \"munmap_calls\": %" PRIu64
        ", \"madvise_calls\": %" PRIu64 ", \"lock_acquires\": %" PRIu64 ", \"heaps\": %zu, \"classes\": [",
        st->large_blocks, st->large_bytes, st->mmap_calls, st->munmap_calls, st->madvise_calls, st->lock_acquires,
        st->heaps);
    for (unsigned c = 0; c < st->nclasses && c < POOL_NCLASSES; c++) {
        const pool_class_stats_t *cs = &st->classes[c];
        out(&o, "%s{\"size\": %zu, \"live_blocks\": %zu, \"free_blocks\": %zu, \"pages\": %zu, \"allocs\": %" PRIu64
            ", \"frees\": %" PRIu64 "}", c ? ", " : "", cs->size, cs->live_blocks, cs->free_blocks, cs->pages,
            cs->allocs, cs->frees);
    }
    out(&o, "]}");
    return o.need;
}

void pool_print_stats(FILE *f) {
    pool_stats_t st;
    char buf[8192];
    if (!f || pool_stats(&st) != 0) return;
    size_t n = pool_stats_report(&st, buf, sizeof buf);
    fwrite(buf, 1, n < sizeof buf ? n : sizeof buf - 1, f);
    fflush(f);
}

size_t pool_page_map(pool_page_info_t *outp, size_t max) {
    pa_init();
    size_t n = 0;
    pa_lock();
    for (pa_segment_t *s = pa_g.segments; s; s = s->next) {
        pa_segment_lock(s);
        for (unsigned i = 1; i < PA_SLICES; i++) {
            pa_page_t *pg = s->slice_page[i];
            if (pg == &pa_empty_page || pg->index != i) continue;
            if (outp && n < max) {
                pa_heap_t *o = atomic_load_explicit(&pg->owner, memory_order_relaxed);
                pool_page_info_t *r = &outp[n];
                r->address = (uintptr_t)pg->start;
                r->bytes = (size_t)pg->slices * PA_SLICE_SIZE;
                r->cls = pg->cls;
                r->block_size = pg->block_size;
                r->capacity = pg->reserved;
                r->used = PA_CNT_GET(pg->used);
                r->segment = s->id;
                r->owner = o ? o->id : 0;
                r->cached = __atomic_load_n(&pg->cached, __ATOMIC_RELAXED);
            }
            n++;
        }
        pa_segment_unlock(s);
    }
    pa_unlock();
    return n;
}
