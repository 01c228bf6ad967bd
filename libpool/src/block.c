/*
** block.c -- pool_is_block: the block-start test that free uses
** (pa_is_block), for bindings that share a pointer space with another
** allocator and must not read that allocator's memory.
*/
#include "internal.h"

/* Public and out of line: internal.h stays inside libpool. */
int pool_is_block(const void *p) { return pa_is_block(p); }
