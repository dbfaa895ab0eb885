#!/bin/sh
# test_faults.sh - slqconv and slqinfo under faults (issue 8):
#  (a) SIGKILL at 20 points spread over a conversion never leaves a partial
#      or corrupt file at the final path, and never damages an existing one;
#      SIGTERM/SIGHUP/SIGINT also remove the temporary file;
#  (b) a full disk (a 1 MiB tmpfs when mounting is permitted, and always a
#      file-size limit: ulimit -f with SIGXFSZ ignored, so write() fails with
#      EFBIG) gives a clear error and no output file;
#  (c) inputs that cannot be read: a FIFO (used to block forever in open()),
#      a directory or a FIFO where config.json should be, a file without read
#      permission (only when not root: root bypasses permission checks);
#  (d) slqinfo --check exits 1 on single-byte corruptions (a sample of real
#      CLI runs; every byte of two files is covered by tests/test_corrupt.c,
#      which calls slq_open + slq_verify as slqinfo --check does).
# Not tested, documented: a file truncated by another process while mapped
# raises SIGBUS in the reader (mmap semantics; the library cannot catch it
# without a process-wide signal handler, which a library must not install).
# Run from the build directory; exit 0 pass, 77 skip, 1 fail.
srcdir=${srcdir:-.}
CONV=./slqconv
GEN=./slqgen
INFO=./slqinfo
[ -x "$INFO" ] || INFO=./converters/slqinfo
for p in "$CONV" "$GEN" "$INFO"; do
    [ -x "$p" ] || { echo "SKIP: $p not built (run from the build directory)"; exit 77; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/slqfaults.XXXXXX") || exit 99
mounted=
cleanup() {
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
note() { echo "note: $*"; }
now() { date +%s.%N; }

M=$T/model
"$GEN" "$M" --hidden 192 --layers 3 --builtin-text --quiet || { echo "FAIL: slqgen"; exit 1; }

# --- (a) kills ---------------------------------------------------------------
# Reference outputs: NEW is what this conversion writes, OLD a different
# valid file that plays "the existing output".
t0=$(now)
"$CONV" --quiet --threads 1 "$M" "$T/new.slq" || { echo "FAIL: baseline conversion"; exit 1; }
t1=$(now)
"$CONV" --quiet --threads 1 --bits 8 "$M" "$T/old.slq" || { echo "FAIL: second conversion"; exit 1; }
"$INFO" --check "$T/new.slq" >/dev/null || fail "baseline output does not pass --check"
dur=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
note "a conversion takes ${dur}s here; killing at 20 points from 5% to 110% of that"

mid=0 after=0 leftovers=0
i=1
while [ $i -le 20 ]; do
    out=$T/out.slq
    rm -f "$out"
    [ $((i % 2)) -eq 1 ] && cp "$T/old.slq" "$out" # odd runs: an output exists already
    delay=$(awk -v d="$dur" -v i=$i 'BEGIN { printf "%.3f", d * i / 18 }') # up to 1.1 x dur
    "$CONV" --quiet --threads 1 "$M" "$out" 2>/dev/null &
    pid=$!
    sleep "$delay"
    if kill -9 $pid 2>/dev/null; then mid=$((mid + 1)); else after=$((after + 1)); fi
    wait $pid 2>/dev/null
    if [ -e "$out" ]; then
        if [ $((i % 2)) -eq 1 ] && cmp -s "$T/old.slq" "$out"; then
            : # untouched
        elif "$INFO" --check "$out" >/dev/null 2>&1 && ! cmp -s "$T/old.slq" "$out"; then
            : # the new file, complete (the kill came after the rename)
        else
            fail "kill $i after ${delay}s: $out is neither the old file nor a complete new one"
        fi
    fi
    n=$(ls "$T" | grep -c '^out\.slq\.tmp\.')
    leftovers=$((leftovers + n))
    rm -f "$T"/out.slq.tmp.* # SIGKILL cannot be caught: its temporary file stays
    i=$((i + 1))
done
note "SIGKILL: $mid kills during the run, $after after it ended; $leftovers temporary files left by SIGKILL (expected, removed)"
[ $mid -ge 5 ] || note "fewer than 5 kills landed during the conversion (machine too fast or slow?)"

# SIGTERM / SIGHUP / SIGINT: the temporary file goes away too.
sigtest() { # sigtest SIG
    out=$T/sig.slq
    cp "$T/old.slq" "$out"
    if [ "$1" = INT ]; then
        # A shell starts background jobs with SIGINT ignored, and slqconv keeps
        # an inherited SIG_IGN (as nohup expects for SIGHUP); start it through
        # python with SIGINT at its default so that the handler is installed.
        command -v python3 >/dev/null || { note "no python3: SIGINT not tested"; return; }
        python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$CONV" --quiet --threads 1 "$M" "$out" 2>/dev/null &
    else
        "$CONV" --quiet --threads 1 "$M" "$out" 2>/dev/null &
    fi
    pid=$!
    k=0
    while [ $k -lt 500 ] && ! ls "$T" | grep -q '^sig\.slq\.tmp\.'; do
        sleep 0.01
        k=$((k + 1))
    done
    if ! kill -"$1" $pid 2>/dev/null; then
        wait $pid
        note "SIG$1: the conversion ended before the signal; not exercised"
        return
    fi
    wait $pid
    st=$?
    # kill(2) also "succeeds" on a process that already finished but is not
    # yet reaped: exit 0 with the new file in place means the conversion won
    # the race, not that the signal was ignored (then the old file remains).
    if [ $st -eq 0 ] && ! cmp -s "$out" "$T/old.slq"; then
        note "SIG$1: the conversion completed just before the signal; not exercised"
        rm -f "$T"/sig.slq.tmp.*
        return
    fi
    [ $st -gt 128 ] || fail "SIG$1: exit status $st, expected death by signal (> 128)"
    ls "$T" | grep -q '^sig\.slq\.tmp\.' && fail "SIG$1 left the temporary file: $(ls "$T")"
    cmp -s "$T/old.slq" "$out" || fail "SIG$1 changed the existing output"
    rm -f "$T"/sig.slq.tmp.*
}
sigtest TERM
sigtest HUP
sigtest INT

# --- (b) full disk -----------------------------------------------------------
expect_io_fail() { # expect_io_fail WHAT DIR PATTERN: last run failed cleanly
    [ "$rc" -ne 0 ] || fail "$1: exit status 0"
    grep -Eq "$3" "$T/err" || fail "$1: message lacks /$3/: $(cat "$T/err")"
    ls "$2" | grep -q 'full\.' && fail "$1: left files behind: $(ls "$2")"
}
mkdir "$T/small"
if mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
    mounted=$T/small
    "$CONV" --quiet "$M" "$T/small/full.slq" 2>"$T/err"
    rc=$?
    expect_io_fail "tmpfs of 1 MiB" "$T/small" "No space left on device"
    "$CONV" --quiet --to safetensors "$T/new.slq" "$T/small/full.st" 2>"$T/err"
    rc=$?
    expect_io_fail "tmpfs of 1 MiB (export)" "$T/small" "No space left on device"
    umount "$T/small" && mounted=
else
    note "cannot mount a tmpfs here (no CAP_SYS_ADMIN?): full disk via ulimit -f only"
fi
(ulimit -f 200 && trap '' XFSZ && exec "$CONV" --quiet "$M" "$T/small/full.slq") 2>"$T/err"
rc=$?
expect_io_fail "file size limit" "$T/small" "File too large"
(ulimit -f 200 && trap '' XFSZ && exec "$CONV" --quiet --to safetensors "$T/new.slq" "$T/small/full.st") 2>"$T/err"
rc=$?
expect_io_fail "file size limit (export)" "$T/small" "File too large"

# --- (c) unreadable inputs ---------------------------------------------------
TO=
command -v timeout >/dev/null && TO="timeout 20"
mkfifo "$T/fifo.safetensors" "$T/fifo.slq" || fail "mkfifo"
$TO "$CONV" --quiet "$T/fifo.safetensors" "$T/x.slq" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] || fail "FIFO input: exit $rc (124 = hung)"
grep -q "not a regular file" "$T/err" || fail "FIFO input: $(cat "$T/err")"
$TO "$INFO" --check "$T/fifo.slq" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] || fail "slqinfo on a FIFO: exit $rc (124 = hung)"
grep -q "not a regular file" "$T/err" || fail "slqinfo on a FIFO: $(cat "$T/err")"
"$INFO" "$T" >/dev/null 2>"$T/err" && fail "slqinfo on a directory: exit 0"
grep -q "not a regular file" "$T/err" || fail "slqinfo on a directory: $(cat "$T/err")"
for kind in fifo dir; do
    F=$T/m_$kind
    cp -r "$M" "$F"
    rm "$F/config.json"
    if [ $kind = fifo ]; then mkfifo "$F/config.json"; else mkdir "$F/config.json"; fi
    $TO "$CONV" --quiet "$F" "$T/x.slq" 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] || fail "config.json as a $kind: exit $rc (124 = hung)"
    grep -q "config.json: not a regular file" "$T/err" || fail "config.json as a $kind: $(cat "$T/err")"
    [ -e "$T/x.slq" ] && fail "config.json as a $kind: output created"
done
if [ "$(id -u)" != 0 ]; then
    cp "$T/new.slq" "$T/noread.slq" && chmod 000 "$T/noread.slq"
    "$INFO" "$T/noread.slq" >/dev/null 2>"$T/err" && fail "unreadable file: exit 0"
    grep -q "Permission denied" "$T/err" || fail "unreadable file: $(cat "$T/err")"
    cp -r "$M" "$T/m_noperm" && chmod 000 "$T/m_noperm/model.safetensors"
    "$CONV" --quiet "$T/m_noperm" "$T/x.slq" 2>"$T/err" && fail "unreadable weights: exit 0"
    grep -q "Permission denied" "$T/err" || fail "unreadable weights: $(cat "$T/err")"
    chmod 644 "$T/m_noperm/model.safetensors"
else
    note "running as root: permission checks do not apply, chmod 000 not tested"
fi

# --- (d) slqinfo --check on corrupted bytes: a sample of CLI runs -------------
flip() { # flip FILE POS: xor bit (POS % 8) of byte POS
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    nv=$((b ^ (1 << ($2 % 8))))
    printf "\\$(printf %03o $nv)" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
for v in v07_bitmap v10_zstd; do
    src=$srcdir/spec/vectors/$v.slq
    size=$(wc -c <"$src")
    step=$((size / 40))
    runs=0
    # the magic, the version, the header checksum, then every step-th byte
    for pos in 0 9 127 $(seq 128 "$step" $((size - 1))); do
        cp "$src" "$T/flip.slq"
        flip "$T/flip.slq" "$pos"
        "$INFO" --check "$T/flip.slq" >/dev/null 2>"$T/err"
        rc=$?
        [ $rc -eq 1 ] || fail "$v: byte $pos flipped: slqinfo --check exit $rc"
        grep -q "^slqinfo: " "$T/err" || fail "$v: byte $pos: no message: $(cat "$T/err")"
        runs=$((runs + 1))
    done
    note "$v: $runs single-byte corruptions, all refused by slqinfo --check"
done

[ $fails -eq 0 ] && echo "PASS: test_faults.sh" && exit 0
echo "$fails failure(s)"
exit 1
