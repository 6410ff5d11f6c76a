/* Pentad microVM guest agent: PID 1 of the VM, built static into the initramfs by
   scripts/build-microvm-image. It speaks a line protocol on the serial port /dev/ttyS0 (docs/sandbox.md):

     host:  EXEC <id> <timeout_ms> <stdin hex or -> <hex arg0> <hex arg1> ...
     agent: PENTAD OUT <id> <hex>    stdout as it arrives
            PENTAD ERR <id> <hex>    stderr as it arrives
            PENTAD EXIT <id> <code> <timed_out>

   argv is executed directly (never through a shell), in its own session, killed with its whole process
   group at the deadline. Lines that do not start with "PENTAD " (kernel messages) are not ours. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static FILE *chan;   /* writes */
static FILE *input;  /* reads, a separate stream on the same tty */

static void emit_hex(const char *tag, const char *id, const unsigned char *data, ssize_t n) {
    static const char digits[] = "0123456789abcdef";
    fprintf(chan, "PENTAD %s %s ", tag, id);
    for (ssize_t i = 0; i < n; i++) {
        fputc(digits[data[i] >> 4], chan);
        fputc(digits[data[i] & 15], chan);
    }
    fputc('\n', chan);
    fflush(chan);
}

static int unhex(const char *text, char *out, size_t cap) {
    size_t n = strlen(text);
    if (n % 2 || n / 2 >= cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int byte;
        if (sscanf(text + 2 * i, "%2x", &byte) != 1) return -1;
        out[i] = (char)byte;
    }
    out[n / 2] = 0;
    return 0;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run(char *line) {
    char *save = NULL;
    strtok_r(line, " \n", &save); /* EXEC */
    char *id = strtok_r(NULL, " \n", &save);
    char *timeout_text = strtok_r(NULL, " \n", &save);
    if (!id || !timeout_text) return;
    long long timeout_ms = atoll(timeout_text);
    char *stdin_hex = strtok_r(NULL, " \n", &save);
    if (!stdin_hex) return;
    char *argv[256];
    int argc = 0;
    char *hex;
    while ((hex = strtok_r(NULL, " \n", &save)) && argc < 255) {
        size_t cap = strlen(hex) / 2 + 1;
        argv[argc] = malloc(cap);
        if (unhex(hex, argv[argc], cap)) { fprintf(chan, "PENTAD EXIT %s 126 0\n", id); fflush(chan); return; }
        argc++;
    }
    argv[argc] = NULL;
    if (argc == 0) { fprintf(chan, "PENTAD EXIT %s 126 0\n", id); fflush(chan); return; }
    int out[2], err[2], in[2];
    if (pipe(out) || pipe(err) || pipe(in)) { fprintf(chan, "PENTAD EXIT %s 126 0\n", id); fflush(chan); return; }
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]); close(err[0]); close(in[1]);
        if (chdir("/work")) { /* stays in / */ }
        execvp(argv[0], argv);
        dprintf(2, "%s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out[1]); close(err[1]); close(in[0]);
    if (strcmp(stdin_hex, "-") != 0) {
        /* small inputs only through this channel (a tar of a project is fine); written before reading
           output, so a command that prints a lot before reading its input is not supported */
        size_t cap = strlen(stdin_hex) / 2 + 1;
        char *data = malloc(cap);
        if (data && unhex(stdin_hex, data, cap) == 0) {
            size_t left = strlen(stdin_hex) / 2, done = 0;
            signal(SIGPIPE, SIG_IGN);
            while (left > 0) {
                ssize_t n = write(in[1], data + done, left);
                if (n <= 0) break;
                done += (size_t)n; left -= (size_t)n;
            }
        }
        free(data);
    }
    close(in[1]);
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2, timed_out = 0;
    long long deadline = now_ms() + timeout_ms;
    unsigned char buffer[2048];
    while (open_fds > 0) {
        long long left = deadline - now_ms();
        if (left <= 0) { timed_out = 1; kill(-pid, SIGKILL); break; }
        if (poll(fds, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
            if (n <= 0) { close(fds[i].fd); fds[i].fd = -1; open_fds--; continue; }
            emit_hex(i == 0 ? "OUT" : "ERR", id, buffer, n);
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    for (int i = 0; i < 2; i++) if (fds[i].fd >= 0) close(fds[i].fd);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(chan, "PENTAD EXIT %s %d %d\n", id, code, timed_out);
    fflush(chan);
    for (int i = 0; i < argc; i++) free(argv[i]);
}

int main(void) {
    mkdir("/proc", 0755); mkdir("/sys", 0755); mkdir("/dev", 0755);
    mkdir("/tmp", 01777); mkdir("/work", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
    setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
    setenv("HOME", "/work", 1);
    int fd = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
    if (fd < 0) return 1;
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) { cfmakeraw(&tio); tcsetattr(fd, TCSANOW, &tio); }
    input = fdopen(fd, "r");
    chan = fdopen(dup(fd), "w");
    signal(SIGCHLD, SIG_DFL);
    fprintf(chan, "\nPENTAD READY\n");
    fflush(chan);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, input) >= 0) {
        if (strncmp(line, "EXEC ", 5) == 0) run(line);
        else if (strncmp(line, "PING", 4) == 0) { fprintf(chan, "PENTAD PONG\n"); fflush(chan); }
        else if (strncmp(line, "POWEROFF", 8) == 0) { sync(); reboot(RB_POWER_OFF); }
        /* anything else: ignored */
        while (waitpid(-1, NULL, WNOHANG) > 0) { }
    }
    return 0;
}
