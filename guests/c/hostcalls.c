/*
 * hostcalls: a host-call-heavy workload to measure recording overhead.
 * Each of N iterations makes one clock_time_get; every 64th iteration also
 * makes a 16-byte random_get and every 1000th writes a short line (flushed,
 * so it is a real fd_write). The WASI calls are made directly, not through
 * libc wrappers, so the number of host calls is exactly what is printed.
 *
 * usage: hostcalls [N] [WORK]   (default 100000, 0)
 * WORK: steps of integer arithmetic between two clock reads (a guest that
 * computes between its host calls; the benchmark sweeps it to show how the
 * recording overhead per call weighs against the guest's own work).
 * The summary is deterministic (counts, and with WORK the arithmetic's
 * result); exits 1 if a call fails or the monotonic clock goes backwards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <wasi/api.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    long work = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    uint64_t acc = 0x9e3779b97f4a7c15ull;
    unsigned long clock_calls = 0, random_calls = 0, writes = 0;
    __wasi_timestamp_t last = 0;
    int ok = 1;
    for (long i = 0; i < n; i++) {
        __wasi_timestamp_t now = 0;
        if (__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &now) != 0) ok = 0;
        if (now < last) ok = 0;
        last = now;
        clock_calls++;
        /* xorshift steps: cheap, and their result is printed, so the compiler keeps them. */
        for (long w = 0; w < work; w++) {
            acc ^= acc << 13;
            acc ^= acc >> 7;
            acc ^= acc << 17;
        }
        if (i % 64 == 0) {
            uint8_t buf[16];
            if (__wasi_random_get(buf, sizeof buf) != 0) ok = 0;
            random_calls++;
        }
        if (i % 1000 == 0) {
            printf("iteration %ld\n", i);
            fflush(stdout);
            writes++;
        }
    }
    printf("hostcalls n=%ld clock_time_get=%lu random_get=%lu writes=%lu %s\n",
           n, clock_calls, random_calls, writes, ok ? "ok" : "FAILED");
    if (work > 0) printf("work=%ld acc=%016llx\n", work, (unsigned long long)acc);
    return ok ? 0 : 1;
}
