/* progress.c - see progress.h.  The bar is redrawn in place with '\r' and
 * erased at the end, so it never mixes with the summary or an error line. */
#include "progress.h"

#include <stdio.h>
#include <time.h>

double sc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void sc_progress_start(sc_progress *p, int on, const char *what, size_t total,
                       uint64_t total_bytes)
{
    p->on = on;
    p->t0 = sc_now();
    p->last = 0;
    p->total = total;
    p->total_bytes = total_bytes;
    p->what = what;
}

void sc_progress_update(sc_progress *p, size_t done, uint64_t done_bytes)
{
    if (!p->on) return;
    double now = sc_now();
    if (done < p->total && now - p->last < 0.1) return;
    p->last = now;
    double el = now - p->t0, rate = el > 0 ? done_bytes / el : 0;
    double frac = p->total_bytes ? (double)done_bytes / p->total_bytes
                                 : p->total ? (double)done / p->total : 1;
    char bar[31];
    int fill = (int)(frac * 30 + 0.5);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : ' ';
    bar[30] = 0;
    char eta[32] = "--";
    if (rate > 0 && frac > 0) snprintf(eta, sizeof eta, "%.0fs", el / frac - el);
    fprintf(stderr, "\r[%s] %zu/%zu %s  %.1f MB/s  ETA %s \033[K", bar, done, p->total, p->what,
            rate / 1e6, eta);
    fflush(stderr);
}

void sc_progress_end(sc_progress *p)
{
    if (!p->on) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}
