/*
** _pooltest.c -- _pooltest: test-only helpers for poolalloc's Python tests,
** built by the tests (pyproc.pooltest_dir) and never shipped, as CPython
** keeps its own in _testcapi.  They call PyMem_Raw*, PyMem_* and
** PyObject_* on raw addresses in a chosen domain, fill and check byte
** patterns, and race threads on the raw domain without the GIL.  Whether a
** block came from libpool is asked of the installed poolalloc._poolalloc
** through its capsule (pool_is_block), so both see one pool.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PT_NDOMAINS 3
static const char *const pt_names[PT_NDOMAINS] = { "raw", "mem", "obj" };

/* pool_is_block of poolalloc._poolalloc; set when this module loads. */
static int (*pt_is_block_fn)(const void *);
#define pt_is_block(p) pt_is_block_fn(p)

/* ---- raw block operations through a chosen domain ---- */

/* Domain named by a str argument; -1 with ValueError otherwise. */
static int pt_domain_arg(const char *name) {
    for (int d = 0; d < PT_NDOMAINS; d++)
        if (strcmp(name, pt_names[d]) == 0) return d;
    PyErr_Format(PyExc_ValueError, "unknown domain '%s' (expected 'raw', 'mem' or 'obj')", name);
    return -1;
}

/* The byte at offset i of a block filled with `seed`. */
static unsigned char pt_pattern(unsigned seed, size_t i) { return (unsigned char)(seed * 131u + i * 31u + (i >> 8)); }

static void pt_fill_bytes(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = pt_pattern(seed, i);
}

static int pt_check_bytes(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != pt_pattern(seed, i)) return 0;
    return 1;
}

PyDoc_STRVAR(pt_block_doc, "_alloc(domain, size) / _calloc(domain, count, size) -> address\n"
             "_realloc(domain, address, size) -> address;  _free(domain, address)\n"
             "_fill(address, size, seed);  _check(address, size, seed) -> bool\n\n"
             "PyMem_Raw* / PyMem_* / PyObject_* calls on raw addresses.");

static PyObject *pt_alloc(PyObject *self, PyObject *args) {
    const char *name;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "sn:_alloc", &name, &n)) return NULL;
    int d = pt_domain_arg(name);
    if (d < 0) return NULL;
    void *p = d == 0 ? PyMem_RawMalloc((size_t)n) : d == 1 ? PyMem_Malloc((size_t)n) : PyObject_Malloc((size_t)n);
    if (!p) return PyErr_NoMemory();
    return PyLong_FromVoidPtr(p);
}

static PyObject *pt_calloc(PyObject *self, PyObject *args) {
    const char *name;
    Py_ssize_t count, n;
    if (!PyArg_ParseTuple(args, "snn:_calloc", &name, &count, &n)) return NULL;
    int d = pt_domain_arg(name);
    if (d < 0) return NULL;
    size_t c = (size_t)count, s = (size_t)n;
    void *p = d == 0 ? PyMem_RawCalloc(c, s) : d == 1 ? PyMem_Calloc(c, s) : PyObject_Calloc(c, s);
    if (!p) return PyErr_NoMemory();
    return PyLong_FromVoidPtr(p);
}

static PyObject *pt_realloc(PyObject *self, PyObject *args) {
    const char *name;
    PyObject *addr;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "sOn:_realloc", &name, &addr, &n)) return NULL;
    int d = pt_domain_arg(name);
    void *p = PyLong_AsVoidPtr(addr);
    if (d < 0 || (!p && PyErr_Occurred())) return NULL;
    void *q = d == 0 ? PyMem_RawRealloc(p, (size_t)n) : d == 1 ? PyMem_Realloc(p, (size_t)n) : PyObject_Realloc(p, (size_t)n);
    if (!q) return PyErr_NoMemory();
    return PyLong_FromVoidPtr(q);
}

static PyObject *pt_free(PyObject *self, PyObject *args) {
    const char *name;
    PyObject *addr;
    if (!PyArg_ParseTuple(args, "sO:_free", &name, &addr)) return NULL;
    int d = pt_domain_arg(name);
    void *p = PyLong_AsVoidPtr(addr);
    if (d < 0 || (!p && PyErr_Occurred())) return NULL;
    if (d == 0) PyMem_RawFree(p);
    else if (d == 1) PyMem_Free(p);
    else PyObject_Free(p);
    Py_RETURN_NONE;
}

static PyObject *pt_fill(PyObject *self, PyObject *args) {
    PyObject *addr;
    Py_ssize_t n;
    unsigned seed;
    if (!PyArg_ParseTuple(args, "OnI:_fill", &addr, &n, &seed)) return NULL;
    void *p = PyLong_AsVoidPtr(addr);
    if (!p) return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "NULL address");
    pt_fill_bytes(p, (size_t)n, seed);
    Py_RETURN_NONE;
}

static PyObject *pt_check(PyObject *self, PyObject *args) {
    PyObject *addr;
    Py_ssize_t n;
    unsigned seed;
    if (!PyArg_ParseTuple(args, "OnI:_check", &addr, &n, &seed)) return NULL;
    void *p = PyLong_AsVoidPtr(addr);
    if (!p) return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "NULL address");
    return PyBool_FromLong(pt_check_bytes(p, (size_t)n, seed));
}

/* ---- threads racing on the raw domain without the GIL ---- */

#define PT_HELD 32
#define PT_SLOTS 64

typedef struct pt_stress {
    long iters;
    unsigned seed;
    _Atomic(uintptr_t) *slots;          /* blocks passed between threads */
    _Atomic(unsigned long) allocs, frees, reallocs, cross_frees, owned, errors;
} pt_stress_t;

typedef struct pt_worker {
    pthread_t tid;
    pt_stress_t *s;
    unsigned rng;
    size_t index;
} pt_worker_t;

/* A block of the stress test: its size, seed and maker thread first, the
** pattern after them. */
typedef struct pt_hdr { size_t size; size_t seed; size_t maker; } pt_hdr_t;

static unsigned pt_rand(unsigned *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Mostly small blocks, some medium, a few large (mmap'd by the pool). */
static size_t pt_stress_size(unsigned *rng) {
    unsigned r = pt_rand(rng) % 1000;
    if (r < 850) return sizeof(pt_hdr_t) + pt_rand(rng) % 512;
    if (r < 995) return sizeof(pt_hdr_t) + pt_rand(rng) % 16384;
    return sizeof(pt_hdr_t) + 140000 + pt_rand(rng) % 100000;
}

static void pt_stress_fill(pt_hdr_t *b, size_t size, unsigned seed, size_t maker) {
    b->size = size;
    b->seed = seed;
    b->maker = maker;
    pt_fill_bytes((unsigned char *)(b + 1), size - sizeof *b, seed);
}

/* Verify the block's pattern (all of it, or its first `upto` bytes). */
static int pt_stress_ok(const pt_hdr_t *b, size_t upto) {
    size_t n = (b->size < upto ? b->size : upto);
    return n >= sizeof *b && pt_check_bytes((const unsigned char *)(b + 1), n - sizeof *b, (unsigned)b->seed);
}

static void pt_stress_release(pt_stress_t *s, pt_hdr_t *b) {
    if (!pt_stress_ok(b, SIZE_MAX)) atomic_fetch_add(&s->errors, 1);
    PyMem_RawFree(b);
    atomic_fetch_add(&s->frees, 1);
}

static void *pt_stress_thread(void *arg) {
    pt_worker_t *w = arg;
    pt_stress_t *s = w->s;
    pt_hdr_t *held[PT_HELD] = { 0 };
    for (long i = 0; i < s->iters; i++) {
        unsigned k = pt_rand(&w->rng) % PT_HELD, op = pt_rand(&w->rng) % 8;
        pt_hdr_t *b = held[k];
        if (!b) {
            size_t size = pt_stress_size(&w->rng);
            b = op == 0 ? PyMem_RawCalloc(1, size) : PyMem_RawMalloc(size);
            if (!b) { atomic_fetch_add(&s->errors, 1); continue; }
            if (op == 0) {
                for (size_t j = 0; j < size; j++)
                    if (((unsigned char *)b)[j]) { atomic_fetch_add(&s->errors, 1); break; }
            }
            atomic_fetch_add(&s->allocs, 1);
            if (pt_is_block(b)) atomic_fetch_add(&s->owned, 1);
            pt_stress_fill(b, size, pt_rand(&w->rng), w->index);
            held[k] = b;
        } else if (op < 3) {
            size_t size = pt_stress_size(&w->rng), old = b->size;
            if (!pt_stress_ok(b, SIZE_MAX)) atomic_fetch_add(&s->errors, 1);
            pt_hdr_t *q = PyMem_RawRealloc(b, size);
            if (!q) { atomic_fetch_add(&s->errors, 1); continue; }
            q->size = old;
            if (!pt_stress_ok(q, size)) atomic_fetch_add(&s->errors, 1);
            pt_stress_fill(q, size, pt_rand(&w->rng), q->maker);
            held[k] = q;
            atomic_fetch_add(&s->reallocs, 1);
        } else if (op < 5) {
            /* Swap with a shared slot: the block we get was made by
            ** another thread (usually), and we will free it here. */
            unsigned slot = pt_rand(&w->rng) % PT_SLOTS;
            uintptr_t got = atomic_exchange(&s->slots[slot], (uintptr_t)b);
            held[k] = (pt_hdr_t *)got;
            if (held[k] && !pt_stress_ok(held[k], SIZE_MAX)) atomic_fetch_add(&s->errors, 1);
        } else {
            if (b->maker != w->index) atomic_fetch_add(&s->cross_frees, 1);
            pt_stress_release(s, b);
            held[k] = NULL;
        }
    }
    for (unsigned k = 0; k < PT_HELD; k++)
        if (held[k]) pt_stress_release(s, held[k]);
    return NULL;
}

PyDoc_STRVAR(pt_raw_stress_doc, "_raw_stress(nthreads, iters, seed=1) -> dict\n\n"
             "nthreads pthreads, without the GIL, race on PyMem_RawMalloc,\n"
             "RawCalloc, RawRealloc and RawFree, passing blocks between threads so that\n"
             "blocks are freed by threads that did not make them, and verifying every\n"
             "block's contents.  Returns the counts: allocs, frees, reallocs,\n"
             "cross_frees, owned (blocks pool_owns), errors (corruptions seen).");

static PyObject *pt_raw_stress(PyObject *self, PyObject *args) {
    int nthreads;
    long iters;
    unsigned seed = 1;
    if (!PyArg_ParseTuple(args, "il|I:_raw_stress", &nthreads, &iters, &seed)) return NULL;
    if (nthreads < 1 || nthreads > 256 || iters < 0)
        return PyErr_Format(PyExc_ValueError, "need 1 <= nthreads <= 256 and iters >= 0");
    pt_stress_t s = { .iters = iters, .seed = seed };
    s.slots = calloc(PT_SLOTS, sizeof *s.slots);
    pt_worker_t *w = calloc((size_t)nthreads, sizeof *w);
    if (!s.slots || !w) { free(s.slots); free(w); return PyErr_NoMemory(); }
    int started = 0, failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; started < nthreads; started++) {
        w[started].s = &s;
        w[started].index = (size_t)started;
        w[started].rng = seed * 2654435761u + (unsigned)started * 40503u + 1u;
        if (pthread_create(&w[started].tid, NULL, pt_stress_thread, &w[started]) != 0) { failed = 1; break; }
    }
    for (int i = 0; i < started; i++) pthread_join(w[i].tid, NULL);
    for (unsigned k = 0; k < PT_SLOTS; k++) {
        pt_hdr_t *b = (pt_hdr_t *)atomic_load(&s.slots[k]);
        if (b) pt_stress_release(&s, b);
    }
    Py_END_ALLOW_THREADS
    free(s.slots);
    free(w);
    if (failed) return PyErr_Format(PyExc_RuntimeError, "pthread_create failed after %d threads", started);
    return Py_BuildValue("{s:k,s:k,s:k,s:k,s:k,s:k,s:i}", "allocs", atomic_load(&s.allocs), "frees",
                         atomic_load(&s.frees), "reallocs", atomic_load(&s.reallocs), "cross_frees",
                         atomic_load(&s.cross_frees), "owned", atomic_load(&s.owned), "errors",
                         atomic_load(&s.errors), "threads", started);
}

/* ---- module ---- */

static PyMethodDef pt_methods[] = {
    { "_alloc", pt_alloc, METH_VARARGS, pt_block_doc },
    { "_calloc", pt_calloc, METH_VARARGS, pt_block_doc },
    { "_realloc", pt_realloc, METH_VARARGS, pt_block_doc },
    { "_free", pt_free, METH_VARARGS, pt_block_doc },
    { "_fill", pt_fill, METH_VARARGS, pt_block_doc },
    { "_check", pt_check, METH_VARARGS, pt_block_doc },
    { "_raw_stress", pt_raw_stress, METH_VARARGS, pt_raw_stress_doc },
    { NULL, NULL, 0, NULL },
};

static struct PyModuleDef pt_module = {
    PyModuleDef_HEAD_INIT, "_pooltest", "Test-only helpers for poolalloc (not shipped).", -1, pt_methods,
    NULL, NULL, NULL, NULL,
};

/* Imports poolalloc._poolalloc (not installing it) for its pool_is_block. */
PyMODINIT_FUNC PyInit__pooltest(void) {
    pt_is_block_fn = (int (*)(const void *))PyCapsule_Import("poolalloc._poolalloc._is_block_capsule", 0);
    if (!pt_is_block_fn) return NULL;
    return PyModule_Create(&pt_module);
}
