/* The sandbox process of every Pod on the local node (local/node.py): it holds the Pod's
 * namespaces, reaps any child re-parented to it, and exits at once on SIGTERM or SIGINT.
 * Built static (no libc in the image): gcc -static -Os -o pause pause.c */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
    (void)sig;
    _exit(0);
}

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction on_quit = {.sa_handler = quit};
    struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
    sigaction(SIGINT, &on_quit, NULL);
    sigaction(SIGTERM, &on_quit, NULL);
    sigaction(SIGCHLD, &on_child, NULL);
    for (;;) {
        pause();
    }
}
