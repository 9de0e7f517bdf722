#!/bin/bash
# graft killed (SIGKILL, which cannot be held) while one thread of the
# target runs a remote system call or function call for it: the thread must
# come home by itself (the signal frame of ptrace/rframe.c) with every
# register, its vector state and rounding mode, its signal mask, and an
# interrupted blocking read restarted. Each point of a remote call is hit
# with the test-only switch GRAFT_TEST_DIE_AT, in two victims: one whose
# borrowed thread spins in user code checking its vector registers, one
# whose borrowed thread is blocked in read(). Afterwards the process is
# untraced and correct, graft status tells the truth, graft revert clears
# what the dead graft left, and a new apply works.
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
	for point in rsys-set rsys-enter rsys-exit rsys-funcall; do
		name=$v-${point#rsys-}
		victim_start "$name" "$T/$v"
		pid=${VPID[$name]}
		expect_eq "$name: before" "$(vask "$name" 'describe 42')" "1:2"
		rc=0
		GRAFT_TEST_DIE_AT=$point "$GRAFT" apply "$T/$v.graft" --pid "$pid" >/dev/null 2>&1 || rc=$?
		[ "$rc" = 137 ] || fail "$name: graft was not killed at $point (exit $rc)"
		sleep 0.1
		kill -0 "$pid" 2>/dev/null || fail "$name: the target died with graft: $(cat "$T/$name.err")"
		expect_eq "$name: untraced" "$(tracer "$pid")" 0
		grep -q '^State:.*[tT]' "/proc/$pid/status" && fail "$name: left stopped"
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
		# what the dead graft left is visible and can be cleared
		OUT=$("$GRAFT" status --pid "$pid" --json) || [ $? = 3 ] || fail "$name: status failed"
		left=$(jq -r '[.[0].patches[]? | .state] | join(",")' <<<"$OUT")
		case $left in "" | prepared) ;; *) fail "$name: status says '$left'" ;; esac
		[ -n "$left" ] && run_graft 0 revert "crash-$v" --pid "$pid"
		run_graft 0 apply "$T/$v.graft" --pid "$pid"
		expect_eq "$name: patched afterwards" "$(vask "$name" 'describe 42')" "8:value=42"
		[ $v = spin ] && { a=$(vask "$name" check); [[ $a == ok* ]] || fail "$name: after apply: $a"; }
		run_graft 0 revert "crash-$v" --pid "$pid"
	done
done
exit 0
