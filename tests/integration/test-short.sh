#!/bin/bash
# A function shorter than the 5-byte jump: accepted when the bytes after it
# are alignment padding (they belong to no symbol, nothing jumps there), and
# refused when the next function starts right after it. Also: a process
# stopped with SIGSTOP is patched and stays stopped.
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -o "$T/victim" "$HERE/short/victim.c" || fail "compile"
size=$((0x$(nm -S "$T/victim" | awk '$4=="ident"{print $2}')))
[ "$size" -lt 5 ] || skip "the compiler made ident() $size bytes long; nothing to test"
patch_cc "$T/patch.o" "$HERE/short/patch.c"
printf 'id short-1\ntarget victim\nobject patch.o\nreplace ident ident_v2\n' >"$T/m"
run_graft 0 pack "$T/m" -o "$T/p.graft"
victim_start v "$T/victim"
expect_eq "before" "$(vask v 'ident 21')" "21 121"
run_graft 0 apply "$T/p.graft" --pid "${VPID[v]}"
expect_eq "after (the next function is intact)" "$(vask v 'ident 21')" "42 121"
run_graft 0 revert short-1 --pid "${VPID[v]}"
expect_eq "reverted" "$(vask v 'ident 21')" "21 121"

# stopped process: patched while stopped, still stopped afterwards
kill -STOP "${VPID[v]}"
for _ in $(seq 50); do grep -q '^State:.*T (stopped)' "/proc/${VPID[v]}/status" && break; sleep 0.05; done
run_graft 0 apply "$T/p.graft" --pid "${VPID[v]}"
grep -q '^State:.*T (stopped)' "/proc/${VPID[v]}/status" || fail "a stopped process was resumed"
kill -CONT "${VPID[v]}"
expect_eq "after SIGCONT" "$(vask v 'ident 21')" "42 121"

# no padding: functions packed back to back
gcc -O2 -g -fno-align-functions -o "$T/packed" "$HERE/short/victim.c" || fail "compile packed"
a=$((0x$(nm "$T/packed" | awk '$3=="ident"{print $1}')))
b=$((0x$(nm "$T/packed" | awk '$3=="after"{print $1}')))
[ $((b - a)) -lt 5 ] || skip "the compiler padded ident() anyway"
printf 'id short-2\ntarget packed\nobject patch.o\nreplace ident ident_v2\n' >"$T/m2"
run_graft 2 pack "$T/m2" -o "$T/p2.graft"
expect_in "refused" "$ERR" "function 'ident' is [0-9] bytes, too short for a jump, and the bytes after it are not padding"
[ -e "$T/p2.graft" ] && fail "a refused pack left a file"
exit 0
