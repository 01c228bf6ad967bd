/*
** debug.c -- libpool's debug mode (POOL_DEBUG=1 or a heap's `debug`
** option): every block carries its request size and canary bytes after the
** request, and free blocks are poisoned, so overflows and writes after free
** are caught at the next free, realloc or reuse.
**
**   block:  [ request bytes | canary ... | request ^ ~key (8 bytes) ]
**   free:   [ link | freed key | poison ............................ ]
**
** A freed block of a thread heap first waits in the thread's quarantine
** (the last PA_QUARANTINE frees) with its poison, so it is not handed out
** again at once: a write through a dangling pointer lands in poison, and
** is found when the block leaves the quarantine.
*/
#include "internal.h"

/* Where the encoded request size lives in a block of pg. */
static uint64_t *trailer(const pa_page_t *pg, const void *p) {
    return (uint64_t *)((uint8_t *)p + pg->block_size - sizeof(uint64_t));
}

/* The trailer's encoding.  Not `n ^ key`: in a 16-byte block the trailer
** is the free-marker word, and malloc(0) would store the key itself there,
** so its first free would look like a double free. */
static uint64_t trailer_key(void) { return ~(uint64_t)pa_g.key; }

size_t pa_debug_request(const pa_page_t *pg, const void *p) {
    PA_TOOL_INTERNAL(trailer(pg, p), sizeof(uint64_t));
    size_t n = (size_t)(*trailer(pg, p) ^ trailer_key());
    if (n > pg->block_size - PA_DEBUG_EXTRA) pa_fault("heap buffer overflow (size trailer overwritten) at", p, pg->block_size);
    return n;
}

/* A block leaving the free list: its poison must be intact; then it gets
** its size and canary. */
void pa_debug_on_alloc(pa_page_t *pg, void *p, size_t n) {
    uint8_t *b = p;
    for (size_t i = sizeof(pa_block_t); i < pg->block_size; i++)
        if (b[i] != PA_POISON) pa_fault("write after free to", b, pg->block_size);
    memset(b + n, PA_CANARY, pg->block_size - sizeof(uint64_t) - n);
    *trailer(pg, p) = (uint64_t)n ^ trailer_key();
}

/* A block being freed: its canary must be intact; then it is poisoned. */
void pa_debug_on_free(pa_page_t *pg, void *p) {
    uint8_t *b = p;
    PA_TOOL_INTERNAL(b, pg->block_size);
    size_t n = pa_debug_request(pg, p);
    for (size_t i = n; i < pg->block_size - sizeof(uint64_t); i++)
        if (b[i] != PA_CANARY) pa_fault("heap buffer overflow past", b, n);
    memset(b + sizeof(pa_block_t), PA_POISON, pg->block_size - sizeof(pa_block_t));
}

/* ---- the quarantine ---- */
#define PA_QUARANTINE 64
static __thread struct {
    void *blk[PA_QUARANTINE];
    unsigned next, n;
} quarantine;

/* A quarantined block's first word (its second holds the free key, so a
** second free of it is a double free). */
static uintptr_t quarantine_mark(void) { return ~pa_g.key ^ 0x5151; }

/* A block leaving the quarantine: every byte must be as it was left. */
static void *quarantine_check(void *p) {
    const pa_page_t *pg = pa_page_of(p);
    const uint8_t *b = p;
    PA_TOOL_INTERNAL(p, pg->block_size);
    const pa_block_t *blk = p;
    if (blk->next != quarantine_mark() || blk->freed != pa_g.key) pa_fault("write after free to", p, pg->block_size);
    for (size_t i = sizeof(pa_block_t); i < pg->block_size; i++)
        if (b[i] != PA_POISON) pa_fault("write after free to", p, pg->block_size);
    return p;
}

/* Put p (poisoned) in the quarantine; the block that leaves to make room,
** checked, or NULL. */
void *pa_debug_quarantine(void *p) {
    pa_block_t *b = p;
    b->next = quarantine_mark();
    b->freed = pa_g.key;
    void *out = quarantine.blk[quarantine.next];
    quarantine.blk[quarantine.next] = p;
    quarantine.next = (quarantine.next + 1) % PA_QUARANTINE;
    if (!out) {
        quarantine.n++;
        return NULL;
    }
    return quarantine_check(out);
}

/* The oldest quarantined block, checked, or NULL when it is empty. */
void *pa_debug_quarantine_take(void) {
    if (!quarantine.n) return NULL;
    unsigned i = (quarantine.next + PA_QUARANTINE - quarantine.n) % PA_QUARANTINE;
    void *p = quarantine.blk[i];
    quarantine.blk[i] = NULL;
    quarantine.n--;
    return quarantine_check(p);
}
