#!/bin/bash
# Patch code that calls libc (snprintf, puts), IFUNCs (memcpy, strlen: must
# resolve to the implementation the process uses, not the resolver) and
# libc data (stderr).
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -o "$T/victim" "$HERE/libc/victim.c" || fail "compile victim"
patch_cc "$T/patch.o" "$HERE/libc/patch.c" -fno-builtin
cat >"$T/m" <<EOM
id libc-1
target victim
object patch.o
replace describe describe_v2
replace announce announce_v2
EOM
run_graft 0 pack "$T/m" -o "$T/p.graft"
victim_start v "$T/victim"
expect_eq "before" "$(vask v 'describe 42')" "1:2"
run_graft 0 apply "$T/p.graft" --pid "${VPID[v]}"
# a resolver in place of memcpy or strlen would return a pointer, not copy or count
expect_eq "after" "$(vask v 'describe 42')" "8:value=42"
expect_eq "after" "$(vask v 'describe 123456789')" "15:value=123456789"
expect_eq "puts" "$(vask v announce)" "new announce"
expect_eq "stderr" "$(tail -n 1 "$T/v.err")" "announce on stderr"
pid=${VPID[v]}
run_graft 0 revert libc-1 --pid "$pid"
expect_eq "reverted" "$(vask v 'describe 42')" "1:2"
exit 0
