#!/bin/bash
# Two patches stacked on one function, reverted in order; an out-of-order
# revert is refused naming the patch in the way.
. "$(dirname "$0")/lib.sh"
. "$HERE/multi/build.sh"
multi_build
victim_start v "$T/multi"
pid=${VPID[v]}
run_graft 0 apply "$T/compute-a.graft" --pid "$pid"
expect_eq "a" "$(vask v 'compute 10')" 23
run_graft 0 apply "$T/compute-b.graft" --pid "$pid"
expect_eq "b on a" "$(vask v 'compute 10')" 35
run_graft 0 status --pid "$pid" --json
expect_eq "a is under b" "$(jq -r '.[0].patches[] | select(.id=="compute-a") | .functions[0].state + " " + .functions[0].under' <<<"$OUT")" "under compute-b"
run_graft 2 revert compute-a --pid "$pid"
expect_in "out of order" "$ERR" "patch 'compute-b' is applied on top of 'compute-a' in function 'compute'; revert 'compute-b' first"
expect_eq "unchanged" "$(vask v 'compute 10')" 35
run_graft 0 revert compute-b --pid "$pid"
expect_eq "back to a" "$(vask v 'compute 10')" 23
run_graft 0 revert compute-a --pid "$pid"
expect_eq "original" "$(vask v 'compute 10')" 11
# apply again after revert: same id is accepted again
run_graft 0 apply "$T/compute-a.graft" --pid "$pid"
expect_eq "a again" "$(vask v 'compute 10')" 23
run_graft 0 revert compute-a --pid "$pid"
exit 0
