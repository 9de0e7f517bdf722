#!/bin/bash
# The held way home (ptrace/rsys.c, graft_rsys_end_chain with hold): in a
# host-wide run (here --exe narrowed by --pid), the borrowed thread of a
# single-threaded process maps the patch on its way home and stops there on
# a signal graft queued before letting it run, so the stop of the world
# finds the process stopped already (a single --pid apply does not hold).
# The signal is one whose default is to be ignored (SIGURG, SIGWINCH,
# SIGCHLD), that the process does not catch and the thread does not block;
# none such: the thread is let go and stopped again as before. Checked here:
# - which signal is taken, and that no handler of the process ever sees it,
#   none is left pending, the thread's mask is its own again;
# - graft killed with the thread held (just let go, and stopped at home):
#   the process runs on, untraced, unpatched, no handler called; the next
#   apply rolls back what was mapped and patches;
# - a signal of the process's own arriving during the way home is delivered
#   to its handler exactly once, before graft's stop;
# - a SIGSTOP as it is let run, and the address taken by the time it maps
#   (the cases of test-chain.sh, held);
# - the process killed on its way home: graft says so, promptly.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

gcc -O2 -g -pthread -o "$T/victim" "$HERE/held/victim.c" || fail "compile victim"
patch_cc "$T/patch.o" "$HERE/held/patch.c"
printf 'id held\ntarget victim\nobject patch.o\nreplace compute compute_v2\n' >"$T/m"
run_graft 0 pack "$T/m" -o "$T/held.graft"

URG=23 WINCH=28 CHLD=17 USR1=10
NOPEND=0000000000000000,0000000000000000
pending() { awk '/^(SigPnd|ShdPnd):/{print $2}' "/proc/$1/status" | paste -sd,; }
sigblk() { awk '/^SigBlk:/{print $2}' "/proc/$1/status"; }
# no handler of NAME ever ran for graft's candidate signals, none is pending
untouched() {
	for s in $URG $WINCH $CHLD; do
		expect_eq "$1: handler calls for signal $s" "$(vask "$1" "got $s")" 0
	done
	expect_eq "$1: signals pending" "$(pending "${VPID[$1]}")" "$NOPEND"
}

# --- which signal holds the thread: NAME:VICTIM ARGS:SIGNAL (- for none)
for c in "plain::$URG" "urg:c$URG:$WINCH" "urg-winch:c$URG c$WINCH:$CHLD" \
	"all:c$URG c$WINCH c$CHLD:-" "blocked:b$URG:$WINCH"; do
	name=${c%%:*} rest=${c#*:}
	args=${rest%%:*} want=${rest#*:}
	# shellcheck disable=SC2086 # the victim's arguments, split on purpose
	victim_start "$name" "$T/victim" $args
	pid=${VPID[$name]}
	mask=$(sigblk "$pid")
	run_graft 0 -v apply "$T/held.graft" --exe "$T/victim" --pid "$pid"
	if [ "$want" = - ]; then
		expect_in "$name: let go" "$ERR" "let go on its way home \(no signal it ignores and leaves unblocked\)"
		[[ $ERR == *"held on its way home"* ]] && fail "$name: held with a signal it catches"
	else
		expect_in "$name: held" "$ERR" "held on its way home, to stop there with signal $want\$"
	fi
	expect_eq "$name: patched" "$(vask "$name" 'compute 3')" 60
	untouched "$name"
	expect_eq "$name: its own mask" "$(sigblk "$pid")" "$mask"
	expect_running "$name"
	run_graft 0 status --pid "$pid" --json
	expect_eq "$name: status" "$(jq -r '.[0].patches[0].state' <<<"$OUT")" applied
	run_graft 0 revert held --pid "$pid"
	expect_eq "$name: reverted" "$(vask "$name" 'compute 3')" 4
	untouched "$name"
	expect_running "$name"
done

# --- two threads: not held (the stop of the world stops both, as before)
victim_start two "$T/victim" t
pid=${VPID[two]}
run_graft 0 -v apply "$T/held.graft" --exe "$T/victim" --pid "$pid"
expect_in "two: let go" "$ERR" "let go on its way home \(not alone in its process\)"
expect_in "two: both stopped" "$ERR" "attempt 1: 2 threads stopped"
expect_eq "two: patched" "$(vask two 'compute 3')" 60
untouched two
run_graft 0 revert held --pid "$pid"
expect_running two

# --- graft killed while it holds the thread: as it lets it go, and with it stopped at home
for point in chain-held home-stop; do
	name=die-$point
	victim_start "$name" "$T/victim" "c$URG"
	pid=${VPID[$name]}
	mask=$(sigblk "$pid")
	rc=0
	GRAFT_TEST_DIE_AT=$point "$GRAFT" apply "$T/held.graft" --exe "$T/victim" --pid "$pid" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 137 ] || fail "$name: graft was not killed at $point (exit $rc)"
	for _ in $(seq 50); do
		[ "$(awk '/^TracerPid:/{print $2}' "/proc/$pid/status")" = 0 ] && break
		sleep 0.01
	done
	expect_running "$name"
	expect_eq "$name: old code" "$(vask "$name" 'compute 3')" 4
	untouched "$name"
	expect_eq "$name: its own mask" "$(sigblk "$pid")" "$mask"
	run_graft 0 status --pid "$pid" --json
	expect_eq "$name: status shows the mapped leftover" \
		"$(jq -r '[.[0].patches[]? | .state] | join(",")' <<<"$OUT")" prepared
	# a single process's apply: one of its own, not held (two short pauses, not one longer)
	run_graft 0 -v apply "$T/held.graft" --pid "$pid"
	expect_in "$name: rolled back first" "$OUT" "rolled back an interrupted apply of 'held'"
	[[ $ERR == *"on its way home"* ]] && fail "$name: a single apply held the thread: $ERR"
	expect_eq "$name: patched afterwards" "$(vask "$name" 'compute 3')" 60
	untouched "$name"
	run_graft 0 revert held --pid "$pid"
	expect_running "$name"
done

# --- a signal of its own on the way home: its handler runs once, graft's never
victim_start own "$T/victim" "c$USR1" "c$URG"
pid=${VPID[own]}
GRAFT_TEST_FAULT=chain-signal run_graft 0 -v apply "$T/held.graft" --exe "$T/victim" --pid "$pid"
expect_in "own: held" "$ERR" "to stop there with signal $WINCH\$"
expect_eq "own: patched" "$(vask own 'compute 3')" 60
expect_eq "own: its SIGUSR1 delivered once" "$(vask own "got $USR1")" 1
untouched own
run_graft 0 revert held --pid "$pid"
expect_running own

# --- a SIGSTOP as the held thread is let run: it group-stops before its first
# call; graft sees the stop at once, gives it back its own registers and mask,
# closes the memfd and leaves it stopped, nothing mapped (test-chain.sh: the same
# for a thread let go)
victim_start stopped "$T/victim" "c$URG"
pid=${VPID[stopped]}
mask=$(sigblk "$pid")
start=$(date +%s%N)
GRAFT_TEST_FAULT=chain-stopped run_graft 1 apply "$T/held.graft" --exe "$T/victim" --pid "$pid"
ms=$((($(date +%s%N) - start) / 1000000))
expect_in "stopped: reported" "$OUT" "FAILED process $pid did not run to map the patch \(is it stopped\?\); nothing was mapped"
[ "$ms" -lt 1500 ] || fail "stopped: graft waited $ms ms for a stopped process"
expect_eq "stopped: still stopped by its SIGSTOP" "$(awk '/^State:/{print $2}' "/proc/$pid/status")" T
expect_eq "stopped: not traced" "$(awk '/^TracerPid:/{print $2}' "/proc/$pid/status")" 0
expect_eq "stopped: nothing mapped" "$(grep -c 'memfd:graft:' "/proc/$pid/maps")" 0
expect_eq "stopped: no memfd left open" "$(find "/proc/$pid/fd" -lname '/memfd:graft:*' | wc -l)" 0
expect_eq "stopped: its own mask" "$(sigblk "$pid")" "$mask"
kill -CONT "$pid"
expect_eq "stopped: continued, old code" "$(vask stopped 'compute 3')" 4
untouched stopped
run_graft 0 -v apply "$T/held.graft" --exe "$T/victim" --pid "$pid"
expect_in "stopped: held afterwards" "$ERR" "held on its way home"
expect_eq "stopped: patched afterwards" "$(vask stopped 'compute 3')" 60
untouched stopped
run_graft 0 revert held --pid "$pid"
expect_running stopped

# --- the address taken by the time the held thread maps: seen once it is home,
# the leftovers taken out on that stop, then mapped again call by call, applied
victim_start taken "$T/victim"
pid=${VPID[taken]}
GRAFT_TEST_FAULT=chain-mmap-taken run_graft 0 -v apply "$T/held.graft" --exe "$T/victim" --pid "$pid"
expect_in "taken: seen and mapped again" "$ERR" "mapping again call by call"
expect_eq "taken: patched" "$(vask taken 'compute 3')" 60
expect_eq "taken: one region" "$(grep 'memfd:graft:held' "/proc/$pid/maps" | awk '{print $5}' | sort -u | wc -l)" 1
expect_eq "taken: no memfd left open" "$(find "/proc/$pid/fd" -lname '/memfd:graft:*' | wc -l)" 0
untouched taken
run_graft 0 revert held --pid "$pid"
expect_running taken

# --- killed on its way home
victim_start killed "$T/victim"
pid=${VPID[killed]}
start=$(date +%s%N)
# (a process gone during a host-wide run is not an error of the run: exit 0)
GRAFT_TEST_FAULT=chain-kill run_graft 0 apply "$T/held.graft" --exe "$T/victim" --pid "$pid"
ms=$((($(date +%s%N) - start) / 1000000))
expect_in "killed: reported" "$OUT" "^pid $pid \(victim\): FAILED process $pid exited"
expect_in "killed: summary" "$OUT" "0 applied, 0 already, 0 skipped, 1 failed"
[ -z "$ERR" ] || fail "killed: graft warned: $ERR"
[ "$ms" -lt 3000 ] || fail "killed: graft took $ms ms to notice"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
kill -0 "$pid" 2>/dev/null && fail "killed: the victim still runs"
run_graft 0 log --pid "$pid" --json
expect_eq "killed: logged as failed" "$(jq -r '.[-1].result' <<<"$OUT")" failed
echo ok
