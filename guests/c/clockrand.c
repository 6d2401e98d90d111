/*
 * clockrand: the nondeterministic guest. Reads the realtime and monotonic
 * clocks and random bytes several times and prints them, so that two plain
 * runs differ while a replayed run must reproduce the recorded output.
 *
 * usage: clockrand [ROUNDS]   (default 3)
 * Exits 1 if the monotonic clock ever goes backwards or a call fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    int64_t last_mono = -1;
    int ok = 1;
    for (int r = 0; r < rounds; r++) {
        struct timespec rt, mono;
        unsigned char bytes[16];
        if (clock_gettime(CLOCK_REALTIME, &rt) != 0 ||
            clock_gettime(CLOCK_MONOTONIC, &mono) != 0 ||
            getentropy(bytes, sizeof bytes) != 0) {
            printf("round %d: host call failed\n", r);
            return 1;
        }
        int64_t mono_ns = (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec;
        if (mono_ns < last_mono) ok = 0;
        last_mono = mono_ns;
        printf("round %d realtime=%lld.%09ld monotonic=%lld random=", r,
               (long long)rt.tv_sec, rt.tv_nsec, (long long)mono_ns);
        for (size_t i = 0; i < sizeof bytes; i++) printf("%02x", bytes[i]);
        printf("\n");
    }
    printf("monotonic %s\n", ok ? "ok" : "WENT BACKWARDS");
    return ok ? 0 : 1;
}
