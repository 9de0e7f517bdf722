#!/bin/bash
# Host-wide apply and revert: 'graft apply PATCH... --all' over 200 victims
# (every one checked), --exe and --user choosing processes, two patch files
# going into each process all or nothing, ALREADY on a second run, a pid
# reused between the choice and its turn left alone, revert
# ID --all, JSON, the audit log, a TERM in the middle of a run leaving
# every process wholly patched or wholly not, and a busy process FAILED
# (exit 2) while the others are patched.
. "$(dirname "$0")/lib.sh"

N=200
chmod 755 "$T" # victims run as nobody too
gcc -O2 -g -fPIC -shared -o "$T/libhost.so" "$HERE/host/lib.c" || fail "compile lib"
gcc -O2 -g -pthread -o "$T/victim" "$HERE/host/victim.c" -L"$T" -lhost -Wl,-rpath,"$T" ||
	fail "compile victim"
mkdir -p "$T/copy" && cp "$T/victim" "$T/copy/victim"
patch_cc "$T/fix-exe.o" "$HERE/host/fix-exe.c"
patch_cc "$T/fix-lib.o" "$HERE/host/fix-lib.c"
printf 'id fix-exe\ntarget victim\nobject fix-exe.o\nreplace answer answer_v2\n' >"$T/me"
printf 'id fix-lib\ntarget libhost.so\nobject fix-lib.o\nreplace lib_answer lib_answer_v2\n' >"$T/ml"
run_graft 0 pack "$T/me" -o "$T/fix-exe.graft"
run_graft 0 pack "$T/ml" -o "$T/fix-lib.graft"

mkdir -m 777 "$T/out"
PIDS=()
spawn() { # spawn [RUNNER...] BINARY
	"$@" "$T/out" &
	VPID[v$!]=$!
	PIDS+=($!)
}
for _ in $(seq $N); do spawn "$T/victim"; done
for _ in 1 2 3; do spawn setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/victim"; done
for _ in 1 2; do spawn "$T/copy/victim"; done
ALL=${#PIDS[@]}
for _ in $(seq 200); do
	[ "$(find "$T/out" -maxdepth 1 -name '[0-9]*' ! -name '*.tmp' | wc -l)" -ge "$ALL" ] && break
	sleep 0.05
done
[ "$(find "$T/out" -maxdepth 1 -name '[0-9]*' ! -name '*.tmp' | wc -l)" -ge "$ALL" ] ||
	fail "victims did not start"
NOBODY=("${PIDS[@]:N:3}")
COPY=("${PIDS[@]:N+3:2}")

# ask every victim again; answers PID WANT lines for those that differ
answers() {
	rm -f "$T"/out/[0-9]*
	kill -USR1 "${PIDS[@]}" || fail "a victim died"
	for _ in $(seq 200); do
		[ "$(find "$T/out" -maxdepth 1 -name '[0-9]*' ! -name '*.tmp' | wc -l)" -ge "$ALL" ] &&
			break
		sleep 0.05
	done
}
# expect_answers WANT [PID WANT]...: every victim answers WANT, except those named
expect_answers() {
	local want=$1 bad=0
	declare -A except=()
	shift
	while [ $# -gt 0 ]; do
		except[$1]=$2
		shift 2
	done
	answers
	for p in "${PIDS[@]}"; do
		local w=${except[$p]:-$want} got
		got=$(cat "$T/out/$p" 2>/dev/null)
		[ "$got" = "$w" ] || { echo "pid $p answers '$got', want '$w'" >&2; bad=$((bad + 1)); }
	done
	[ $bad = 0 ] || fail "$bad victims answer wrong"
}
expect_answers "1 10"

# a process that exits after the pick and whose pid another takes before its
# turn is not touched: the switch makes every chosen process look so
GRAFT_TEST_FAULT=pick-pid-reused run_graft 3 apply "$T/fix-exe.graft" --exe "$T/copy/victim"
expect_eq "reused pids skipped" "$(grep -cE '^pid [0-9]+ \(victim\): SKIPPED it exited after it was chosen; pid [0-9]+ is now another process$' <<<"$OUT")" 2
expect_in "reused summary" "$OUT" "^summary: 0 applied, 0 already, 2 skipped, 0 failed, of 2 processes"
expect_answers "1 10"

# --exe: the copy runs the same build under another path: only those two
run_graft 0 apply "$T/fix-exe.graft" --exe "$T/copy/victim"
expect_eq "exe lines" "$(grep -c ': APPLIED ' <<<"$OUT")" 2
expect_in "exe summary" "$OUT" "^summary: 2 applied, 0 already, 0 skipped, 0 failed, of 2 processes"
# --user: the three of nobody
run_graft 0 apply "$T/fix-exe.graft" --user nobody
expect_eq "user lines" "$(grep -c ': APPLIED ' <<<"$OUT")" 3
args=()
for p in "${COPY[@]}" "${NOBODY[@]}"; do args+=("$p" "2 10"); done
expect_answers "1 10" "${args[@]}"

# both patches, every process: all or nothing each, in one stop; the five
# that have fix-exe get fix-lib beside it
run_graft 0 apply "$T/fix-exe.graft" "$T/fix-lib.graft" --all
expect_in "summary" "$OUT" "^summary: $ALL applied, 0 already, 0 skipped, 0 failed, of $ALL processes in [0-9.]+ s"
expect_eq "both in one" "$(grep -cE "APPLIED 'fix-exe', 'fix-lib' \(2 functions\), stopped [0-9.]+ ms$" <<<"$OUT")" $N
expect_eq "lib beside" "$(grep -cE "APPLIED 'fix-lib' \(1 function\), stopped [0-9.]+ ms; already in: 'fix-exe'$" <<<"$OUT")" 5
expect_answers "2 20"
for p in "${PIDS[@]:0:5}" "${NOBODY[0]}"; do
	tr=$(awk '/^TracerPid:/{print $2}' "/proc/$p/status")
	st=$(awk '/^State:/{print $2}' "/proc/$p/status")
	[ "$tr" = 0 ] && [ "$st" != T ] && [ "$st" != t ] || fail "pid $p left traced or stopped"
done

# again: nothing to do
run_graft 3 apply "$T/fix-exe.graft" "$T/fix-lib.graft" --all
expect_in "already" "$OUT" "^summary: 0 applied, $ALL already, 0 skipped, 0 failed"
run_graft 0 status --json
expect_eq "status sees them" "$(jq '[.[] | select(.patches | length == 2)] | length' <<<"$OUT")" $ALL

# revert one patch everywhere on a terminal (a progress line on stderr, redrawn
# and cleared), then the other with JSON
script -qfec "'$GRAFT' revert fix-lib --all --jobs 1" "$T/tty.log" >/dev/null ||
	fail "revert --all on a terminal: $(cat "$T/tty.log")"
expect_in "progress" "$(tr '\r' '\n' <"$T/tty.log")" "^.\[K\[[0-9]+/$ALL\] [0-9]+ reverted, 0 not applied, 0 skipped, 0 failed"
expect_in "summary on tty" "$(cat "$T/tty.log")" "summary: $ALL reverted, 0 not applied"
expect_answers "2 10"
GRAFT_TEST_FAULT=pick-pid-reused run_graft 3 revert fix-exe --all --json
expect_eq "revert: reused pids skipped" "$(jq '[.results[] | select(.result == "SKIPPED" and (.error | test("^it exited after it was chosen")))] | length' <<<"$OUT")" $ALL
expect_answers "2 10"
run_graft 0 revert fix-exe --all --json
expect_eq "revert json" "$(jq -r '.summary.reverted' <<<"$OUT")" $ALL
expect_eq "revert results" "$(jq '[.results[] | select(.result == "REVERTED")] | length' <<<"$OUT")" $ALL
expect_answers "1 10"
run_graft 3 revert fix-exe --all
expect_in "none left" "$ERR" "no process carries patch 'fix-exe'"
grep -l memfd:graft /proc/"${PIDS[0]}"/maps 2>/dev/null && fail "region left after revert --all"

# all or nothing in one process: fix-lib's function altered there refuses
# fix-exe too, and nothing of either is mapped
p=${PIDS[7]}
laddr=$(awk -v lib="$T/libhost.so" '$6 == lib && $3 == "00000000" {print $1; exit}' "/proc/$p/maps")
laddr=$((0x${laddr%-*} + 0x$(nm "$T/libhost.so" | awk '$3=="lib_answer"{print $1}')))
orig=$(dd if=/proc/$p/mem bs=1 skip=$((laddr + 1)) count=1 status=none | od -An -tx1 | tr -d ' ')
printf '\xcc' | dd of=/proc/$p/mem bs=1 seek=$((laddr + 1)) conv=notrunc status=none || fail "poke"
run_graft 2 apply "$T/fix-exe.graft" "$T/fix-lib.graft" --pid "$p"
expect_in "refused whole" "$OUT" "pid $p \(victim\): SKIPPED patch 'fix-lib': function 'lib_answer' differs from the patch's pre-image at offset 1"
grep -q memfd:graft "/proc/$p/maps" && fail "a region was left after an all-or-nothing refusal"
printf "\\x$orig" | dd of=/proc/$p/mem bs=1 seek=$((laddr + 1)) conv=notrunc status=none || fail "unpoke"
expect_answers "1 10"

# every attempt is in the audit log
run_graft 0 log --json
# 5 fix-exe alone, then 200 of both and 5 of fix-lib (their fix-exe: "already")
expect_eq "logged applies" "$(jq '[.[] | select(.op == "apply" and .result == "applied")] | length' <<<"$OUT")" $((5 + 2 * N + 5))
expect_eq "logged already" "$(jq '[.[] | select(.op == "apply" and .result == "already")] | length' <<<"$OUT")" $((5 + 2 * ALL))
expect_eq "logged reverts" "$(jq '[.[] | select(.op == "revert" and .result == "reverted")] | length' <<<"$OUT")" $((2 * ALL))

# TERM in the middle of a run: the processes in hand are finished, no new
# one is started, and each is wholly patched or wholly not. Any signal that
# would end graft does the same (USR1: it once killed graft inside a stop,
# the workers' signal mask being theirs alone); the second run goes on
# where the first stopped.
for sig in TERM USR1; do
	"$GRAFT" apply "$T/fix-exe.graft" "$T/fix-lib.graft" --all --jobs 2 >"$T/term.out" 2>"$T/term.err" &
	gp=$!
	# once the workers are at it (the first line is out), not during the pick
	for _ in $(seq 1000); do
		[ -s "$T/term.out" ] && break
		sleep 0.01
	done
	kill -$sig $gp
	wait $gp
	rc=$?
	num=$(kill -l $sig)
	case $rc in
	0 | 3) echo "note: the run ended before the $sig arrived" ;;
	1) expect_in "interrupted by $sig" "$(cat "$T/term.err")" "interrupted by signal $num: [0-9]+ of $ALL processes not attempted" ;;
	*) fail "apply --all under $sig exited $rc: $(cat "$T/term.err")" ;;
	esac
	answers
	for p in "${PIDS[@]}"; do
		got=$(cat "$T/out/$p")
		[ "$got" = "1 10" ] || [ "$got" = "2 20" ] || fail "pid $p half patched after $sig: '$got'"
	done
	run_graft 0 status --json
	expect_eq "nothing half done after $sig" "$(jq '[.[].patches[] | select(.state != "applied")] | length' <<<"$OUT")" 0
done

# a process whose answer() is always busy: FAILED after the timeout, taken back,
# exit 2; the others are patched all the same
GRAFT_TEST_HOLD=1 "$T/victim" "$T/out" &
held=$!
VPID[held]=$held
sleep 0.3
run_graft 2 apply "$T/fix-exe.graft" --all --timeout 0.3
expect_in "busy one failed" "$OUT" "^pid $held \(victim\): FAILED function 'answer' is on the stack in thread [0-9]+ \(still busy after 300 ms"
expect_in "summary counts it" "$OUT" "^summary: [0-9]+ applied, [0-9]+ already, 0 skipped, 1 failed, of $((ALL + 1)) processes"
grep -q memfd:graft "/proc/$held/maps" && fail "the busy process kept a region"
answers
for p in "${PIDS[@]}"; do
	expect_in "pid $p patched beside the busy one" "$(cat "$T/out/$p")" "^2 "
done
exit 0
