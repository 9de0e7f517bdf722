#!/bin/bash
# make bench: how long is a process stopped by graft apply and revert?
# Measured by graft itself (first interrupt to last detach) and from inside
# the victim (largest gap seen by a thread looping on clock_gettime), for
# victims with 1, 8 and 64 threads, RUNS runs each (default 50); then scan,
# apply --all and revert --all over 1000 idle processes (host-bench.sh); then
# the wall time of graft build against an incremental rebuild (build-bench.sh).
# Writes bench/results.txt; docs/benchmarks.md quotes it.
set -eu
B=${1:-build}
RUNS=${RUNS:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTF=$ROOT/bench/results.txt
W=$(mktemp -d /tmp/graft-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT

gcc -O2 -g -pthread -o "$W/victim" "$ROOT/bench/victim.c"
gcc -O2 -g -o "$W/bench" "$ROOT/bench/bench.c" -ljansson
gcc -O2 -g -I"$ROOT/src" -o "$W/floor" "$ROOT/bench/freeze-floor.c" "$ROOT/$B/libgraft.a" -lelf -ljansson
gcc -O2 -c -fPIC -ffunction-sections -o "$W/patch.o" "$ROOT/bench/patch.c"
printf 'id bench\ntarget victim\nobject patch.o\nreplace work work_v2\n' >"$W/m"
"$ROOT/$B/graft" pack "$W/m" -o "$W/p.graft" >/dev/null
# apply checks signatures: sign with a throwaway key the bench trusts
"$ROOT/$B/graft" keygen -o "$W/bench" >/dev/null
mkdir -p "$W/keys.d" && cp "$W/bench.pub" "$W/keys.d/"
"$ROOT/$B/graft" sign "$W/p.graft" --key "$W/bench.key" >/dev/null
export GRAFT_KEYS_DIR=$W/keys.d GRAFT_STATE_DIR=$W/state
{
	echo "graft stop-time benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) CPUs, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB,"
	echo "         kernel $(uname -r), virtualization: $(systemd-detect-virt 2>/dev/null || echo unknown)"
	echo "graft:   $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $RUNS runs per row; times in ms: median / p99 / max"
	echo "victim:  main thread loops on clock_gettime at SCHED_FIFO while armed: its largest gap is the"
	echo "         stop as seen from inside (baseline: armed 5 ms, no graft); the other threads call"
	echo "         work() then sleep 1 ms, like server workers"
	echo
	"$W/bench" "$ROOT/$B/graft" "$W/victim" "$W/p.graft" "$RUNS" 1 8 64
	echo
	head -c 4096 /dev/zero >"$W/shm"
	for n in 1 64; do
		"$W/victim" $n "$W/shm" >/dev/null &
		vp=$!
		sleep 0.5
		"$W/floor" $vp "$RUNS"
		kill $vp
		wait $vp 2>/dev/null || true
	done
	echo
	"$ROOT/bench/host-bench.sh" "$B"
	echo
	"$ROOT/bench/build-bench.sh" "$B"
} | tee "$OUTF"
