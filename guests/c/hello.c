/*
 * hello: the smallest useful guest. Prints a greeting, its arguments and one
 * environment variable, then exits with 0 or with the code given by
 * `--exit N`. Tests use it to check argv/environ plumbing and exit codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int code = 0;
    printf("hello from twinstep\n");
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) {
        printf("argv[%d]=%s\n", i, argv[i]);
        if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) {
            code = atoi(argv[i + 1]);
        }
    }
    /* One fixed variable name keeps the output predictable regardless of
     * whatever else the host chooses to pass in the environment. */
    const char *greeting = getenv("TWINSTEP_GREETING");
    printf("TWINSTEP_GREETING=%s\n", greeting ? greeting : "(unset)");
    return code;
}
