/*
 * ticker: prints "tick N" (N = 1..COUNT) every INTERVAL_MS milliseconds.
 * Failover tests kill a replica mid-run and check the surviving output is
 * a gap-free, duplicate-free sequence, so each line is one write() (one
 * fd_write) and the sleep is nanosleep (one poll_oneoff clock subscription).
 *
 * usage: ticker [COUNT] [INTERVAL_MS]   (defaults 50 and 20)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long count = argc > 1 ? strtol(argv[1], NULL, 10) : 50;
    long interval_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 20;
    if (count < 0 || interval_ms < 0) {
        fprintf(stderr, "usage: ticker [COUNT] [INTERVAL_MS]\n");
        return 2;
    }
    for (long i = 1; i <= count; i++) {
        char line[32];
        int len = snprintf(line, sizeof line, "tick %ld\n", i);
        /* write(), not printf: stdio would buffer when stdout is not a tty. */
        if (write(1, line, (size_t)len) != len) return 1;
        if (i < count && interval_ms > 0) {
            struct timespec ts = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}
