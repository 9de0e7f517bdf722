#!/bin/bash
# graft stopped by an operator or a service manager (SIGTERM, SIGINT, SIGHUP)
# at random moments of apply and revert, while 8 threads call the patched
# function: the target keeps running, is never left stopped or traced, every
# result stays old-or-new, and what is left behind shows in status and is
# cleaned up by revert. (SIGKILL, which cannot be held, is test-crash.sh's and
# test-held.sh's: graft killed at each point of a remote call and of the way home.)
. "$(dirname "$0")/lib.sh"
. "$HERE/multi/build.sh"
multi_build
victim_start v "$T/multi"
pid=${VPID[v]}
expect_eq "stress" "$(vask v 'stress 8')" ok
renice -n -10 $$ >/dev/null
killed=0
for ((i = 0; i < 40; i++)); do
	op=apply
	grep -q memfd:graft:compute-a "/proc/$pid/maps" && op=revert
	if [ $op = apply ]; then
		"$GRAFT" apply "$T/compute-a.graft" --pid "$pid" >/dev/null 2>&1 &
	else
		"$GRAFT" revert compute-a --pid "$pid" >/dev/null 2>&1 &
	fi
	g=$!
	sleep "0.00$((RANDOM % 10))$((RANDOM % 10))"
	sigs=(TERM INT HUP)
	kill -s "${sigs[$((i % 3))]}" $g 2>/dev/null && killed=$((killed + 1))
	wait $g 2>/dev/null
	# the kernel detaches a dead tracer's tracees; give it a moment
	for _ in $(seq 50); do
		[ "$(awk '/^TracerPid:/{print $2}' /proc/$pid/status)" = 0 ] && break
		sleep 0.01
	done
	expect_running v
	r=$(vask v 'compute 10')
	[ "$r" = 11 ] || [ "$r" = 23 ] || fail "compute 10 = $r after killing graft during $op"
	# a leftover that never went live: status says so, revert removes it
	st=$("$GRAFT" status --pid "$pid" --json 2>/dev/null | jq -r '.[0].patches[0].state // "none"')
	if [ "$st" = prepared ]; then
		run_graft 0 revert compute-a --pid "$pid"
	fi
done
echo "signalled graft $killed times out of 40"
read -r iters bad <<<"$(vask v stop)"
expect_eq "bad results" "$bad" 0
[ "$iters" -gt 1000 ] || fail "stress barely ran"
"$GRAFT" revert --all --pid "$pid" >/dev/null 2>&1
expect_eq "original" "$(vask v 'compute 10')" 11
exit 0
