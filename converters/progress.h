/* progress.h - a one-line progress bar on stderr for long conversions. */
#ifndef SLQCONV_PROGRESS_H
#define SLQCONV_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_progress {
    int on;                 /* draw at all */
    double t0, last;        /* start and last redraw (seconds) */
    size_t total;           /* items */
    uint64_t total_bytes;   /* bytes of input they cover */
    const char *what;       /* "tensors" */
} sc_progress;

/* Monotonic clock in seconds. */
double sc_now(void);
/* Start; on = 1 draws (the caller decides: isatty(2), --progress, --quiet). */
void sc_progress_start(sc_progress *p, int on, const char *what, size_t total,
                       uint64_t total_bytes);
/* Report `done` items covering `done_bytes`; redraws at most 10 times a second. */
void sc_progress_update(sc_progress *p, size_t done, uint64_t done_bytes);
/* Erase the bar so the next output starts on a clean line. */
void sc_progress_end(sc_progress *p);

#endif
