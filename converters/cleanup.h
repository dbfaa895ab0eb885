/* cleanup.h - remove slqconv's temporary files when it is interrupted.
 *
 * Outputs are written under temporary names and renamed into place when
 * complete (slq_writer, slq_st_writer, staged files), so an interrupted run
 * never leaves a partial file at the final path.  On SIGINT, SIGTERM or
 * SIGHUP the temporary files themselves are removed too; SIGKILL cannot be
 * caught, and leaves them (as NAME.tmp.XXXXXX beside the output). */
#ifndef SC_CLEANUP_H
#define SC_CLEANUP_H

/* Install the handlers (once, at start-up). */
void sc_cleanup_install(void);
/* Register a temporary file to remove on a signal; returns a slot for
 * sc_cleanup_drop, or -1 when none is free or the path is too long (then
 * the file is simply not removed on a signal). */
int sc_cleanup_add(const char *path);
/* Forget a slot (after the file was renamed into place or removed); -1 is a no-op. */
void sc_cleanup_drop(int slot);

#endif
