/*
** size.c -- libpool's size classes.
**
** 16-byte steps up to 128 bytes, then four classes per power of two
** (5/4, 6/4, 7/4, 8/4 of it) up to 128 KiB.  Above 64 bytes the worst-case
** internal waste is < 20% (a request one byte over a class boundary);
** below it the 16-byte alignment sets the waste.  Requests over 128 KiB are
** large blocks, mapped on their own.
**
**   class  size    class  size    class  size     class  size
**      0     16      12    320      24   2560      36  20480
**      1     32      13    384      25   3072      37  24576
**      2     48      14    448      26   3584      38  28672
**      3     64      15    512      27   4096      39  32768
**      4     80      16    640      28   5120      40  40960
**      5     96      17    768      29   6144      41  49152
**      6    112      18    896      30   7168      42  57344
**      7    128      19   1024      31   8192      43  65536
**      8    160      20   1280      32  10240      44  81920
**      9    192      21   1536      33  12288      45  98304
**     10    224      22   1792      34  14336      46 114688
**     11    256      23   2048      35  16384      47 131072
*/
#include "internal.h"

const uint32_t pa_class_size[PA_NCLASSES] = {
    16, 32, 48, 64, 80, 96, 112, 128,
    160, 192, 224, 256, 320, 384, 448, 512,
    640, 768, 896, 1024, 1280, 1536, 1792, 2048,
    2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
    10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
    40960, 49152, 57344, 65536, 81920, 98304, 114688, 131072,
};

/* Class of each request size n <= 1024, indexed by (n + 15) / 16. */
const uint8_t pa_direct_class[PA_DIRECT] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11,
    11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15,
    15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
    17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19,
    19,
};

/* Slices in a page of class cls: enough that a page holds eight blocks
** (seven for the largest class of a span length, beside its guard page),
** small enough that a half-used page wastes little. */
unsigned pa_class_slices(unsigned cls) {
    uint32_t bs = pa_class_size[cls];
    if (bs <= 7168) return 1;            /* 8 blocks and the span's guard page */
    if (bs <= 32768) return 4;
    return 16;
}

int pool_size_class(size_t n) {
    if (n > PA_MAX_CLASS) return -1;
    return (int)pa_class_of(n);
}

size_t pool_class_size(int cls) {
    if (cls < 0 || cls >= PA_NCLASSES) { errno = EINVAL; return 0; }
    return pa_class_size[cls];
}
