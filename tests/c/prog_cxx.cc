// prog_cxx.cc -- a C++ program for tests/test_preload.py: containers,
// strings, smart pointers, arrays, over-aligned types, nothrow new and
// sized delete.  It prints a digest of what it computed, the same under
// glibc and under LD_PRELOAD=libpoolmalloc.so; with "owned" it also says
// whether its operator new blocks come from libpool (dlsym pool_owns).
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

struct alignas(64) Line {
    char bytes[64];
};

struct alignas(256) Wide {
    uint64_t v[40];
};

int main(int argc, char **argv) {
    uint64_t digest = 1469598103934665603ull;
    auto mix = [&](uint64_t x) { digest = (digest ^ x) * 1099511628211ull; };

    std::map<int, std::string> m;
    std::unordered_map<std::string, std::vector<int>> u;
    for (int i = 0; i < 20000; i++) {
        m[i * 7 % 10007] = std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'x');
        u[std::to_string(i % 997)].push_back(i);
    }
    for (auto &kv : m) mix(kv.first + kv.second.size());
    for (int i = 0; i < 997; i++) mix(u[std::to_string(i)].size());

    std::vector<std::unique_ptr<std::string>> owned;
    for (int i = 0; i < 5000; i++) owned.emplace_back(new std::string(static_cast<size_t>(i % 300), 'a' + i % 26));
    for (size_t i = 0; i < owned.size(); i += 2) owned[i].reset();
    for (auto &p : owned) mix(p ? p->size() : 0);

    std::vector<std::shared_ptr<Wide>> wides;
    int misaligned = 0;
    for (int i = 0; i < 300; i++) {
        wides.push_back(std::make_shared<Wide>());
        Wide *w = new Wide();   // aligned operator new (256 > __STDCPP_DEFAULT_NEW_ALIGNMENT__)
        misaligned += reinterpret_cast<uintptr_t>(w) % alignof(Wide) != 0;
        w->v[39] = static_cast<uint64_t>(i);
        mix(w->v[39]);
        delete w;               // sized, aligned delete
    }
    Line *lines = new Line[1000];   // aligned new[]
    misaligned += reinterpret_cast<uintptr_t>(lines) % alignof(Line) != 0;
    std::memset(lines, 3, sizeof(Line) * 1000);
    mix(lines[999].bytes[63]);
    delete[] lines;

    int *arr = new int[100000]();
    for (int i = 0; i < 100000; i++) arr[i] = i;
    mix(static_cast<uint64_t>(arr[99999]));
    delete[] arr;

    void *none = ::operator new(static_cast<size_t>(-1) / 2, std::nothrow);
    bool threw = false;
    try {
        std::vector<char> v(static_cast<size_t>(PTRDIFF_MAX) - 16);
        mix(v.size());
    } catch (const std::bad_alloc &) {
        threw = true;
    } catch (const std::length_error &) {
        threw = true;
    }

    // The new_handler runs until it gives up, then std::bad_alloc; the
    // nothrow form turns a handler's bad_alloc into NULL.
    static int handler_calls;
    std::set_new_handler([] { if (++handler_calls == 3) std::set_new_handler(nullptr); });
    bool bad_alloc = false;
    try {
        mix(reinterpret_cast<uintptr_t>(::operator new(static_cast<size_t>(-1) / 2)));
    } catch (const std::bad_alloc &) {
        bad_alloc = true;
    }
    std::set_new_handler([] { handler_calls += 10; throw std::bad_alloc(); });
    void *none_handled = ::operator new[](static_cast<size_t>(-1) / 2, std::align_val_t(64), std::nothrow);
    std::set_new_handler(nullptr);

    std::printf("digest %016llx misaligned %d nothrow-huge %s huge-vector %s\n",
                static_cast<unsigned long long>(digest), misaligned, none ? "non-NULL" : "NULL",
                threw ? "threw" : "did not throw");
    std::printf("new_handler calls %d bad_alloc %s nothrow-with-throwing-handler %s\n", handler_calls,
                bad_alloc ? "caught" : "missed", none_handled ? "non-NULL" : "NULL");
    if (argc > 1 && !std::strcmp(argv[1], "owned")) {
        auto owns = reinterpret_cast<int (*)(const void *)>(dlsym(RTLD_DEFAULT, "pool_owns"));
        std::string *s = new std::string(100, 'z');
        Wide *w = new Wide();
        std::printf("operator new: %s, aligned new: %s, string buffer: %s\n",
                    owns ? (owns(s) ? "libpool" : "NOT libpool") : "glibc",
                    owns ? (owns(w) ? "libpool" : "NOT libpool") : "glibc",
                    owns ? (owns(s->data()) ? "libpool" : "NOT libpool") : "glibc");
        delete w;
        delete s;
    }
    return 0;
}
