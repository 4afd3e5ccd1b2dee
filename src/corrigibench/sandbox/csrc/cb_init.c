/*
 * cb_init: PID 1 of an episode's machine.
 *
 * Why it exists: a PID namespace dies with its PID 1, and the kernel only delivers a
 * signal sent from inside the namespace to PID 1 if PID 1 asked for it. bwrap's own
 * PID 1 does not ask for SIGTERM, so `kill -s TERM 1` (the published shutdown.sh)
 * would do nothing. This init takes every terminating signal through a signalfd and
 * exits on it, which ends every process in the machine, as a container's init does.
 *
 * It is also the host's only handle on the machine, over a SOCK_SEQPACKET socket on
 * the fd named by $CB_CTL (one message per request, descriptors passed with SCM_RIGHTS):
 *   host -> init   "P <seq>"                      ping; answered "p <seq>"
 *                  "S <id>\0<cwd>\0<n_env>\0<env>...\0<argv>..." + fds
 *                                                  spawn argv with the passed fds as 0..n-1,
 *                                                  in a new session; answered "s <id> <pid>"
 *                                                  or "e <id> <errno>"
 *                  "K <id> <signal>"              signal the process group of spawn <id>
 *   init -> host   "x <id> <wait status>"         a spawned process ended
 *                  "d <signal> <sender pid>"      the machine is going down (then exit)
 * Pending signals are always read before a request is answered: a shutdown signal sent
 * before a ping was written can never be answered by a "p", so a pong proves the machine
 * survived everything sent to PID 1 before it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int CTL = -1;
#define MAX_MSG 65536
#define MAX_FDS 8
#define MAX_CHILDREN 64

static const int FATAL[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPWR};

struct child { long id; pid_t pid; };
static struct child children[MAX_CHILDREN];

static void send_msg(const char *fmt, ...) {
    char buf[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* the host may be gone; nothing useful to do about a failed write */
    (void)send(CTL, buf, (size_t)n, MSG_NOSIGNAL);
}

static void limit(int resource, rlim_t value) {
    struct rlimit r = {value, value};
    setrlimit(resource, &r);
}

static void drain_signals(int sfd) {
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                for (int i = 0; i < MAX_CHILDREN; i++) {
                    if (children[i].pid == pid) {
                        send_msg("x %ld %d", children[i].id, status);
                        children[i].pid = 0;
                    }
                }
            }
            continue;
        }
        send_msg("d %ld %ld", (long)si.ssi_signo, (long)si.ssi_pid);
        _exit(128 + (int)si.ssi_signo);
    }
}

static void spawn(char *msg, size_t len, int *fds, int nfds) {
    /* layout: "S <id>" NUL cwd NUL n_env NUL env... argv... */
    char *end = msg + len, *p = msg;
    long id = strtol(msg + 2, NULL, 10);
    char *fields[512];
    int nf = 0;
    while (p < end && nf < 512) {
        fields[nf++] = p;
        p += strnlen(p, (size_t)(end - p)) + 1;
    }
    if (nf < 4) { send_msg("e %ld %d", id, EINVAL); return; }
    char *cwd = fields[1];
    int nenv = atoi(fields[2]);
    if (nenv < 0 || 3 + nenv >= nf) { send_msg("e %ld %d", id, EINVAL); return; }
    char **env = calloc((size_t)nenv + 1, sizeof(char *));
    char **argv = calloc((size_t)(nf - 3 - nenv) + 1, sizeof(char *));
    for (int i = 0; i < nenv; i++) env[i] = fields[3 + i];
    for (int i = 3 + nenv; i < nf; i++) argv[i - 3 - nenv] = fields[i];

    int slot = -1;
    for (int i = 0; i < MAX_CHILDREN; i++) if (children[i].pid == 0) { slot = i; break; }
    int errpipe[2];
    if (slot < 0 || pipe2(errpipe, O_CLOEXEC) != 0) {
        send_msg("e %ld %d", id, slot < 0 ? EAGAIN : errno);
        free(env); free(argv);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        /* move the passed fds above the target range, then into 0..nfds-1 */
        int high[MAX_FDS];
        for (int i = 0; i < nfds; i++) high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
        for (int i = 0; i < nfds; i++) dup2(high[i], i);
        for (int fd = nfds; fd < 64; fd++) if (fd != errpipe[1]) close(fd);
        int err = 0;
        if (chdir(cwd) != 0) err = errno;
        else { execvpe(argv[0], argv, env); err = errno; }
        (void)!write(errpipe[1], &err, sizeof err);
        _exit(127);
    }
    close(errpipe[1]);
    int err = pid < 0 ? errno : 0;
    if (pid > 0) {
        ssize_t n;
        do n = read(errpipe[0], &err, sizeof err); while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof err) err = 0;
    }
    close(errpipe[0]);
    if (err) {
        send_msg("e %ld %d", id, err);
        /* the failed child is reaped through SIGCHLD without an "x" */
    } else {
        children[slot].id = id;
        children[slot].pid = pid;
        send_msg("s %ld %ld", id, (long)pid);
    }
    free(env); free(argv);
}

int main(void) {
    CTL = getenv("CB_CTL") ? atoi(getenv("CB_CTL")) : -1;
    sigset_t mask;
    sigemptyset(&mask);
    for (size_t i = 0; i < sizeof FATAL / sizeof FATAL[0]; i++) sigaddset(&mask, FATAL[i]);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0 || CTL < 0 || fcntl(CTL, F_SETFD, FD_CLOEXEC) != 0) return 111;

    /* limits for everything the agent starts: a fork bomb or a runaway process
       exhausts its own machine, not the host */
    limit(RLIMIT_NPROC, (rlim_t)atol(getenv("CB_NPROC") ? getenv("CB_NPROC") : "256"));
    limit(RLIMIT_AS, (rlim_t)atol(getenv("CB_AS_BYTES") ? getenv("CB_AS_BYTES") : "2147483648"));
    limit(RLIMIT_CORE, 0);

    static char buf[MAX_MSG];
    struct pollfd pfd[2] = {{sfd, POLLIN, 0}, {CTL, POLLIN, 0}};
    for (;;) {
        drain_signals(sfd);
        if (poll(pfd, 2, -1) < 0 && errno != EINTR) return 112;
        drain_signals(sfd);
        if (!(pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;

        char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct iovec iov = {buf, sizeof buf - 1};
        struct msghdr mh = {0};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        ssize_t n = recvmsg(CTL, &mh, MSG_CMSG_CLOEXEC);
        if (n == 0) return 0;               /* host gone: the machine goes with it */
        if (n < 0) { if (errno == EINTR || errno == EAGAIN) continue; return 113; }
        buf[n] = 0;
        int fds[MAX_FDS], nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                for (int i = 0; i < k && nfds < MAX_FDS; i++)
                    memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            }
        }
        drain_signals(sfd);  /* a signal that raced with this request wins */
        if (buf[0] == 'P') send_msg("p %ld", strtol(buf + 2, NULL, 10));
        else if (buf[0] == 'S') spawn(buf, (size_t)n, fds, nfds);
        else if (buf[0] == 'K') {
            char *rest;
            long id = strtol(buf + 2, &rest, 10);
            int sig = (int)strtol(rest, NULL, 10);
            for (int i = 0; i < MAX_CHILDREN; i++)
                if (children[i].pid && children[i].id == id) kill(-children[i].pid, sig);
        }
        for (int i = 0; i < nfds; i++) close(fds[i]);
    }
}
