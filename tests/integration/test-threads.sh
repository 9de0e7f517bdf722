#!/bin/bash
# Threads created and exiting continuously during apply and revert; and
# processes that exit (or are killed) while graft works on them: graft
# returns promptly with a clear error and never hangs.
. "$(dirname "$0")/lib.sh"
. "$HERE/multi/build.sh"
multi_build
victim_start v "$T/multi"
pid=${VPID[v]}
expect_eq "churn" "$(vask v churn)" ok
for ((i = 0; i < 100; i++)); do
	"$GRAFT" apply "$T/compute-a.graft" --pid "$pid" >/dev/null 2>"$T/e" || fail "apply #$i: $(cat "$T/e")"
	"$GRAFT" revert compute-a --pid "$pid" >/dev/null 2>"$T/e" || fail "revert #$i: $(cat "$T/e")"
done
read -r iters bad <<<"$(vask v stop)"
echo "thread churn: $iters rounds of 4 threads, $bad bad"
[ "$bad" = 0 ] || fail "bad results during churn"
[ "$iters" -gt 10 ] || fail "churn barely ran"
expect_running v

# processes dying during apply
applied=0 died=0
for ((i = 0; i < 30; i++)); do
	victim_start "d$i" "$T/multi"
	dpid=${VPID[d$i]}
	vask "d$i" 'stress 4' >/dev/null
	(sleep "0.00$((RANDOM % 10))"; if ((i % 2)); then kill -9 "$dpid"; else echo exit >&"${VIN[d$i]}"; fi) &
	killer=$!
	rc=0
	timeout 20 "$GRAFT" apply "$T/compute-a.graft" --pid "$dpid" >/dev/null 2>"$T/e" || rc=$?
	case $rc in
	0) applied=$((applied + 1)) ;;
	1) died=$((died + 1))
	   grep -qE "^error: cannot apply .compute-a. to pid [0-9]+: (process [0-9]+ exited during the apply|no process [0-9]+)$" "$T/e" ||
		fail "unclear error for a dying process: $(cat "$T/e")" ;;
	*) fail "graft exited $rc on a dying process: $(cat "$T/e")" ;;
	esac
	wait "$killer" "$dpid" 2>/dev/null
	unset "VPID[d$i]"
done
echo "dying processes: $applied applied before the end, $died refused cleanly"
exit 0
