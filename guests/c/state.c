/*
 * state: built twice for divergence tests.
 *   state.wasm     (VARIANT=1)
 *   state-v2.wasm  (VARIANT=2)
 * Both print exactly the same lines, but VARIANT=2 also keeps a counter in
 * a global array that is never printed. A replica running v2 therefore
 * diverges in linear memory only, which memory digests must catch even
 * though the output streams agree.
 *
 * usage: state [STEPS]   (default 5)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef VARIANT
#define VARIANT 1
#endif

/* volatile: the stores must reach linear memory even though nothing reads
 * them back, otherwise the optimiser would delete the difference. */
static volatile uint32_t shadow[16];
static uint32_t acc[8];

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 5;
    uint32_t x = 1;
    for (int s = 1; s <= steps; s++) {
        for (int i = 0; i < 10000; i++) {
            x = x * 1664525u + 1013904223u;
            acc[x >> 29] += x >> 8;
#if VARIANT == 2
            shadow[15]++; /* the hidden difference */
#endif
        }
        shadow[s % 8] = x;
        uint32_t sum = 0;
        for (int i = 0; i < 8; i++) sum ^= acc[i];
        printf("step %d state=%08x\n", s, sum);
        fflush(stdout);
    }
    return 0;
}
