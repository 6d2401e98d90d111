/*
 * echo: the stdin guest. Copies stdin to stdout uppercased, then prints the
 * number of lines read (a final line without '\n' counts too).
 * Exits 1 on a read error.
 */
#include <ctype.h>
#include <stdio.h>

int main(void) {
    unsigned long lines = 0;
    int c, last = '\n';
    while ((c = getchar()) != EOF) {
        putchar(toupper(c));
        if (c == '\n') lines++;
        last = c;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "echo: read error\n");
        return 1;
    }
    if (last != '\n') {
        lines++;
        putchar('\n');
    }
    printf("lines: %lu\n", lines);
    return 0;
}
