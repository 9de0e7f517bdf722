#!/bin/bash
# status reads the truth from the process: after apply, after revert, and
# after the graft that was working on the process was killed (SIGKILL) while
# waiting for a busy function: the target keeps running, untraced, the
# half-done attempt shows as not live, and revert removes it.
. "$(dirname "$0")/lib.sh"
. "$HERE/multi/build.sh"
multi_build
victim_start v "$T/multi"
pid=${VPID[v]}

run_graft 0 apply "$T/compute-a.graft" --pid "$pid"
run_graft 0 status
expect_in "status (all processes)" "$OUT" "^pid $pid \(multi\):"
expect_in "status line" "$OUT" "compute-a  applied  .*/multi  applied [0-9-]+ [0-9:]+ by pid [0-9]+, stopped [0-9.]+ ms"
expect_in "function line" "$OUT" "compute +0x[0-9a-f]+ -> 0x[0-9a-f]+  live"
run_graft 0 status --pid "$pid" --json
expect_eq "json state" "$(jq -r '.[0].patches[0].state' <<<"$OUT")" applied
expect_eq "json comm" "$(jq -r '.[0].comm' <<<"$OUT")" multi

# kill graft while it retries on a busy function
expect_eq "hold" "$(vask v hold)" ok
"$GRAFT" apply "$T/hold.graft" --pid "$pid" --timeout 30 >/dev/null 2>&1 &
g=$!
sleep 0.5
kill -9 $g
wait $g 2>/dev/null
sleep 0.1
expect_running v
expect_eq "still correct" "$(vask v 'compute 10')" 23
run_graft 0 status --pid "$pid" --json
expect_eq "hold not live" "$(jq -r '.[0].patches[] | select(.id=="hold") | .state + "/" + .functions[0].state' <<<"$OUT")" "prepared/not live"
run_graft 0 recover --pid "$pid"
expect_in "leftover rolled back" "$OUT" "pid $pid: rolled back an interrupted apply of 'hold' \(0 of 1 function live\)"
run_graft 0 recover --pid "$pid"
expect_in "nothing left" "$OUT" "pid $pid: nothing to recover"
run_graft 0 status --pid "$pid" --json
expect_eq "only compute-a left" "$(jq -r '[.[0].patches[].id] | join(",")' <<<"$OUT")" "compute-a"

run_graft 0 revert compute-a --pid "$pid"
run_graft 3 status --pid "$pid"
expect_in "nothing" "$OUT" "pid $pid: no graft patches"
expect_eq "original" "$(vask v 'compute 10')" 11
exit 0
