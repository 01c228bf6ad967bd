/* stress.h -- shared helpers of the allocator stress programs (issue 5):
 * --scale parsing, timing, peak RSS, a seeded RNG, block stamps, and the
 * one JSON result line.  Header-only: each program is one .c file that
 * calls plain malloc/free/realloc, so it runs under any LD_PRELOAD. */
#ifndef STRESS_H
#define STRESS_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The --scale factor (default 1): work grows linearly with it. */
static inline double st_scale(int argc, char **argv, const char *name)
{
    double scale = 1.0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
            scale = strtod(argv[++i], &end);
            if (*end == '\0' && scale > 0 && scale <= 1000)
                continue;
        }
        fprintf(stderr, "%s: bad argument '%s'\nusage: %s [--scale X]  (X > 0, default 1)\n",
                name, argv[i], name);
        exit(2);
    }
    return scale;
}

/* A count scaled by --scale, at least 1. */
static inline size_t st_count(double base, double scale)
{
    double n = base * scale;
    return n < 1 ? 1 : (size_t)n;
}

/* Monotonic seconds, for the timed section. */
static inline double st_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* This process's own peak RSS (VmHWM), in kB; -1 if unreadable. */
static inline long st_maxrss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* The one result line the benchmark runner parses. */
static inline int st_report(const char *name, double seconds, uint64_t checksum)
{
    printf("{\"name\": \"%s\", \"seconds\": %.6f, \"checksum\": %llu, \"peak_rss_kb\": %ld}\n", name, seconds,
           (unsigned long long)(checksum & 0x3fffffffffffffffull), st_maxrss_kb());
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Fails the run: wrong contents or an allocation that returned NULL. */
static inline void st_die(const char *what, const void *p, size_t n)
{
    fprintf(stderr, "stress: %s (block %p, %zu bytes)\n", what, p, n);
    _exit(1);
}

/* xorshift64*: a small seeded generator, one state per thread or stream,
 * so every run draws the same sizes whatever the allocator. */
static inline uint64_t st_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* A seed state from any number (never 0). */
static inline uint64_t st_seed(uint64_t n)
{
    uint64_t z = n + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) | 1;
}

/* A size in [lo, hi]. */
static inline size_t st_between(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(st_rand(s) % (hi - lo + 1));
}

/* malloc that fails the run on NULL. */
static inline void *st_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        st_die("malloc returned NULL", p, n);
    return p;
}

/* The byte i of a block's small-block pattern. */
static inline unsigned char st_byte(uint64_t tag, size_t i)
{
    return (unsigned char)((tag >> (i % 8 * 8)) ^ i);
}

/* Writes tag's pattern into a block: head and tail words, or every byte
 * of a block under 16 bytes (n >= 1). */
static inline void st_stamp(void *p, size_t n, uint64_t tag)
{
    unsigned char *b = p;
    uint64_t tail = tag * 0x9E3779B97F4A7C15ull;
    if (n >= 16) {
        memcpy(b, &tag, 8);
        memcpy(b + n - 8, &tail, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            b[i] = st_byte(tag, i);
    }
}

/* Checks a block still holds tag's pattern; returns the tag read back. */
static inline uint64_t st_check(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *b = p;
    uint64_t head, tail;
    if (n >= 16) {
        memcpy(&head, b, 8);
        memcpy(&tail, b + n - 8, 8);
        if (head != tag || tail != tag * 0x9E3779B97F4A7C15ull)
            st_die("block contents changed", p, n);
        return head;
    }
    for (size_t i = 0; i < n; i++)
        if (b[i] != st_byte(tag, i))
            st_die("block contents changed", p, n);
    return tag;
}

#endif
