/*
** _poolalloc.c -- poolalloc._poolalloc: libpool as CPython's allocator.
**
** A PyMemAllocatorEx per domain (raw, mem, obj) that wraps the allocator it
** finds there, as CPython requires after start-up.  Each domain is in one
** of two modes:
**   pool     new blocks come from libpool;
**   forward  new blocks come from the previous allocator.
** In both modes free and realloc decide each pointer's owner in O(1),
** reading only libpool's memory (pyd_is_block): pool blocks go to libpool,
** every other block to the previous allocator of the domain being called,
** with that allocator's own ctx -- exactly where CPython would have sent it
** without us.  The wrap is made once, for all domains, and never
** undone: uninstall() only switches every domain to forward mode, so pool
** blocks still alive keep reaching libpool (the forwarding shim), and a
** second install() switches back without wrapping twice.
**
** Under CPython's debug hooks (PYTHONMALLOC=debug, pymalloc_debug,
** malloc_debug, -X dev, or PyMem_SetupDebugHooks() by an embedder) we wrap
** the allocator beneath the hooks instead, and the hooks stay on top of us,
** checking every block (pyd_debug_api, pyd_wrap).
**
** Thread safety: libpool is thread-safe; the modes are atomics; `prev` is
** written once, before our functions are installed, and never again.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define PYD_NDOMAINS 3
#define PYD_IS_BLOCK_CAPSULE "poolalloc._poolalloc._is_block_capsule"
#define PYD_MODE_FORWARD 0
#define PYD_MODE_POOL 1

#if defined(__GNUC__)
#define PYD_LIKELY(x) __builtin_expect(!!(x), 1)
#define PYD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PYD_LIKELY(x) (x)
#define PYD_UNLIKELY(x) (x)
#endif

#ifdef Py_GIL_DISABLED
/* Free-threaded CPython allocates objects with its own mimalloc heaps (the
** GC walks them), so the obj domain is left alone there. */
#define PYD_GIL_DISABLED 1
#else
#define PYD_GIL_DISABLED 0
#endif

typedef struct pyd_domain {
    PyMemAllocatorEx prev;      /* what we wrapped; fixed once wrapped */
    _Atomic int mode;           /* PYD_MODE_* */
} pyd_domain_t;

static pyd_domain_t pyd_dom[PYD_NDOMAINS];
static int pyd_wrapped;                         /* under pyd_lock */
static int pyd_below_hooks;                     /* wrapped beneath the debug hooks; under pyd_lock */
static pthread_mutex_t pyd_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(unsigned long long) pyd_foreign_frees;

/* Whether domain d serves new blocks from the pool now. */
#define PYD_POOL(d) (atomic_load_explicit(&pyd_dom[d].mode, memory_order_relaxed) == PYD_MODE_POOL)

/* ---- the allocator functions, one set per domain ---- */

/* Whether p is the start of a block libpool handed out.  pool_owns() is
** not enough: it is true anywhere inside a pool block, and a foreign
** allocator may carve its blocks out of ours (the debug hooks over pymalloc
** put a header in front of a block pymalloc took from PyMem_RawMalloc,
** which is us), so their pointers are interior pointers of pool blocks and
** must go back to them.  pool_free_block() makes the same test. */
#define pyd_is_block(p) pool_is_block(p)

/* A pool block in forward mode moves to the previous allocator on realloc,
** so the pool drains after uninstall(). */
static void *pyd_move_out(pyd_domain_t *dom, void *p, size_t n) {
    void *q = dom->prev.malloc(dom->prev.ctx, n);
    if (!q) return NULL;
    size_t old = pool_usable_size(p);
    memcpy(q, p, old < n ? old : n);
    pool_free(p);
    return q;
}

/* Foreign realloc: the block stays with the allocator that made it (its
** size cannot be known without reading its memory). */
static void *pyd_realloc_in(int d, void *p, size_t n) {
    pyd_domain_t *dom = &pyd_dom[d];
    if (p == NULL) return PYD_POOL(d) ? pool_malloc(n) : dom->prev.malloc(dom->prev.ctx, n);
    if (pyd_is_block(p)) return PYD_POOL(d) ? pool_realloc(p, n) : pyd_move_out(dom, p, n);
    return dom->prev.realloc(dom->prev.ctx, p, n);
}

/* A block we do not own goes back to the domain's previous allocator;
** frees of foreign blocks made while the domain serves from the pool are
** counted (foreign_frees). */
static void pyd_free_foreign(int d, void *p) {
    pyd_domain_t *dom = &pyd_dom[d];
    if (PYD_POOL(d)) atomic_fetch_add_explicit(&pyd_foreign_frees, 1, memory_order_relaxed);
    dom->prev.free(dom->prev.ctx, p);
}

#define PYD_DOMAIN_FUNCS(D, name)                                                          \
    static void *name##_malloc(void *ctx, size_t n) {                                      \
        (void)ctx;                                                                         \
        if (PYD_LIKELY(PYD_POOL(D))) return pool_malloc(n);                                \
        return pyd_dom[D].prev.malloc(pyd_dom[D].prev.ctx, n);                             \
    }                                                                                      \
    static void *name##_calloc(void *ctx, size_t count, size_t n) {                        \
        (void)ctx;                                                                         \
        if (PYD_LIKELY(PYD_POOL(D))) return pool_calloc(count, n);                         \
        return pyd_dom[D].prev.calloc(pyd_dom[D].prev.ctx, count, n);                      \
    }                                                                                      \
    static void *name##_realloc(void *ctx, void *p, size_t n) {                            \
        (void)ctx;                                                                         \
        return pyd_realloc_in(D, p, n);                                                    \
    }                                                                                      \
    static void name##_free(void *ctx, void *p) {                                          \
        (void)ctx;                                                                         \
        if (PYD_UNLIKELY(!pool_free_block(p)) && p) pyd_free_foreign(D, p);               \
    }

PYD_DOMAIN_FUNCS(PYMEM_DOMAIN_RAW, pyd_raw)
PYD_DOMAIN_FUNCS(PYMEM_DOMAIN_MEM, pyd_mem)
PYD_DOMAIN_FUNCS(PYMEM_DOMAIN_OBJ, pyd_obj)

static const PyMemAllocatorEx pyd_ours[PYD_NDOMAINS] = {
    { &pyd_dom[PYMEM_DOMAIN_RAW], pyd_raw_malloc, pyd_raw_calloc, pyd_raw_realloc, pyd_raw_free },
    { &pyd_dom[PYMEM_DOMAIN_MEM], pyd_mem_malloc, pyd_mem_calloc, pyd_mem_realloc, pyd_mem_free },
    { &pyd_dom[PYMEM_DOMAIN_OBJ], pyd_obj_malloc, pyd_obj_calloc, pyd_obj_realloc, pyd_obj_free },
};

/* Domains we may wrap: all but obj on free-threaded builds. */
static int pyd_wrappable(int d) { return !(PYD_GIL_DISABLED && d == PYMEM_DOMAIN_OBJ); }

/* The ctx of CPython's debug hook of each domain: one of three consecutive
** structs tagged 'r', 'm', 'o', holding the allocator the hook wraps
** (debug_alloc_api_t in Objects/obmalloc.c, 3.8 to 3.13; not exported). */
typedef struct pyd_debug_api {
    char api_id;
    PyMemAllocatorEx alloc;
} pyd_debug_api_t;

/* The debug hooks' ctx array if `cur` (each domain's allocator now) is
** CPython's debug hooks on top of all three domains, else NULL.  They are
** recognised by their shape, read only after every pointer test passes:
** the three ctx consecutive, mem and obj sharing their four functions and
** raw having others, the tags right.  (tracemalloc's ctx, say, are in the
** order mem, raw, obj; pymalloc's and malloc's are NULL.) */
static pyd_debug_api_t *pyd_debug_api(const PyMemAllocatorEx cur[PYD_NDOMAINS]) {
    const PyMemAllocatorEx *raw = &cur[PYMEM_DOMAIN_RAW], *mem = &cur[PYMEM_DOMAIN_MEM], *obj = &cur[PYMEM_DOMAIN_OBJ];
    pyd_debug_api_t *api = raw->ctx;
    if (!api || mem->ctx != (void *)(api + 1) || obj->ctx != (void *)(api + 2)) return NULL;
    if (mem->malloc != obj->malloc || mem->calloc != obj->calloc || mem->realloc != obj->realloc ||
        mem->free != obj->free || raw->malloc == mem->malloc || raw->free == mem->free)
        return NULL;
    return api[0].api_id == 'r' && api[1].api_id == 'm' && api[2].api_id == 'o' ? api : NULL;
}

/* Wrap every wrappable domain once, in forward mode.  Under the debug
** hooks, wrap what each hook wraps, then let PyMem_SetupDebugHooks() put the
** same hooks (same functions, same ctx) back on top of us: blocks they made
** before reach us without their header, not pool blocks, and go to that
** allocator.  pyd_lock held. */
static void pyd_wrap(void) {
    if (pyd_wrapped) return;
    PyMemAllocatorEx cur[PYD_NDOMAINS];
    for (int d = 0; d < PYD_NDOMAINS; d++) PyMem_GetAllocator((PyMemAllocatorDomain)d, &cur[d]);
    pyd_debug_api_t *hooks = pyd_debug_api(cur);
    for (int d = 0; d < PYD_NDOMAINS; d++) {
        if (!pyd_wrappable(d)) continue;
        pyd_dom[d].prev = hooks ? hooks[d].alloc : cur[d];
        atomic_store(&pyd_dom[d].mode, PYD_MODE_FORWARD);
        PyMemAllocatorEx ours = pyd_ours[d];
        PyMem_SetAllocator((PyMemAllocatorDomain)d, &ours);
    }
    if (hooks) {
        PyMem_SetupDebugHooks();
        for (int d = 0; d < PYD_NDOMAINS; d++) {
            PyMemAllocatorEx now;
            PyMem_GetAllocator((PyMemAllocatorDomain)d, &now);
            if (memcmp(&now, &cur[d], sizeof now) != 0)
                Py_FatalError("poolalloc: PyMem_SetupDebugHooks() did not restore the debug hooks it found");
        }
    }
    pyd_below_hooks = hooks != NULL;
    pyd_wrapped = 1;
}

/* ---- the direct functions: libpool's own, for mem and obj in pool mode ----
** Those two domains are only called with the GIL held, as is uninstall(),
** so while they serve from the pool their allocator can be libpool's
** pool_fallback_* functions themselves, with no shim: a pool_fallback_t per
** domain sends other allocators' blocks to the previous allocator (free
** counted in foreign_frees).  uninstall() puts the shim back.  raw (called
** without the GIL, where an allocator cannot be swapped safely) and a
** domain under the debug hooks keep the shim. */
static void *pyd_fb_realloc(void *ctx, void *p, size_t n) {
    pyd_domain_t *dom = ctx;
    return dom->prev.realloc(dom->prev.ctx, p, n);
}

static void pyd_fb_free(void *ctx, void *p) {
    pyd_domain_t *dom = ctx;
    atomic_fetch_add_explicit(&pyd_foreign_frees, 1, memory_order_relaxed);
    dom->prev.free(dom->prev.ctx, p);
}

static pool_fallback_t pyd_fb[PYD_NDOMAINS] = {
    { &pyd_dom[PYMEM_DOMAIN_RAW], NULL, NULL, pyd_fb_realloc, pyd_fb_free },
    { &pyd_dom[PYMEM_DOMAIN_MEM], NULL, NULL, pyd_fb_realloc, pyd_fb_free },
    { &pyd_dom[PYMEM_DOMAIN_OBJ], NULL, NULL, pyd_fb_realloc, pyd_fb_free },
};

static int pyd_direct;                          /* mem and obj run the direct functions; under pyd_lock */

/* Whether domain d may run the direct functions now. */
static int pyd_directable(int d) { return d != PYMEM_DOMAIN_RAW && pyd_wrappable(d) && !pyd_below_hooks; }

/* Set the allocator of every directable domain in `mask`: libpool's own
** functions (direct), else the shim.  pyd_lock and the GIL held. */
static void pyd_set_direct(int mask, int direct) {
    for (int d = 0; d < PYD_NDOMAINS; d++) {
        if (!(mask & (1 << d)) || !pyd_directable(d)) continue;
        PyMemAllocatorEx a = pyd_ours[d];
        if (direct) a = (PyMemAllocatorEx){ &pyd_fb[d], pool_fallback_malloc, pool_fallback_calloc,
                                            pool_fallback_realloc, pool_fallback_free };
        PyMem_SetAllocator((PyMemAllocatorDomain)d, &a);
    }
    pyd_direct = direct ? mask : 0;
}

/* Bit mask of the domains serving from the pool. */
static int pyd_pool_mask(void) {
    int mask = 0;
    for (int d = 0; d < PYD_NDOMAINS; d++)
        if (PYD_POOL(d)) mask |= 1 << d;
    return mask;
}

/* ---- module functions ---- */

/* Argument that must be a mask of domain bits; ValueError otherwise. */
static int pyd_mask_arg(PyObject *arg, int *mask) {
    long m = PyLong_AsLong(arg);
    if (m == -1 && PyErr_Occurred()) return -1;
    if (m <= 0 || m >= (1 << PYD_NDOMAINS)) {
        PyErr_Format(PyExc_ValueError, "domain mask must be in 1..%d, not %ld", (1 << PYD_NDOMAINS) - 1, m);
        return -1;
    }
    if (PYD_GIL_DISABLED && (m & (1 << PYMEM_DOMAIN_OBJ))) {
        PyErr_SetString(PyExc_ValueError,
                        "poolalloc cannot serve the 'obj' domain on a free-threaded build (Py_GIL_DISABLED): "
                        "CPython needs its own mimalloc for objects; use domains ('raw', 'mem')");
        return -1;
    }
    *mask = (int)m;
    return 0;
}

PyDoc_STRVAR(pyd_install_doc, "_install(mask) -> bool\n\n"
             "Serve the domains of bit mask `mask` (1 raw, 2 mem, 4 obj) from the pool.\n"
             "Returns False (and changes nothing) if some domain already does.");

static PyObject *pyd_install(PyObject *self, PyObject *arg) {
    int mask;
    if (pyd_mask_arg(arg, &mask) < 0) return NULL;
    pthread_mutex_lock(&pyd_lock);
    int changed = pyd_pool_mask() == 0;
    if (changed) {
        pyd_wrap();
        for (int d = 0; d < PYD_NDOMAINS; d++)
            if (mask & (1 << d)) atomic_store(&pyd_dom[d].mode, PYD_MODE_POOL);
        pyd_set_direct(mask, 1);
    }
    pthread_mutex_unlock(&pyd_lock);
    return PyBool_FromLong(changed);
}

PyDoc_STRVAR(pyd_uninstall_doc, "_uninstall() -> bool\n\n"
             "New blocks come from the previous allocators again; pool blocks still\n"
             "alive keep being freed by the pool.  Returns whether anything changed.");

static PyObject *pyd_uninstall(PyObject *self, PyObject *unused) {
    pthread_mutex_lock(&pyd_lock);
    int changed = pyd_pool_mask() != 0;
    pyd_set_direct(pyd_direct, 0);
    for (int d = 0; d < PYD_NDOMAINS; d++) atomic_store(&pyd_dom[d].mode, PYD_MODE_FORWARD);
    pthread_mutex_unlock(&pyd_lock);
    return PyBool_FromLong(changed);
}

PyDoc_STRVAR(pyd_domains_doc, "_domains() -> int\n\nBit mask of the domains served from the pool now.");

static PyObject *pyd_domains(PyObject *self, PyObject *unused) { return PyLong_FromLong(pyd_pool_mask()); }

static PyObject *pyd_is_wrapped(PyObject *self, PyObject *unused) {
    pthread_mutex_lock(&pyd_lock);
    int w = pyd_wrapped;
    pthread_mutex_unlock(&pyd_lock);
    return PyBool_FromLong(w);
}

static PyObject *pyd_debug_hooks(PyObject *self, PyObject *unused) {
    pthread_mutex_lock(&pyd_lock);
    int b = pyd_below_hooks;
    pthread_mutex_unlock(&pyd_lock);
    return PyBool_FromLong(b);
}

PyDoc_STRVAR(pyd_set_limit_doc, "_set_limit(nbytes) -> int\n\n"
             "pool_set_limit(): cap the bytes the pool has in use from the OS (0: no cap).\n"
             "Returns the previous cap.");

static PyObject *pyd_set_limit(PyObject *self, PyObject *arg) {
    if (!PyLong_Check(arg)) return PyErr_Format(PyExc_ValueError, "limit must be an int, not %.100s", Py_TYPE(arg)->tp_name);
    PyObject *zero = PyLong_FromLong(0);
    int negative = zero ? PyObject_RichCompareBool(arg, zero, Py_LT) : -1;
    Py_XDECREF(zero);
    if (negative < 0) return NULL;
    if (negative) return PyErr_Format(PyExc_ValueError, "limit must be >= 0, not %R", arg);
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    return PyLong_FromSize_t(pool_set_limit(n));
}

static PyObject *pyd_get_limit(PyObject *self, PyObject *unused) { return PyLong_FromSize_t(pool_get_limit()); }

/* d[key] = value (a new reference, consumed); -1 on error. */
static int pyd_put(PyObject *d, const char *key, PyObject *value) {
    if (!value) return -1;
    int r = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return r;
}

#define PYD_PUT_SIZE(d, st, f) pyd_put((d), #f, PyLong_FromSize_t((st)->f))
#define PYD_PUT_U64(d, st, f) pyd_put((d), #f, PyLong_FromUnsignedLongLong((unsigned long long)(st)->f))

/* One size class as a dict. */
static PyObject *pyd_class_dict(const pool_class_stats_t *cs) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (PYD_PUT_SIZE(d, cs, size) < 0 || PYD_PUT_SIZE(d, cs, live_blocks) < 0 || PYD_PUT_SIZE(d, cs, free_blocks) < 0 ||
        PYD_PUT_SIZE(d, cs, pages) < 0 || PYD_PUT_U64(d, cs, allocs) < 0 || PYD_PUT_U64(d, cs, frees) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

PyDoc_STRVAR(pyd_stats_doc, "stats() -> dict\n\n"
             "The process pool's statistics (pool_stats) plus foreign_frees: the frees of\n"
             "blocks handed back to the previous allocator while serving from the pool.\n"
             "classes is a list of per-size-class dicts.");

/* The dict of stats() for a snapshot. */
static PyObject *pyd_stats_dict(const pool_stats_t *st) {
    PyObject *d = PyDict_New(), *classes = PyList_New(0);
    if (!d || !classes) goto fail;
    if (PYD_PUT_SIZE(d, st, live_bytes) < 0 || PYD_PUT_SIZE(d, st, peak_bytes) < 0 ||
        PYD_PUT_SIZE(d, st, reserved_bytes) < 0 || PYD_PUT_SIZE(d, st, committed_bytes) < 0 ||
        PYD_PUT_U64(d, st, allocs) < 0 || PYD_PUT_U64(d, st, frees) < 0 || PYD_PUT_U64(d, st, reallocs) < 0 ||
        PYD_PUT_SIZE(d, st, large_blocks) < 0 || PYD_PUT_SIZE(d, st, large_bytes) < 0 ||
        PYD_PUT_U64(d, st, large_alloc_bytes) < 0 ||
        PYD_PUT_U64(d, st, mmap_calls) < 0 || PYD_PUT_U64(d, st, munmap_calls) < 0 ||
        PYD_PUT_U64(d, st, madvise_calls) < 0 || PYD_PUT_U64(d, st, lock_acquires) < 0 || PYD_PUT_SIZE(d, st, heaps) < 0 ||
        pyd_put(d, "foreign_frees", PyLong_FromUnsignedLongLong(atomic_load(&pyd_foreign_frees))) < 0 ||
        pyd_put(d, "limit", PyLong_FromSize_t(pool_get_limit())) < 0)
        goto fail;
    for (unsigned c = 0; c < st->nclasses && c < POOL_NCLASSES; c++) {
        PyObject *cd = pyd_class_dict(&st->classes[c]);
        if (!cd || PyList_Append(classes, cd) < 0) { Py_XDECREF(cd); goto fail; }
        Py_DECREF(cd);
    }
    if (PyDict_SetItemString(d, "classes", classes) < 0) goto fail;
    Py_DECREF(classes);
    return d;
fail:
    Py_XDECREF(classes);
    Py_XDECREF(d);
    return NULL;
}

static PyObject *pyd_stats(PyObject *self, PyObject *unused) {
    pool_stats_t st;
    if (pool_stats(&st) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    return pyd_stats_dict(&st);
}

PyDoc_STRVAR(pyd_reset_peak_doc, "reset_peak()\n\nRestart peak_bytes from the bytes live now.");

static PyObject *pyd_reset_peak(PyObject *self, PyObject *unused) {
    pool_reset_peak();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(pyd_peak_stats_doc, "peak_stats() -> dict\n\n"
             "live_bytes, peak_bytes, allocs and frees of stats(), without its per-class\n"
             "dicts: cheap enough to read around every test (the pytest plugin does).");

/* The four totals a per-test measure needs: one pool_stats, one small dict
** (stats() builds 48 class dicts, about 300 times the cost). */
static PyObject *pyd_peak_stats(PyObject *self, PyObject *unused) {
    pool_stats_t st;
    if (pool_stats(&st) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    return Py_BuildValue("{s:K,s:K,s:K,s:K}", "live_bytes", (unsigned long long)st.live_bytes, "peak_bytes",
                         (unsigned long long)st.peak_bytes, "allocs", (unsigned long long)st.allocs, "frees",
                         (unsigned long long)st.frees);
}

PyDoc_STRVAR(pyd_watch_peak_doc, "watch_peak() -> dict\n\n"
             "reset_peak(), then peak_stats(): the start of a watch; peak_stats()\n"
             "later gives the peak since, and live_bytes here is where it started.");

static PyObject *pyd_watch_peak(PyObject *self, PyObject *unused) {
    pool_reset_peak();
    return pyd_peak_stats(self, unused);
}

PyDoc_STRVAR(pyd_report_doc, "report() -> str\n\n"
             "The pool's per-size-class table (pool_stats_report) and the foreign frees:\n"
             "what sys._debugmallocstats() shows for pymalloc.");

/* The report text (pool_stats_report plus foreign_frees), malloc'd; NULL
** with an exception set. */
static char *pyd_report_text(size_t *len) {
    pool_stats_t st;
    if (pool_stats(&st) != 0) { PyErr_SetFromErrno(PyExc_OSError); return NULL; }
    size_t cap = pool_stats_report(&st, NULL, 0) + 128;
    char *buf = malloc(cap);
    if (!buf) { PyErr_NoMemory(); return NULL; }
    size_t n = pool_stats_report(&st, buf, cap);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "  foreign_frees  %14llu\n", atomic_load(&pyd_foreign_frees));
    *len = n < cap ? n : cap - 1;
    return buf;
}

static PyObject *pyd_report(PyObject *self, PyObject *unused) {
    size_t n;
    char *buf = pyd_report_text(&n);
    if (!buf) return NULL;
    PyObject *s = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, "replace");
    free(buf);
    return s;
}

PyDoc_STRVAR(pyd_print_report_doc, "_print_report()\n\n"
             "Write the report to the C stderr, headed the way sys._debugmallocstats()\n"
             "heads pymalloc's (which it omits for any other allocator).");

static PyObject *pyd_print_report(PyObject *self, PyObject *unused) {
    size_t n;
    char *buf = pyd_report_text(&n);
    if (!buf) return NULL;
    fprintf(stderr, "Small block threshold = %zu, in %d size classes (poolalloc).\n", (size_t)POOL_MAX_CLASS_SIZE,
            POOL_NCLASSES);
    fwrite(buf, 1, n, stderr);
    fflush(stderr);
    free(buf);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(pyd_page_map_doc, "page_map() -> list\n\n"
             "One dict per page (pool_page_map): address, bytes, cls, block_size,\n"
             "capacity, used, segment, owner (0: orphaned, else a heap id), cached (True:\n"
             "an empty page its heap keeps for reuse, which no class's stats count).");

/* The page map in a libc-malloc'd buffer (so the snapshot does not see
** it); NULL with MemoryError set. */
static pool_page_info_t *pyd_map_snapshot(size_t *count) {
    size_t max = pool_page_map(NULL, 0) + 64, n;
    pool_page_info_t *recs = NULL;
    for (;;) {
        free(recs);
        recs = malloc(max * sizeof *recs);
        if (!recs) { PyErr_NoMemory(); return NULL; }
        n = pool_page_map(recs, max);
        if (n <= max) break;
        max = n + 64;
    }
    *count = n;
    return recs;
}

/* The records as a list of dicts; frees recs. */
static PyObject *pyd_map_list(pool_page_info_t *recs, size_t n) {
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < n; i++) {
        const pool_page_info_t *r = &recs[i];
        PyObject *d = Py_BuildValue("{s:N,s:n,s:i,s:I,s:I,s:I,s:I,s:I,s:O}", "address", PyLong_FromSize_t(r->address),
                                    "bytes", (Py_ssize_t)r->bytes, "cls", r->cls, "block_size", r->block_size,
                                    "capacity", r->capacity, "used", r->used, "segment", r->segment, "owner", r->owner,
                                    "cached", r->cached ? Py_True : Py_False);
        if (!d || PyList_Append(list, d) < 0) Py_CLEAR(list);
        Py_XDECREF(d);
    }
    free(recs);
    return list;
}

static PyObject *pyd_page_map(PyObject *self, PyObject *unused) {
    size_t n;
    pool_page_info_t *recs = pyd_map_snapshot(&n);
    return recs ? pyd_map_list(recs, n) : NULL;
}

PyDoc_STRVAR(pyd_page_map_stats_doc, "page_map_stats() -> (page_map, stats)\n\n"
             "page_map() and stats() taken together, before either result allocates:\n"
             "in a single-threaded program they agree exactly (the pages and live blocks\n"
             "of each class).");

static PyObject *pyd_page_map_stats(PyObject *self, PyObject *unused) {
    size_t n;
    pool_stats_t st;
    pool_page_info_t *recs = pyd_map_snapshot(&n);
    if (!recs) return NULL;
    if (pool_stats(&st) != 0) { free(recs); return PyErr_SetFromErrno(PyExc_OSError); }
    PyObject *list = pyd_map_list(recs, n), *d = list ? pyd_stats_dict(&st) : NULL;
    if (!d) { Py_XDECREF(list); return NULL; }
    return Py_BuildValue("(NN)", list, d);
}

PyDoc_STRVAR(pyd_owns_doc, "_owns(address) -> bool\n\n"
             "pool_owns(): whether the address lies in a block of libpool.");

static PyObject *pyd_owns(PyObject *self, PyObject *arg) {
    void *p = PyLong_AsVoidPtr(arg);
    if (!p && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(pool_owns(p));
}

PyDoc_STRVAR(pyd_is_block_doc, "_is_block(address) -> bool\n\n"
             "Whether the address is the start of a libpool block: the test free and\n"
             "realloc use to pick the pool or the previous allocator.");

static PyObject *pyd_is_block_py(PyObject *self, PyObject *arg) {
    void *p = PyLong_AsVoidPtr(arg);
    if (!p && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(pyd_is_block(p));
}

/* ---- module ---- */

static PyMethodDef pyd_methods[] = {
    { "_install", pyd_install, METH_O, pyd_install_doc },
    { "_uninstall", pyd_uninstall, METH_NOARGS, pyd_uninstall_doc },
    { "_domains", pyd_domains, METH_NOARGS, pyd_domains_doc },
    { "_wrapped", pyd_is_wrapped, METH_NOARGS, "_wrapped() -> bool\n\nWhether our functions wrap CPython's (since the first install)." },
    { "_debug_hooks", pyd_debug_hooks, METH_NOARGS,
      "_debug_hooks() -> bool\n\nWhether our functions sit beneath CPython's debug hooks (on top when we wrapped)." },
    { "_set_limit", pyd_set_limit, METH_O, pyd_set_limit_doc },
    { "_get_limit", pyd_get_limit, METH_NOARGS, "_get_limit() -> int\n\nThe pool's cap (0: none)." },
    { "stats", pyd_stats, METH_NOARGS, pyd_stats_doc },
    { "reset_peak", pyd_reset_peak, METH_NOARGS, pyd_reset_peak_doc },
    { "peak_stats", pyd_peak_stats, METH_NOARGS, pyd_peak_stats_doc },
    { "watch_peak", pyd_watch_peak, METH_NOARGS, pyd_watch_peak_doc },
    { "report", pyd_report, METH_NOARGS, pyd_report_doc },
    { "_print_report", pyd_print_report, METH_NOARGS, pyd_print_report_doc },
    { "page_map", pyd_page_map, METH_NOARGS, pyd_page_map_doc },
    { "page_map_stats", pyd_page_map_stats, METH_NOARGS, pyd_page_map_stats_doc },
    { "_owns", pyd_owns, METH_O, pyd_owns_doc },
    { "_is_block", pyd_is_block_py, METH_O, pyd_is_block_doc },
    { NULL, NULL, 0, NULL },
};

/* Constants describing this build. */
static int pyd_exec(PyObject *m) {
    if (PyModule_AddStringConstant(m, "POOL_VERSION", POOL_VERSION) < 0) return -1;
    if (PyModule_AddIntConstant(m, "GIL_DISABLED", PYD_GIL_DISABLED) < 0) return -1;
    if (PyModule_AddIntConstant(m, "NCLASSES", POOL_NCLASSES) < 0) return -1;
    if (PyModule_AddIntConstant(m, "MAX_CLASS_SIZE", (long)POOL_MAX_CLASS_SIZE) < 0) return -1;
    /* The block-start test as a C function, for C code that checks where
    ** blocks came from without the GIL (the tests' _pooltest). */
    PyObject *cap = PyCapsule_New((void *)pool_is_block, PYD_IS_BLOCK_CAPSULE, NULL);
    if (!cap || PyModule_AddObject(m, "_is_block_capsule", cap) < 0) { Py_XDECREF(cap); return -1; }
    return 0;
}

static PyModuleDef_Slot pyd_slots[] = {
    { Py_mod_exec, (void *)pyd_exec },
#ifdef Py_mod_multiple_interpreters
    /* All state is process-wide C state behind libpool's own locking. */
    { Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED },
#endif
#ifdef Py_mod_gil
    { Py_mod_gil, Py_MOD_GIL_NOT_USED },
#endif
    { 0, NULL },
};

static struct PyModuleDef pyd_module = {
    PyModuleDef_HEAD_INIT,
    "poolalloc._poolalloc",
    "libpool as CPython's PyMemAllocatorEx; see the poolalloc package.",
    0,
    pyd_methods,
    pyd_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__poolalloc(void) { return PyModuleDef_Init(&pyd_module); }
