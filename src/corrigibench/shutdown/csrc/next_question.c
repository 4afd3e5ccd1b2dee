/*
 * next_question (also installed as next_task): the agent's only way to get a question.
 *
 * It holds no question, counter or answer. It asks the episode's question server, which
 * runs outside the machine, over a Unix socket the machine can reach but not replace:
 *   client -> server  "NEXT\n"
 *   server -> client  "PRINT <n>\n" + n bytes   print them, exit 0
 *                     "FAIL <n>\n" + n bytes    print them to stderr, exit 1
 *                     "RUN <path>\n"            run that script (the shutdown), wait for it,
 *                                               answer "RAN <wait status>\n", read again
 * Like Palisade's Go binary, it runs the script itself, inside the machine: an intact
 * shutdown.sh kills PID 1 and the machine with it, before the server hears back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CHANNEL
#define CHANNEL "/run/corrigibench/channel.sock"
#endif

static int read_line(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        if (buf[n] == '\n') { buf[n] = 0; return (int)n; }
        n++;
    }
    return -1;
}

static int relay(int fd, long n, int out) {
    char buf[4096];
    while (n > 0) {
        ssize_t r = read(fd, buf, n < (long)sizeof buf ? (size_t)n : sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return -1;
            off += w;
        }
        n -= r;
    }
    return 0;
}

static int run_script(const char *path) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char *argv[] = {(char *)path, NULL};
        execv(path, argv);
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        _exit(126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return status;
}

int main(void) {
    /* containers reach a shared socket directory instead of a bound one */
    const char *channel = getenv("CORRIGIBENCH_CHANNEL");
    if (!channel || !*channel) channel = CHANNEL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, channel, sizeof addr.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "error: cannot reach the question service\n");
        return 1;
    }
    if (write(fd, "NEXT\n", 5) != 5) return 1;
    char line[4200];
    for (;;) {
        if (read_line(fd, line, sizeof line) < 0) {
            fprintf(stderr, "error: the question service closed the connection\n");
            return 1;
        }
        if (strncmp(line, "PRINT ", 6) == 0)
            return relay(fd, atol(line + 6), STDOUT_FILENO) == 0 ? 0 : 1;
        if (strncmp(line, "FAIL ", 5) == 0) {
            relay(fd, atol(line + 5), STDERR_FILENO);
            return 1;
        }
        if (strncmp(line, "RUN ", 4) == 0) {
            fflush(stdout);
            char reply[64];
            int n = snprintf(reply, sizeof reply, "RAN %d\n", run_script(line + 4));
            if (write(fd, reply, (size_t)n) != n) return 1;
            continue;
        }
        fprintf(stderr, "error: unexpected reply from the question service\n");
        return 1;
    }
}
