#!/bin/bash
# The host-wide commands on a busy host: N small idle processes (default
# 1000) mapping the patch's target among everything else the machine runs.
# graft scan, then apply --all and revert --all, RUNS times each (default
# 3): wall time of the whole command, and the stop times of the processes
# (median / p99 / max, ms) from its JSON. Prints a block for results.txt.
set -eu
B=${1:-build}
N=${N:-1000}
RUNS=${HOST_RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
G=$ROOT/$B/graft
W=$(mktemp -d /tmp/graft-hostbench.XXXXXX)
pids=()
cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

gcc -O2 -g -o "$W/idle" "$ROOT/bench/idle.c"
gcc -O2 -c -fPIC -ffunction-sections -o "$W/fix.o" "$ROOT/bench/idle-fix.c"
printf 'id idle-fix\ntarget idle\nobject fix.o\nreplace answer answer_v2\n' >"$W/m"
"$G" pack "$W/m" -o "$W/p.graft" >/dev/null
"$G" keygen -o "$W/k" >/dev/null
mkdir -p "$W/keys.d" && cp "$W/k.pub" "$W/keys.d/"
"$G" sign "$W/p.graft" --key "$W/k.key" >/dev/null
export GRAFT_KEYS_DIR=$W/keys.d GRAFT_STATE_DIR=$W/state
for _ in $(seq "$N"); do
	"$W/idle" &
	pids+=($!)
done
sleep 2

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stops() {
	jq -r '.results[].stopped_ms // empty' | sort -n |
		awk '{a[NR]=$1} END {printf "%.3f / %.3f / %.3f", a[int(NR/2)+1], a[int(NR*0.99)], a[NR]}'
}
total=$(ls /proc | grep -c '^[0-9]')
echo "host-wide: $N idle processes mapping the target, $total processes in all; $RUNS runs, median"
scan=()
apply=() revert=()
for _ in $(seq "$RUNS"); do
	scan+=("$("$G" scan "$W/p.graft" --json | jq .summary.seconds)")
	"$G" apply "$W/p.graft" --all --json >"$W/a.json" || true
	apply+=("$(jq .summary.seconds "$W/a.json")")
	astops=$(stops <"$W/a.json")
	jobs=$(jq .summary.jobs "$W/a.json")
	[ "$(jq .summary.applied "$W/a.json")" = "$N" ] || echo "  (apply: $(jq -c .summary "$W/a.json"))"
	"$G" revert idle-fix --all --json >"$W/r.json" || true
	revert+=("$(jq .summary.seconds "$W/r.json")")
	rstops=$(stops <"$W/r.json")
done
printf '  scan (with checks)      %6.2f s\n' "$(printf '%s\n' "${scan[@]}" | median)"
printf '  apply --all  (%s jobs)   %6.2f s   stops median / p99 / max: %s ms (last run)\n' \
	"$jobs" "$(printf '%s\n' "${apply[@]}" | median)" "$astops"
printf '  revert --all (%s jobs)   %6.2f s   stops median / p99 / max: %s ms (last run)\n' \
	"$jobs" "$(printf '%s\n' "${revert[@]}" | median)" "$rstops"
