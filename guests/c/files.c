/*
 * files: exercises the WASI filesystem calls through libc and prints a
 * deterministic transcript (no timestamps, inode numbers or host paths).
 *
 * usage: files [DIR]   (default "."; DIR must be inside a preopen)
 *
 * Works in DIR/twinstep-files, which it removes first if a previous run left
 * it behind, and removes again at the end. Every check prints "ok" or
 * "FAIL"; the exit code is 0 only if all checks passed (1 otherwise).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;
static char root[512];

static void check(int cond, const char *what) {
    printf("%s %s\n", cond ? "ok  " : "FAIL", what);
    if (cond) passed++; else failed++;
}

/* Path relative to the working directory, in a static rotating buffer so a
 * call can take two paths (rename) without the caller managing memory. */
static const char *p(const char *rel) {
    static char bufs[2][640];
    static int next;
    char *b = bufs[next++ & 1];
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    return b;
}

static uint32_t fnv1a(const void *data, size_t len) {
    const uint8_t *d = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) { h ^= d[i]; h *= 16777619u; }
    return h;
}

static int write_file(const char *path, const char *text, int flags) {
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
    if (fd < 0) return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* Reads a whole file into buf (NUL-terminated); returns its length, or 0
 * with an empty buf if it cannot be opened (the checks then fail). */
static long read_file(const char *path, char *buf, size_t cap) {
    buf[0] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    size_t total = 0;
    ssize_t n;
    while (total + 1 < cap && (n = read(fd, buf + total, cap - 1 - total)) > 0) total += (size_t)n;
    close(fd);
    buf[total] = 0;
    return (long)total;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists a directory sorted by name: readdir order is host-specific. */
static int list_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    char *names[64];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 64) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof names[0], cmp_str);
    for (int i = 0; i < count; i++) {
        struct stat st;
        char rel[256];
        snprintf(rel, sizeof rel, "%s/%s", path, names[i]);
        if (stat(rel, &st) != 0) printf("  %s (stat failed)\n", names[i]);
        else if (S_ISDIR(st.st_mode)) printf("  %s/\n", names[i]);
        else printf("  %s (%lld bytes)\n", names[i], (long long)st.st_size);
        free(names[i]);
    }
    return count;
}

/* Removes a tree left behind by an interrupted earlier run. */
static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) { unlink(path); return; }
    struct dirent *e;
    char child[640];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        remove_tree(child);
    }
    closedir(d);
    rmdir(path);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    snprintf(root, sizeof root, "%s/twinstep-files", dir);
    char buf[1024];
    struct stat st;

    remove_tree(root);
    printf("files: working in twinstep-files\n");

    /* directories */
    check(mkdir(root, 0755) == 0, "mkdir twinstep-files");
    check(mkdir(p("sub"), 0755) == 0, "mkdir sub");
    check(mkdir(p("sub"), 0755) != 0 && errno == EEXIST, "mkdir sub again fails with EEXIST");
    check(stat(p("sub"), &st) == 0 && S_ISDIR(st.st_mode), "stat sub is a directory");

    /* write and read back */
    const char *text = "alpha\nbeta\ngamma\n";
    check(write_file(p("a.txt"), text, O_TRUNC) == 0, "write a.txt");
    long n = read_file(p("a.txt"), buf, sizeof buf);
    check(n == (long)strlen(text) && strcmp(buf, text) == 0, "read back a.txt");
    printf("     a.txt fnv1a=%08x\n", fnv1a(buf, (size_t)n));

    /* append */
    check(write_file(p("a.txt"), "delta\n", O_APPEND) == 0, "append to a.txt");
    n = read_file(p("a.txt"), buf, sizeof buf);
    check(strcmp(buf, "alpha\nbeta\ngamma\ndelta\n") == 0, "read back after append");
    check(stat(p("a.txt"), &st) == 0 && st.st_size == 23 && S_ISREG(st.st_mode), "stat a.txt size 23");

    /* seek: overwrite in the middle, read from an offset, find the end */
    int fd = open(p("a.txt"), O_RDWR);
    check(fd >= 0, "open a.txt read-write");
    check(lseek(fd, 6, SEEK_SET) == 6, "seek to 6");
    check(write(fd, "BETA", 4) == 4, "overwrite 4 bytes");
    check(lseek(fd, -6, SEEK_END) == 17, "seek to end-6");
    char tail[8] = {0};
    check(read(fd, tail, 6) == 6 && memcmp(tail, "delta\n", 6) == 0, "read tail");
    check(lseek(fd, 0, SEEK_CUR) == 23, "position is 23");
    check(lseek(fd, 0, SEEK_SET) == 0 && read(fd, buf, 11) == 11 && memcmp(buf, "alpha\nBETA\n", 11) == 0,
          "read start after overwrite");
    close(fd);
    n = read_file(p("a.txt"), buf, sizeof buf);
    printf("     a.txt fnv1a=%08x\n", fnv1a(buf, (size_t)n));

    /* more files, then rename and unlink */
    check(write_file(p("b.txt"), "bravo\n", O_TRUNC) == 0, "write b.txt");
    check(write_file(p("sub/c.txt"), "charlie\n", O_TRUNC) == 0, "write sub/c.txt");
    check(write_file(p("doomed.txt"), "short-lived\n", O_TRUNC) == 0, "write doomed.txt");
    check(rename(p("b.txt"), p("sub/renamed.txt")) == 0, "rename b.txt -> sub/renamed.txt");
    check(stat(p("b.txt"), &st) != 0 && errno == ENOENT, "b.txt is gone");
    n = read_file(p("sub/renamed.txt"), buf, sizeof buf);
    check(strcmp(buf, "bravo\n") == 0, "renamed file has the content");
    check(unlink(p("doomed.txt")) == 0, "unlink doomed.txt");
    check(open(p("doomed.txt"), O_RDONLY) < 0 && errno == ENOENT, "doomed.txt is gone");
    check(open(p("missing/x.txt"), O_WRONLY | O_CREAT, 0644) < 0 && errno == ENOENT,
          "create in missing dir fails with ENOENT");

    /* a larger file, to cross buffer boundaries */
    fd = open(p("big.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint32_t h = 2166136261u;
    for (int block = 0; block < 16; block++) {
        uint8_t data[4096];
        for (int i = 0; i < 4096; i++) data[i] = (uint8_t)((block * 31 + i * 7) & 0xff);
        h = fnv1a(data, sizeof data) ^ (h * 16777619u);
        if (write(fd, data, sizeof data) != (ssize_t)sizeof data) h = 0;
    }
    close(fd);
    check(stat(p("big.bin"), &st) == 0 && st.st_size == 65536, "big.bin is 65536 bytes");
    fd = open(p("big.bin"), O_RDONLY);
    uint32_t h2 = 2166136261u;
    for (int block = 0; block < 16; block++) {
        uint8_t data[4096];
        if (read(fd, data, sizeof data) != (ssize_t)sizeof data) { h2 = 1; break; }
        h2 = fnv1a(data, sizeof data) ^ (h2 * 16777619u);
    }
    close(fd);
    check(h == h2, "big.bin reads back identically");
    printf("     big.bin checksum=%08x\n", h2);

    /* listing (sorted) */
    printf("listing twinstep-files:\n");
    check(list_dir(root) == 3, "3 entries in twinstep-files");
    printf("listing twinstep-files/sub:\n");
    check(list_dir(p("sub")) == 2, "2 entries in sub");

    /* clean up */
    check(rmdir(p("sub")) != 0, "rmdir of non-empty sub fails");
    check(unlink(p("sub/c.txt")) == 0 && unlink(p("sub/renamed.txt")) == 0, "unlink files in sub");
    check(rmdir(p("sub")) == 0, "rmdir sub");
    check(unlink(p("a.txt")) == 0 && unlink(p("big.bin")) == 0, "unlink a.txt big.bin");
    check(rmdir(root) == 0, "rmdir twinstep-files");

    printf("files: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
