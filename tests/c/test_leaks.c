/* test_leaks.c -- the leak report of a heap destroyed with live blocks:
** its stats and its report list the live blocks by size class, with exact
** counts and bytes, and destroying it gives them all back. */
#include "check.h"

/* The report row of class size `size`: its live_blocks and bytes columns. */
static int report_row(const char *report, size_t size, size_t *live, size_t *bytes) {
    for (const char *line = report; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned cls;
        size_t sz, lb, fb, pages, b;
        unsigned long long allocs, frees;
        if (sscanf(line, " %u %zu %zu %zu %zu %llu %llu %zu", &cls, &sz, &lb, &fb, &pages, &allocs, &frees, &b) == 8 &&
            sz == size) {
            *live = lb;
            *bytes = b;
            return 1;
        }
    }
    return 0;
}

int main(void) {
    pool_stats_t before, st;
    CHECK(pool_stats(&before) == 0);
    pool_heap_options_t o = { .sized = 1, .name = "leaky" };
    pool_heap_t *h = pool_heap_new(&o);
    CHECK(h != NULL);
    /* 30 of 40 bytes (48-byte class), 7 of 1000 (1024), 2 large, and some freed again */
    void *keep[64];
    int nk = 0;
    for (int i = 0; i < 30; i++) keep[nk++] = pool_heap_malloc(h, 40);
    for (int i = 0; i < 7; i++) keep[nk++] = pool_heap_malloc(h, 1000);
    for (int i = 0; i < 2; i++) keep[nk++] = pool_heap_malloc(h, 500000);
    for (int i = 0; i < 10; i++) pool_heap_free_sized(h, pool_heap_malloc(h, 40), 40);
    for (int i = 0; i < nk; i++) CHECK(keep[i] != NULL);

    CHECK(pool_heap_stats(h, &st) == 0);
    CHECK_EQ(st.live_bytes, 30 * 40 + 7 * 1000 + 2 * 500000);
    CHECK_EQ(st.large_blocks, 2);
    size_t live_blocks = 0;
    for (unsigned c = 0; c < st.nclasses; c++) live_blocks += st.classes[c].live_blocks;
    CHECK_EQ(live_blocks, 37);
    CHECK_EQ(st.classes[pool_size_class(40)].live_blocks, 30);
    CHECK_EQ(st.classes[pool_size_class(1000)].live_blocks, 7);

    char report[8192];
    size_t n = pool_stats_report(&st, report, sizeof report);
    CHECK(n < sizeof report);
    size_t live, bytes;
    CHECK(report_row(report, 48, &live, &bytes) && live == 30 && bytes == 30 * 48);
    CHECK(report_row(report, 1024, &live, &bytes) && live == 7 && bytes == 7 * 1024);
    CHECK(strstr(report, "large_blocks                2") != NULL);
    char json[16384];
    CHECK(pool_stats_json(&st, json, sizeof json) < sizeof json);
    CHECK(strstr(json, "{\"size\": 48, \"live_blocks\": 30,") != NULL);

    /* Destroying it releases every block: the process is back where it was. */
    pool_heap_destroy(h);
    CHECK(pool_stats(&st) == 0);
    CHECK_EQ(st.live_bytes, before.live_bytes);
    CHECK_EQ(st.large_blocks, before.large_blocks);
    CHECK_EQ(st.heaps, before.heaps);
    CHECK_EQ(st.allocs - st.frees, before.allocs - before.frees);
    printf("test_leaks: ok\n");
    return 0;
}
