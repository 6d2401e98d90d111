/*
 * compute: a CPU-bound benchmark workload with almost no host calls (only
 * the final printf). Three phases with different instruction mixes so the
 * benchmark is not dominated by one kind of loop:
 *   1. sieve of Eratosthenes (memory-bound byte array),
 *   2. an integer hashing loop (ALU-bound, 32-bit multiply/rotate),
 *   3. an integer matrix multiply (nested loops, loads/stores).
 * All arithmetic is unsigned 32-bit so results are identical on every engine.
 *
 * usage: compute [SCALE]   (default 25, ~0.5-1 s under V8; work grows linearly with SCALE)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

/* Returns a checksum over the primes below n (their count and sum). */
static uint32_t sieve(uint32_t n, uint32_t *count_out) {
    uint8_t *composite = calloc(n, 1);
    if (!composite) { fprintf(stderr, "compute: out of memory\n"); exit(2); }
    uint32_t count = 0, sum = 0;
    for (uint32_t i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        sum += i;
        for (uint64_t j = (uint64_t)i * i; j < n; j += i) composite[j] = 1;
    }
    free(composite);
    *count_out = count;
    return sum ^ rotl(count, 13);
}

/* A murmur-style mixing loop; the state chain prevents vectorising it away. */
static uint32_t hash_loop(uint32_t iterations) {
    uint32_t h = 0x9747b28cu;
    for (uint32_t i = 0; i < iterations; i++) {
        uint32_t k = i * 0xcc9e2d51u;
        k = rotl(k, 15) * 0x1b873593u;
        h ^= k;
        h = rotl(h, 13) * 5 + 0xe6546b64u;
    }
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
    return h;
}

#define MAT 96
static uint32_t ma[MAT][MAT], mb[MAT][MAT], mc[MAT][MAT];

/* Multiplies two pseudo-random matrices `rounds` times, feeding the result
 * back into the left operand so each round depends on the previous one. */
static uint32_t matmul(uint32_t rounds) {
    uint32_t seed = 12345;
    for (int i = 0; i < MAT; i++)
        for (int j = 0; j < MAT; j++) {
            seed = seed * 1103515245u + 12345u; ma[i][j] = seed >> 16;
            seed = seed * 1103515245u + 12345u; mb[i][j] = seed >> 16;
        }
    for (uint32_t r = 0; r < rounds; r++) {
        for (int i = 0; i < MAT; i++)
            for (int j = 0; j < MAT; j++) {
                uint32_t acc = 0;
                for (int k = 0; k < MAT; k++) acc += ma[i][k] * mb[k][j];
                mc[i][j] = acc;
            }
        memcpy(ma, mc, sizeof ma);
    }
    uint32_t sum = 0;
    for (int i = 0; i < MAT; i++)
        for (int j = 0; j < MAT; j++) sum = rotl(sum, 5) ^ mc[i][j];
    return sum;
}

int main(int argc, char **argv) {
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 25;
    if (scale < 1) { fprintf(stderr, "usage: compute [SCALE>=1]\n"); return 2; }

    uint32_t primes;
    uint32_t s = sieve((uint32_t)scale * 400000u, &primes);
    uint32_t h = hash_loop((uint32_t)scale * 6000000u);
    uint32_t m = matmul((uint32_t)scale * 2u);
    uint32_t checksum = s ^ rotl(h, 7) ^ rotl(m, 19);

    printf("compute scale=%ld primes=%u sieve=%08x hash=%08x matmul=%08x\n",
           scale, primes, s, h, m);
    printf("checksum=%08x\n", checksum);
    return 0;
}
