// preload_cxx.cc -- C++ allocation operators of libpoolmalloc.so: plain,
// nothrow, array, sized and aligned forms all go to libpool.  operator new
// throws std::bad_alloc (after the new_handler gives up) like the standard
// library's own.
//
// The library does not link libstdc++: a C program that preloads it would
// map libstdc++, libm and libgcc_s for nothing (1.3 MB of resident pages
// measured on a small program).  The operators reach the process's own
// libstdc++ by name on their rare paths: the new_handler and the throw when
// an allocation fails, and the standard nothrow operator (which calls the
// throwing one, here ours, and catches) for the nothrow forms.  Only a C++
// program calls these operators, and it has libstdc++ loaded.
#include <dlfcn.h>
#include <unistd.h>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

#include "pool.h"

#define EXPORT __attribute__((visibility("default")))

namespace {

// A function of the process's libstdc++ by mangled name, or null.
template <typename F> F cxx_symbol(void *scope, const char *name) {
    return reinterpret_cast<F>(dlsym(scope, name));
}

// One line, then abort, as every fault of libpool.
[[noreturn]] void no_cxx_runtime(const char *what) {
    if (write(2, what, std::strlen(what)) < 0 || write(2, "\n", 1) < 0) {}
    std::abort();
}

// Allocation failed: call the new_handler until it frees memory, or throw
// std::bad_alloc through libstdc++'s own thrower.
void *alloc_or_throw(std::size_t n, std::size_t align) {
    for (;;) {
        void *p = align > POOL_MIN_ALIGN ? pool_aligned_alloc(align, n) : pool_malloc(n);
        if (p) return p;
        auto get_handler = cxx_symbol<std::new_handler (*)()>(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
        std::new_handler h = get_handler ? get_handler() : nullptr;
        if (!h) {
            auto thrower = cxx_symbol<void (*)()>(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv");
            if (thrower) thrower();
            no_cxx_runtime("operator new: out of memory and no C++ runtime to throw std::bad_alloc");
        }
        h();
    }
}

// The nothrow forms: the fast path here; on failure the standard nothrow
// operator of the next library (libstdc++), which runs the new_handler loop
// through our throwing operator and turns its std::bad_alloc into null.
void *alloc_nothrow(std::size_t n, std::size_t align, const char *next) noexcept {
    void *p = align > POOL_MIN_ALIGN ? pool_aligned_alloc(align, n) : pool_malloc(n);
    if (p) return p;
    if (align > POOL_MIN_ALIGN) {
        auto f = cxx_symbol<void *(*)(std::size_t, std::align_val_t, const std::nothrow_t &)>(RTLD_NEXT, next);
        return f ? f(n, static_cast<std::align_val_t>(align), std::nothrow_t{}) : nullptr;
    }
    auto f = cxx_symbol<void *(*)(std::size_t, const std::nothrow_t &)>(RTLD_NEXT, next);
    return f ? f(n, std::nothrow_t{}) : nullptr;
}

}  // namespace

EXPORT void *operator new(std::size_t n) { return alloc_or_throw(n, 0); }
EXPORT void *operator new[](std::size_t n) { return alloc_or_throw(n, 0); }
EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return alloc_nothrow(n, 0, "_ZnwmRKSt9nothrow_t"); }
EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, 0, "_ZnamRKSt9nothrow_t");
}
EXPORT void *operator new(std::size_t n, std::align_val_t a) { return alloc_or_throw(n, static_cast<std::size_t>(a)); }
EXPORT void *operator new[](std::size_t n, std::align_val_t a) { return alloc_or_throw(n, static_cast<std::size_t>(a)); }
EXPORT void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, static_cast<std::size_t>(a), "_ZnwmSt11align_val_tRKSt9nothrow_t");
}
EXPORT void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, static_cast<std::size_t>(a), "_ZnamSt11align_val_tRKSt9nothrow_t");
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
