#!/bin/bash
# Patch code using thread-local variables of the target, through both the
# initial-exec (GOTTPOFF) and local-exec (TPOFF32) models, in the main thread
# and in a new thread (each sees its own copy).
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -pthread -o "$T/victim" "$HERE/tls/victim.c" || fail "compile victim"
patch_cc "$T/patch.o" "$HERE/tls/patch.c"
readelf -rW "$T/patch.o" | grep -q R_X86_64_GOTTPOFF || fail "no GOTTPOFF relocation in the patch"
readelf -rW "$T/patch.o" | grep -q R_X86_64_TPOFF32 || fail "no TPOFF32 relocation in the patch"
printf 'id tls-1\ntarget victim\nobject patch.o\nreplace tls_step tls_step_v2\n' >"$T/m"
run_graft 0 pack "$T/m" -o "$T/p.graft"
run_graft 0 info "$T/p.graft" --json
expect_eq "tls flag" "$(jq -r '[.target_symbols[] | select(.tls) | .name] | sort | join(",")' <<<"$OUT")" "tls_a,tls_b"
victim_start v "$T/victim"
expect_eq "before" "$(vask v step)" 6008
expect_eq "before, thread" "$(vask v thread)" 6008
run_graft 0 apply "$T/p.graft" --pid "${VPID[v]}"
expect_eq "after" "$(vask v step)" 16028
expect_eq "after, thread" "$(vask v thread)" 15027
expect_eq "after, again" "$(vask v step)" 26048
run_graft 0 revert tls-1 --pid "${VPID[v]}"
expect_eq "reverted" "$(vask v step)" 27049
exit 0
