#!/bin/bash
# A thread that cannot stop (it waits in the kernel, state D: here the parent
# of a vfork child that has not exec'd yet; in life a hung NFS or FUSE mount)
# must not keep the rest of the process stopped. graft waits 20 ms for the
# stop, lets the others go, and tries again only once that thread has
# stopped: refused with exit 2 naming the thread and where it waits if that
# takes longer than --timeout, applied once it is over otherwise. The
# process's longest pause stays short either way. And a vfork child, which
# shares the victim's memory without being one of its threads, is refused.
. "$(dirname "$0")/lib.sh"
# A vfork is this test's way to get a thread into state D (a hung NFS read
# behaves the same). Its child shares the victim's memory, which graft
# refuses on its own (the last part); GRAFT_TEST_FAULT=no-mm-check turns
# that refusal off so that the parts before reach the stop of the world.

gcc -O2 -g -pthread -o "$T/victim" "$HERE/late/victim.c" || fail "compile the victim"
patch_cc "$T/fix.o" "$HERE/late/fix.c"
printf 'id late\ntarget victim\nobject fix.o\nreplace answer answer_v2\n' >"$T/m"
run_graft 0 pack "$T/m" -o "$T/p.graft"
victim_start v "$T/victim"
pid=${VPID[v]}

in_d_state() {
	local s
	for s in /proc/"$pid"/task/*/stat; do
		[ "$(sed 's/.*) //' "$s" | cut -d' ' -f1)" = D ] && return 0
	done
	return 1
}

expect_eq "vfork" "$(vask v 'vfork 4000')" ok
for _ in $(seq 100); do in_d_state && break; sleep 0.01; done
in_d_state || skip "no thread of the victim is in state D during its vfork"
vask v gap >/dev/null

start=$SECONDS
GRAFT_TEST_FAULT=no-mm-check run_graft 2 apply "$T/p.graft" --pid "$pid" --timeout 1
[ $((SECONDS - start)) -le 3 ] || fail "the refusal took $((SECONDS - start)) s with --timeout 1"
expect_in "refused, naming the thread" "$ERR" \
	"^error: cannot apply 'late' to pid $pid: thread [0-9]+ did not stop within 20 ms \(state D[^)]*: an uninterruptible wait\?\), [0-9]+ times? in 1000 ms; the process ran on meanwhile$"
gap=$(vask v gap)
echo "longest pause while refused: $gap ms"
[ "$gap" -lt 200 ] || fail "the process was held for $gap ms"
expect_eq "unchanged" "$(vask v answer)" 1
grep -q memfd:graft "/proc/$pid/maps" && fail "a region was left after the refusal"
in_d_state || fail "the vfork ended too early for the next part"

# with time enough, graft waits for the thread (the process running) and applies
GRAFT_TEST_FAULT=no-mm-check run_graft 0 apply "$T/p.graft" --pid "$pid" --timeout 20
expect_in "applied" "$OUT" "^pid $pid: applied 'late' \(1 function\)"
gap=$(vask v gap)
echo "longest pause until applied: $gap ms"
[ "$gap" -lt 200 ] || fail "the process was held for $gap ms"
expect_eq "patched" "$(vask v answer)" 2
tr=$(awk '/^TracerPid:/{print $2}' /proc/"$pid"/task/*/status | sort -u | tr '\n' ' ')
[ "$tr" = "0 " ] || fail "threads left traced: TracerPid $tr"
run_graft 0 revert late --pid "$pid"
expect_eq "reverted" "$(vask v answer)" 1

# the thread graft borrows for its remote calls (the main one) cannot stop:
# refused after 1 s, the process running all along, the thread let go
expect_eq "vfork in main" "$(vask v 'vfork-main 3000')" ok
for _ in $(seq 100); do in_d_state && break; sleep 0.01; done
in_d_state || fail "the main thread is not in state D"
start=$SECONDS
GRAFT_TEST_FAULT=no-mm-check run_graft 2 apply "$T/p.graft" --pid "$pid" --timeout 5
[ $((SECONDS - start)) -le 3 ] || fail "the refusal took $((SECONDS - start)) s"
expect_in "borrowed thread late" "$ERR" "^error: cannot apply 'late' to pid $pid: thread $pid did not stop within 1000 ms \(state D[^)]*: an uninterruptible wait\?\); the process ran on meanwhile$"
grep -q memfd:graft "/proc/$pid/maps" && fail "a region was left after the refusal"
expect_eq "main thread back" "$(vask v answer)" 1
tr=$(awk '/^TracerPid:/{print $2}' /proc/"$pid"/task/*/status | sort -u | tr '\n' ' ')
[ "$tr" = "0 " ] || fail "threads left traced: TracerPid $tr"
[ "$(vask v gap)" -lt 200 ] || fail "the process was held"

# the vfork child shares the victim's address space: stopping either leaves
# the other running the same code, so neither is patched while they share,
# whether named with --pid or found by a host-wide run
expect_eq "vfork again" "$(vask v 'vfork 4000')" ok
for _ in $(seq 100); do child=$(pgrep -P "$pid" | head -1); [ -n "$child" ] && break; sleep 0.01; done
[ -n "$child" ] || fail "no vfork child"
run_graft 2 apply "$T/p.graft" --pid "$child"
expect_in "child refused" "$ERR" "^error: cannot apply 'late' to pid $child: pid $child shares its memory with pid $pid \(a vfork child that has not exec'd yet, or clone\(CLONE_VM\)\): graft cannot stop both; try again when one has exec'd or exited$"
run_graft 2 apply "$T/p.graft" --exe "$T/victim" --timeout 1
expect_in "host-wide: child" "$OUT" "^pid $child \(victim\): SKIPPED pid $child shares its memory with pid $pid "
expect_in "host-wide: parent" "$OUT" "^pid $pid \(victim\): SKIPPED pid $pid shares its memory with pid $child "
grep -q memfd:graft "/proc/$pid/maps" && fail "a region was mapped into the shared memory"
expect_eq "unchanged" "$(vask v answer)" 1
exit 0
