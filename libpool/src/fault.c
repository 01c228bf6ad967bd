/*
** fault.c -- libpool's fault reports: one line naming the fault, the
** address and the block size, written without allocating, then abort.
*/
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

/* "poolalloc: <what> 0x... (N-byte block)" and abort; size 0 omits the
** block part (the size is unknown, e.g. for a foreign pointer). */
void pa_fault(const char *what, const void *p, size_t size) {
    char line[256];
    int n;
    if (size) n = snprintf(line, sizeof line, "poolalloc: %s %p (%zu-byte block)\n", what, p, size);
    else n = snprintf(line, sizeof line, "poolalloc: %s %p\n", what, p);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
    abort();
}
