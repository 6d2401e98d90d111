/*
 * lines: built twice for output-divergence tests.
 *   lines.wasm     (VARIANT=1)  prints "line 1: ..." to "line 10: ...".
 *   lines-v2.wasm  (VARIANT=2)  identical except line 7.
 *   lines-split.wasm (VARIANT=3) the same bytes as lines.wasm, each line in
 *                   two writes (twice the fd_write calls): a new build that
 *                   replays only with `twinstep replay --match stream`.
 *   lines-hang.wasm (VARIANT=4) identical up to line 6, then loops for ever
 *                   without a host call where line 7 was printed: a new build
 *                   that hangs (`twinstep replay --timeout`).
 * Each line is flushed on its own so the divergence shows up at a precise
 * fd_write (the 7th).
 */
#include <stdio.h>

#ifndef VARIANT
#define VARIANT 1
#endif

int main(void) {
    for (int i = 1; i <= 10; i++) {
        unsigned v = (unsigned)i * (unsigned)i;
#if VARIANT == 2
        if (i == 7) v += 1000; /* the one visible difference */
#endif
#if VARIANT == 4
        if (i == 7) {
            volatile unsigned spin = 0;
            for (;;) spin++; /* no host call, no end */
        }
#endif
#if VARIANT == 3
        printf("line %d: ", i);
        fflush(stdout);
        printf("%u\n", v);
        fflush(stdout);
#else
        printf("line %d: %u\n", i, v);
        fflush(stdout);
#endif
    }
    return 0;
}
