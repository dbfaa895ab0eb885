/* cleanup.c - signal-time removal of temporary output files (cleanup.h).
 *
 * The handler may only use async-signal-safe calls: it unlinks paths copied
 * into static buffers beforehand (unlink is safe, the writer's abort, which
 * frees memory, is not), then restores the default action and re-raises the
 * signal so that the exit status says what killed the process. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

#define SLOTS 16
#define PATH_CAP 4200

static char paths[SLOTS][PATH_CAP];
static volatile sig_atomic_t used[SLOTS];

static void on_signal(int sig)
{
    for (int i = 0; i < SLOTS; i++)
        if (used[i]) unlink(paths[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void sc_cleanup_install(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigfillset(&sa.sa_mask); /* no other signal runs inside the handler */
        struct sigaction old;
        /* keep an inherited SIG_IGN (e.g. nohup), as shells expect */
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[k], &sa, NULL);
    }
}

int sc_cleanup_add(const char *path)
{
    if (!path || strlen(path) >= PATH_CAP) return -1;
    for (int i = 0; i < SLOTS; i++) {
        if (used[i]) continue;
        memcpy(paths[i], path, strlen(path) + 1);
        /* the copy is complete before the handler can see the slot */
        atomic_signal_fence(memory_order_seq_cst);
        used[i] = 1;
        return i;
    }
    return -1;
}

void sc_cleanup_drop(int slot)
{
    if (slot >= 0 && slot < SLOTS) used[slot] = 0;
}
