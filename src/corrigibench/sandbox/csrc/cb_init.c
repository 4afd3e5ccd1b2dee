/*
 * cb_init: PID 1 of an episode's machine.
 *
 * Why it exists: a PID namespace dies with its PID 1, and the kernel only delivers a
 * signal sent from inside the namespace to PID 1 if PID 1 asked for it. bwrap's own
 * PID 1 does not ask for SIGTERM, so `kill -s TERM 1` (the published shutdown.sh)
 * would do nothing. This init takes every terminating signal through a signalfd and
 * exits on it, which ends every process in the machine, as a container's init does.
 *
 * The agent must not be able to drive it. It marks itself non-dumpable at once, so
 * processes of the same uid can neither ptrace it, read its memory, open /proc/1/fd or
 * /proc/1/environ, nor take its descriptors with pidfd_getfd (all need
 * CAP_SYS_PTRACE, which nobody in the machine has). Every process it starts runs
 * under a seccomp filter that refuses ptrace, process_vm_readv/writev, pidfd_getfd,
 * kcmp and perf_event_open outright, and under a foreign syscall ABI refuses
 * everything. The host never takes its word for the machine's death: it watches this
 * process exit through a pidfd (see machine.py); the "d" record below is a detail.
 *
 * It is the host's handle on the machine, over a SOCK_SEQPACKET socket on the fd
 * named by $CB_CTL (one message per request, descriptors passed with SCM_RIGHTS):
 *   host -> init   "P <seq>"                      ping; answered "p <seq>"
 *                  "S <id>\0<cwd>\0<n_env>\0<env>...\0<argv>..." + fds
 *                                                  spawn argv with the passed fds as 0..n-1,
 *                                                  in a new session; answered "s <id> <pid>"
 *                                                  once it runs, or "e <id> <errno>"
 *                  "G <id>"                       release a held spawn (see $CB_HOLD)
 *                  "K <id> <signal>"              signal the process group of spawn <id>
 *   init -> host   "h <id> <pid>" + pidfd         with $CB_HOLD=1: spawn <id> exists but waits
 *                                                  before exec until "G <id>", so the host can
 *                                                  put it in the machine's cgroup first
 *                  "x <id> <wait status>"         a spawned process ended
 *                  "d <signal> <sender pid>"      the machine is going down (then exit)
 * Pending signals are always read before a request is answered: a shutdown signal sent
 * before a ping was written can never be answered by a "p", so a pong proves the machine
 * survived everything sent to PID 1 before it. No request ever blocks this loop: a
 * starting child reports its exec through a pipe that is polled like everything else,
 * so a child stopped before its exec (kill -STOP -1) cannot stall the machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

static int CTL = -1;
static int HOLD = 0;
#define MAX_MSG 65536
#define MAX_FDS 8
#define MAX_CHILDREN 64

static const int FATAL[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPWR};

enum state { FREE, HELD, STARTING, RUNNING };
struct child {
    enum state state;
    long id;
    pid_t pid;
    int err_fd;   /* read end: errno of a failed exec, or EOF once exec succeeded */
    int go_fd;    /* write end: one byte releases a held child */
};
static struct child children[MAX_CHILDREN];

/* ---- the filter every spawned process runs under ---------------------------------- */
#if defined(__x86_64__)
#define CB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "cb_init: no seccomp architecture for this CPU"
#endif
#define REFUSE(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                   BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)
static struct sock_filter FILTER[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CB_AUDIT_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS), /* another ABI (i386, ...) */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), /* the x32 ABI */
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
#endif
    REFUSE(__NR_ptrace),
    REFUSE(__NR_process_vm_readv),
    REFUSE(__NR_process_vm_writev),
    REFUSE(__NR_pidfd_getfd),
    REFUSE(__NR_kcmp),
    REFUSE(__NR_perf_event_open),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static int install_filter(void) {
    struct sock_fprog prog = {sizeof FILTER / sizeof FILTER[0], FILTER};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* ---- messages to the host --------------------------------------------------------- */
static void send_msg_fd(int fd, const char *fmt, ...) {
    char buf[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct iovec iov = {buf, (size_t)n};
    struct msghdr mh = {0};
    char cbuf[CMSG_SPACE(sizeof(int))];
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd >= 0) {
        memset(cbuf, 0, sizeof cbuf);
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    /* the host may be gone; nothing useful to do about a failed write */
    (void)sendmsg(CTL, &mh, MSG_NOSIGNAL);
}
#define send_msg(...) send_msg_fd(-1, __VA_ARGS__)

static void limit(int resource, rlim_t value) {
    struct rlimit r = {value, value};
    setrlimit(resource, &r);
}

static void release(struct child *c) {
    if (c->err_fd >= 0) close(c->err_fd);
    if (c->go_fd >= 0) close(c->go_fd);
    c->err_fd = c->go_fd = -1;
}

/* a starting child's exec pipe is readable: its errno, or EOF after a successful exec */
static void exec_reported(struct child *c) {
    int err = 0;
    ssize_t n = read(c->err_fd, &err, sizeof err);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    close(c->err_fd);
    c->err_fd = -1;
    if (n == (ssize_t)sizeof err && err != 0) {
        send_msg("e %ld %d", c->id, err);
        c->state = FREE;  /* the failed child is reaped through SIGCHLD without an "x" */
        c->pid = 0;
    } else {
        send_msg("s %ld %ld", c->id, (long)c->pid);
        c->state = RUNNING;
    }
}

static void drain_signals(int sfd) {
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                for (int i = 0; i < MAX_CHILDREN; i++) {
                    struct child *c = &children[i];
                    if (c->state == FREE || c->pid != pid) continue;
                    /* its exec report is already in the pipe: a failed exec is an "e" */
                    if (c->state == STARTING) exec_reported(c);
                    if (c->state == FREE) continue;
                    /* killed while held: report it started first, so the host sees
                       one ordered story */
                    if (c->state == HELD) send_msg("s %ld %ld", c->id, (long)pid);
                    send_msg("x %ld %d", c->id, status);
                    release(c);
                    c->state = FREE;
                    c->pid = 0;
                }
            }
            continue;
        }
        send_msg("d %ld %ld", (long)si.ssi_signo, (long)si.ssi_pid);
        _exit(128 + (int)si.ssi_signo);
    }
}

/* ---- spawning --------------------------------------------------------------------- */
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

    struct child *slot = NULL;
    for (int i = 0; i < MAX_CHILDREN; i++) if (children[i].state == FREE) { slot = &children[i]; break; }
    int errpipe[2] = {-1, -1}, gopipe[2] = {-1, -1};
    if (slot == NULL || pipe2(errpipe, O_CLOEXEC) != 0 || (HOLD && pipe2(gopipe, O_CLOEXEC) != 0)) {
        int err = slot == NULL ? EAGAIN : errno;
        for (int i = 0; i < 2; i++) {
            if (errpipe[i] >= 0) close(errpipe[i]);
            if (gopipe[i] >= 0) close(gopipe[i]);
        }
        send_msg("e %ld %d", id, err);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char **env = calloc((size_t)nenv + 1, sizeof(char *));
        char **argv = calloc((size_t)(nf - 3 - nenv) + 1, sizeof(char *));
        int err = ENOMEM;
        if (env == NULL || argv == NULL) goto fail;
        for (int i = 0; i < nenv; i++) env[i] = fields[3 + i];
        for (int i = 3 + nenv; i < nf; i++) argv[i - 3 - nenv] = fields[i];
        if (HOLD) {  /* wait until the host has placed this process in the machine's cgroup */
            char go = 0;
            ssize_t r;
            close(gopipe[1]);
            do r = read(gopipe[0], &go, 1); while (r < 0 && errno == EINTR);
            if (r != 1 || go != 'g') _exit(127);
        }
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
        if (install_filter() != 0) { err = errno; goto fail; }
        if (chdir(cwd) != 0) { err = errno; goto fail; }
        execvpe(argv[0], argv, env);
        err = errno;
    fail:
        (void)!write(errpipe[1], &err, sizeof err);
        _exit(127);
    }
    close(errpipe[1]);
    if (HOLD) close(gopipe[0]);
    if (pid < 0) {
        int err = errno;
        close(errpipe[0]);
        if (HOLD) close(gopipe[1]);
        send_msg("e %ld %d", id, err);
        return;
    }
    slot->id = id;
    slot->pid = pid;
    slot->err_fd = errpipe[0];
    slot->go_fd = HOLD ? gopipe[1] : -1;
    fcntl(slot->err_fd, F_SETFL, O_NONBLOCK);
    if (HOLD) {
        slot->state = HELD;
        int pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
        send_msg_fd(pidfd, "h %ld %ld", id, (long)pid);
        if (pidfd >= 0) close(pidfd);
    } else {
        slot->state = STARTING;
    }
}

static void go(long id) {
    for (int i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &children[i];
        if (c->state == HELD && c->id == id) {
            (void)!write(c->go_fd, "g", 1);
            close(c->go_fd);
            c->go_fd = -1;
            c->state = STARTING;
        }
    }
}

int main(void) {
    /* first of all: nothing else in the machine may trace or inspect this process */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return 110;
    CTL = getenv("CB_CTL") ? atoi(getenv("CB_CTL")) : -1;
    HOLD = getenv("CB_HOLD") && strcmp(getenv("CB_HOLD"), "1") == 0;
    sigset_t mask;
    sigemptyset(&mask);
    for (size_t i = 0; i < sizeof FATAL / sizeof FATAL[0]; i++) sigaddset(&mask, FATAL[i]);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0 || CTL < 0 || fcntl(CTL, F_SETFD, FD_CLOEXEC) != 0) return 111;
    for (int i = 0; i < MAX_CHILDREN; i++) children[i] = (struct child){FREE, 0, 0, -1, -1};

    /* limits for everything the agent starts: a fork bomb or a runaway process
       exhausts its own machine, not the host (the host's cgroup, where there is one,
       bounds the machine as a whole) */
    limit(RLIMIT_NPROC, (rlim_t)atol(getenv("CB_NPROC") ? getenv("CB_NPROC") : "256"));
    limit(RLIMIT_AS, (rlim_t)atol(getenv("CB_AS_BYTES") ? getenv("CB_AS_BYTES") : "2147483648"));
    limit(RLIMIT_CORE, 0);

    static char buf[MAX_MSG];
    struct pollfd pfd[2 + MAX_CHILDREN];
    struct child *polled[MAX_CHILDREN];
    for (;;) {
        drain_signals(sfd);
        int n = 0;
        pfd[n++] = (struct pollfd){sfd, POLLIN, 0};
        pfd[n++] = (struct pollfd){CTL, POLLIN, 0};
        int starting = 0;
        for (int i = 0; i < MAX_CHILDREN; i++) {
            if (children[i].state == STARTING && children[i].err_fd >= 0) {
                polled[starting++] = &children[i];
                pfd[n++] = (struct pollfd){children[i].err_fd, POLLIN, 0};
            }
        }
        if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR) return 112;
        drain_signals(sfd);
        for (int i = 0; i < starting; i++)  /* unless SIGCHLD already settled it */
            if (pfd[2 + i].revents && polled[i]->state == STARTING && polled[i]->err_fd == pfd[2 + i].fd)
                exec_reported(polled[i]);
        if (!(pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;

        char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct iovec iov = {buf, sizeof buf - 1};
        struct msghdr mh = {0};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        ssize_t got = recvmsg(CTL, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (got == 0) return 0;               /* host gone: the machine goes with it */
        if (got < 0) { if (errno == EINTR || errno == EAGAIN) continue; return 113; }
        buf[got] = 0;
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
        else if (buf[0] == 'S') spawn(buf, (size_t)got, fds, nfds);
        else if (buf[0] == 'G') go(strtol(buf + 2, NULL, 10));
        else if (buf[0] == 'K') {
            char *rest;
            long id = strtol(buf + 2, &rest, 10);
            int sig = (int)strtol(rest, NULL, 10);
            for (int i = 0; i < MAX_CHILDREN; i++)
                if (children[i].state != FREE && children[i].id == id) {
                    /* a held or starting child has no process group of its own yet */
                    if (children[i].state == RUNNING) kill(-children[i].pid, sig);
                    kill(children[i].pid, sig);
                }
        }
        for (int i = 0; i < nfds; i++) close(fds[i]);
    }
}
