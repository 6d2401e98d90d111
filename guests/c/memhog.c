/*
 * memhog: memory-pressure guest.
 *   memhog [CAP_MIB]  malloc()s 1 MiB blocks, touching every 4 KiB, until
 *                     CAP_MIB (default 32) are held or malloc fails.
 *                     Exit 0 if the cap was reached, 3 if malloc failed first.
 *   memhog CAP_MIB HOLD_MS
 *                     then stays alive HOLD_MS more milliseconds, dirtying one
 *                     page every 10 ms: a guest with a large, mostly quiet
 *                     memory, for measuring re-protect pre-copy and stun.
 *   memhog oom        calls memory.grow directly until it fails (at the
 *                     host's memory limit, or at 4 GiB = 65536 pages), prints
 *                     how far it got and then calls abort(), which is a wasm
 *                     trap. The host must report this as a clean trap.
 * No maximum memory is declared in the module: the limit is the host's to
 * set, and this guest exists to check how the host enforces it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB (1024 * 1024)
#define WASM_PAGE 65536

static void touch(volatile uint8_t *p, size_t len) {
    for (size_t off = 0; off < len; off += 4096) p[off] = (uint8_t)(off >> 12);
}

static int oom(void) {
    unsigned long pages = 0;
    /* 16 MiB steps first (memory.grow is slow in some engines: V8 takes
     * milliseconds per call), then 1 MiB, then single pages so the final
     * size is exactly the limit. Only the
     * first byte of each step is touched: committing up to 4 GiB of real
     * memory would make this test dangerous on small CI machines. */
    for (unsigned step = 256; step >= 1; step /= 16) {
        for (;;) {
            long old = (long)__builtin_wasm_memory_grow(0, step);
            if (old < 0) break;
            *(volatile uint8_t *)(uintptr_t)((unsigned long)old * WASM_PAGE) = 1;
            pages += step;
        }
    }
    printf("memory.grow failed after %lu extra pages (%lu total)\n",
           pages, (unsigned long)__builtin_wasm_memory_size(0));
    fflush(stdout);
    abort();
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "oom") == 0) return oom();
    long cap = argc > 1 ? strtol(argv[1], NULL, 10) : 32;
    long hold_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    long held = 0;
    uint8_t *last = NULL;
    while (held < cap) {
        uint8_t *block = malloc(MIB);
        if (!block) {
            printf("malloc failed after %ld MiB\n", held);
            return 3;
        }
        touch(block, MIB);
        last = block;
        held++;
    }
    printf("allocated %ld MiB\n", held);
    fflush(stdout);
    for (long t = 0; t < hold_ms && last; t += 10) {
        last[(t / 10 * 4096) % MIB] ^= 1;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return 0;
}
