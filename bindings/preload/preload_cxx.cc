// preload_cxx.cc -- C++ allocation operators of libpoolmalloc.so: plain,
// nothrow, array, sized and aligned forms all go to libpool.  operator new
// throws std::bad_alloc (after the new_handler gives up) like the standard
// library's own.
#include <cerrno>
#include <cstddef>
#include <new>

#include "pool.h"

#define EXPORT __attribute__((visibility("default")))

namespace {

// Allocate, calling the new_handler until it succeeds or there is none.
void *alloc_or_throw(std::size_t n, std::size_t align) {
    for (;;) {
        void *p = align > POOL_MIN_ALIGN ? pool_aligned_alloc(align, n) : pool_malloc(n);
        if (p) return p;
        std::new_handler h = std::get_new_handler();
        if (!h) throw std::bad_alloc();
        h();
    }
}

void *alloc_nothrow(std::size_t n, std::size_t align) noexcept {
    try {
        return alloc_or_throw(n, align);
    } catch (...) {
        return nullptr;
    }
}

}  // namespace

EXPORT void *operator new(std::size_t n) { return alloc_or_throw(n, 0); }
EXPORT void *operator new[](std::size_t n) { return alloc_or_throw(n, 0); }
EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return alloc_nothrow(n, 0); }
EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return alloc_nothrow(n, 0); }
EXPORT void *operator new(std::size_t n, std::align_val_t a) { return alloc_or_throw(n, static_cast<std::size_t>(a)); }
EXPORT void *operator new[](std::size_t n, std::align_val_t a) { return alloc_or_throw(n, static_cast<std::size_t>(a)); }
EXPORT void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, static_cast<std::size_t>(a));
}
EXPORT void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, static_cast<std::size_t>(a));
}

EXPORT void operator delete(void *p) noexcept { if (p) pool_free(p); }
EXPORT void operator delete[](void *p) noexcept { if (p) pool_free(p); }
EXPORT void operator delete(void *p, std::size_t) noexcept { if (p) pool_free(p); }
EXPORT void operator delete[](void *p, std::size_t) noexcept { if (p) pool_free(p); }
EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept { if (p) pool_free(p); }
EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept { if (p) pool_free(p); }
EXPORT void operator delete(void *p, std::align_val_t) noexcept { if (p) pool_free(p); }
EXPORT void operator delete[](void *p, std::align_val_t) noexcept { if (p) pool_free(p); }
EXPORT void operator delete(void *p, std::size_t, std::align_val_t) noexcept { if (p) pool_free(p); }
EXPORT void operator delete[](void *p, std::size_t, std::align_val_t) noexcept { if (p) pool_free(p); }
EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { if (p) pool_free(p); }
EXPORT void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { if (p) pool_free(p); }
