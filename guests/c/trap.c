/*
 * trap: prints one line, then executes `unreachable`. Tests use it to check
 * that a guest trap is reported as a clean error with the output before it
 * preserved. write() is used so the line is out before the trap.
 */
#include <string.h>
#include <unistd.h>

int main(void) {
    static const char msg[] = "about to trap\n";
    write(1, msg, strlen(msg));
    __builtin_trap();
}
