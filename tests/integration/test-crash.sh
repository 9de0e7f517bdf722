#!/bin/bash
# Part 1: graft killed (SIGKILL, which cannot be held) while one thread of the
# target runs a remote system call or function call for it: the thread must
# come home by itself (the signal frame of ptrace/rframe.c) with every
# register, its vector state and rounding mode, its signal mask, and an
# interrupted blocking read restarted. Each point of a remote call is hit
# with the test-only switch GRAFT_TEST_DIE_AT, in two victims: one whose
# borrowed thread spins in user code checking its vector registers, one
# whose borrowed thread is blocked in read(). Afterwards the process is
# untraced and correct, graft status tells the truth, graft revert clears
# what the dead graft left, and a new apply works.
# Part 2: graft killed while every thread is stopped: before the first jump,
# after the first of three jumps, after the last jump (header not yet
# marked), and in a revert after the first restore. The process runs on;
# graft recover takes the patch wholly out (rolling back the apply, or
# completing the revert), and the audit log says what happened.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

gcc -O2 -g -msse4.1 -pthread -o "$T/spin" "$HERE/crash/spin.c" -lm || fail "compile spin"
gcc -O2 -g -o "$T/block" "$HERE/libc/victim.c" || fail "compile block"
patch_cc "$T/patch.o" "$HERE/libc/patch.c" -fno-builtin
for v in spin block; do
	printf 'id crash-%s\ntarget %s\nobject patch.o\nreplace describe describe_v2\n' "$v" "$v" >"$T/m-$v"
	run_graft 0 pack "$T/m-$v" -o "$T/$v.graft"
done

tracer() { awk '/^TracerPid:/{print $2}' "/proc/$1/status"; }

for v in spin block; do
	# every remote call of an apply (memfd_create, the IFUNC resolvers; the
	# mmap, data mprotect and close chained on the thread's way home): die at
	# the N-th pass of each point until graft finishes
	for point in rsys-set rsys-enter rsys-exit rsys-funcall rsys-end-with; do
		for n in 1 2 3 4 5 6 7 8; do
			name=$v-${point#rsys-}-$n
			victim_start "$name" "$T/$v"
			pid=${VPID[$name]}
			expect_eq "$name: before" "$(vask "$name" 'describe 42')" "1:2"
			mask=$(awk '/^SigBlk:/{print $2}' "/proc/$pid/status")
			rc=0
			GRAFT_TEST_DIE_AT=$point:$n "$GRAFT" apply "$T/$v.graft" --pid "$pid" >/dev/null 2>&1 || rc=$?
			if [ "$rc" = 0 ]; then
				# fewer passes than n: every one was hit already
				[ "$n" -gt 1 ] || fail "$name: $point never reached"
				expect_eq "$name: applied" "$(vask "$name" 'describe 42')" "8:value=42"
				run_graft 0 revert "crash-$v" --pid "$pid"
				break
			fi
			[ "$rc" = 137 ] || fail "$name: graft was not killed at $point:$n (exit $rc)"
			sleep 0.1
			kill -0 "$pid" 2>/dev/null || fail "$name: the target died with graft: $(cat "$T/$name.err")"
			expect_eq "$name: untraced" "$(tracer "$pid")" 0
			grep -q '^State:.*[tT]' "/proc/$pid/status" && fail "$name: left stopped"
			# signals held for the way home are the thread's own again
			expect_eq "$name: signal mask" "$(awk '/^SigBlk:/{print $2}' "/proc/$pid/status")" "$mask"
			# the borrowed thread's read() was restarted, or its loop goes on intact
			expect_eq "$name: still the old code" "$(vask "$name" 'describe 42')" "1:2"
			if [ $v = spin ]; then
				a=$(vask "$name" check)
				[[ $a == ok* ]] || fail "$name: $a"
				sleep 0.2
				b=$(vask "$name" check)
				[[ $b == ok* ]] || fail "$name: $b"
				[ "${b#ok }" -gt "${a#ok }" ] || fail "$name: the spinning thread stopped ($a, $b)"
			fi
			# what the dead graft left is visible, and the next apply clears it first
			OUT=$("$GRAFT" status --pid "$pid" --json) || [ $? = 3 ] || fail "$name: status failed"
			left=$(jq -r '[.[0].patches[]? | .state] | join(",")' <<<"$OUT")
			case $left in "" | prepared) ;; *) fail "$name: status says '$left'" ;; esac
			run_graft 0 apply "$T/$v.graft" --pid "$pid"
			[ -n "$left" ] && expect_in "$name: recovered first" "$OUT" "rolled back an interrupted apply of 'crash-$v'"
			expect_eq "$name: patched afterwards" "$(vask "$name" 'describe 42')" "8:value=42"
			if [ $v = spin ]; then
				a=$(vask "$name" check)
				[[ $a == ok* ]] || fail "$name: after apply: $a"
			fi
			run_graft 0 revert "crash-$v" --pid "$pid"
			exec {VIN[$name]}>&- # stdin closed: the victim ends
		done
	done
done

# Part 3: the borrowed thread runs a signal handler on an alternate stack. Carved
# from the heap: no frame may be written there (it could spill into the heap);
# apply and revert work and the canaries around it stay intact. mmap'd: the
# frame fits inside it, and a graft killed mid-call leaves the thread running.
gcc -O2 -g -o "$T/altstack" "$HERE/crash/altstack.c" || fail "compile altstack"
printf 'id crash-alt\ntarget altstack\nobject patch.o\nreplace describe describe_v2\n' >"$T/m-alt"
run_graft 0 pack "$T/m-alt" -o "$T/alt.graft"
for where in heap mmap; do
	name=alt-$where
	victim_start "$name" "$T/altstack" "$where"
	pid=${VPID[$name]}
	run_graft 0 apply "$T/alt.graft" --pid "$pid"
	expect_eq "$name: patched" "$(vask "$name" 'describe 42')" "8:value=42"
	expect_eq "$name: canaries" "$(vask "$name" check)" ok
	run_graft 0 revert crash-alt --pid "$pid"
	expect_eq "$name: reverted" "$(vask "$name" 'describe 42')" "1:2"
	expect_eq "$name: canaries after revert" "$(vask "$name" check)" ok
	# killed in the memfd_create, and as the thread sets off to map on its way home
	for point in rsys-exit:1 rsys-end-with:1; do
		[ $where = mmap ] || break
		rc=0
		GRAFT_TEST_DIE_AT=$point "$GRAFT" apply "$T/alt.graft" --pid "$pid" >/dev/null 2>&1 || rc=$?
		[ "$rc" = 137 ] || fail "$name: graft was not killed at $point (exit $rc)"
		sleep 0.1
		kill -0 "$pid" 2>/dev/null || fail "$name: the target died with graft ($point)"
		expect_eq "$name: after a dead graft ($point)" "$(vask "$name" 'describe 42')" "1:2"
		expect_eq "$name: canaries after a dead graft ($point)" "$(vask "$name" check)" ok
		run_graft 0 recover --pid "$pid"
		grep -q memfd:graft "/proc/$pid/maps" && fail "$name: recover left the region ($point)"
	done
done

gcc -O2 -g -o "$T/basic" "$HERE/basic/victim.c" || fail "compile basic"
patch_cc "$T/bpatch.o" "$HERE/basic/patch.c"
cat >"$T/mb" <<EOM
id crash-basic
target basic
object bpatch.o
replace compute compute_v2
replace greeting greeting_v2
replace bump bump_v2
bind bump_calls $(static_local "$T/basic" calls)
EOM
run_graft 0 pack "$T/mb" -o "$T/basic.graft"
for point in apply-stopped apply-jump apply-jumps-done revert-restore; do
	name=b-$point
	victim_start "$name" "$T/basic"
	pid=${VPID[$name]}
	op=apply
	if [ $point = revert-restore ]; then
		run_graft 0 apply "$T/basic.graft" --pid "$pid"
		expect_eq "$name: patched" "$(vask "$name" greet)" "new greeting"
		op=revert
	fi
	rc=0
	if [ $op = apply ]; then
		GRAFT_TEST_DIE_AT=$point "$GRAFT" apply "$T/basic.graft" --pid "$pid" >/dev/null 2>&1 || rc=$?
	else
		GRAFT_TEST_DIE_AT=$point "$GRAFT" revert crash-basic --pid "$pid" >/dev/null 2>&1 || rc=$?
	fi
	[ "$rc" = 137 ] || fail "$name: graft was not killed at $point (exit $rc)"
	sleep 0.1
	kill -0 "$pid" 2>/dev/null || fail "$name: the target died with graft"
	expect_eq "$name: untraced" "$(tracer "$pid")" 0
	grep -q '^State:.*[tT]' "/proc/$pid/status" && fail "$name: left stopped"
	vask "$name" greet >/dev/null # it runs, half patched or not
	run_graft 0 recover --pid "$pid"
	if [ $op = apply ]; then
		expect_in "$name: recover" "$OUT" "pid $pid: rolled back an interrupted apply of 'crash-basic' \([0-3] of 3 functions live\)"
	else
		expect_in "$name: recover" "$OUT" "pid $pid: completed an interrupted revert of 'crash-basic' \(2 of 3 functions live\)"
	fi
	expect_eq "$name: wholly out (greeting)" "$(vask "$name" greet)" "old greeting"
	expect_eq "$name: wholly out (compute)" "$(vask "$name" 'compute 3')" 4
	grep -q memfd:graft "/proc/$pid/maps" && fail "$name: a region was left"
	run_graft 0 recover --pid "$pid"
	expect_in "$name: recovered once" "$OUT" "nothing to recover"
	run_graft 0 log --pid "$pid" --json
	expect_eq "$name: log" "$(jq -r '[.[] | .op + ":" + .result] | join(" ")' <<<"$OUT" | sed 's/^apply:applied //')" \
		"$op:died recover:$([ $op = apply ] && echo rolled-back || echo reverted)"
	run_graft 0 apply "$T/basic.graft" --pid "$pid"
	expect_eq "$name: patched again" "$(vask "$name" greet)" "new greeting"
	run_graft 0 revert crash-basic --pid "$pid"
done
exit 0
