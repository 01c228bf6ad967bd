/*
** fault.c -- libpool's fault reports: one line naming the fault, the
** address and the block size, written without allocating, then abort.
*/
#include <stdarg.h>
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

/* A one-line warning that does not stop the program. */
void pa_warn(const char *fmt, ...) {
    char line[256] = "poolalloc: ";
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + 11, sizeof line - 12, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = strlen(line);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
