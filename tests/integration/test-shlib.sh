#!/bin/bash
# A shared library loaded by the victim, and an executable and its library
# patched in the same process (two patches, applied and reverted in turn).
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -fPIC -shared -o "$T/libvictim.so" "$HERE/shlib/lib.c" || fail "compile lib"
gcc -O2 -g -o "$T/victim" "$HERE/shlib/victim.c" -L"$T" -lvictim -Wl,-rpath,"$T" || fail "compile victim"
patch_cc "$T/pl.o" "$HERE/shlib/patch-lib.c"
patch_cc "$T/pe.o" "$HERE/shlib/patch-exe.c"
printf 'id lib-1\ntarget libvictim.so\nobject pl.o\nreplace lib_check lib_check_v2\n' >"$T/ml"
printf 'id exe-1\ntarget victim\nobject pe.o\nreplace exe_check exe_check_v2\n' >"$T/me"
run_graft 0 pack "$T/ml" -o "$T/lib.graft"
run_graft 0 pack "$T/me" -o "$T/exe.graft"
victim_start v "$T/victim"
pid=${VPID[v]}
expect_eq "lib before" "$(vask v 'lib 2')" 7
expect_eq "exe before" "$(vask v 'exe 2')" -2
run_graft 0 apply "$T/lib.graft" --pid "$pid"
expect_eq "lib after" "$(vask v 'lib 2')" 600
expect_eq "lib static" "$(vask v count)" 3
run_graft 0 apply "$T/exe.graft" --pid "$pid"
expect_eq "exe after (calls the patched lib)" "$(vask v 'exe 2')" 607
run_graft 0 status --pid "$pid" --json
expect_eq "two patches" "$(jq -r '[.[0].patches[].id] | sort | join(",")' <<<"$OUT")" "exe-1,lib-1"
# the library's region lies within reach of the library, not the executable
run_graft 0 revert --all --pid "$pid"
expect_in "newest first" "$(head -n 1 <<<"$OUT")" "reverted 'exe-1'"
expect_eq "lib reverted" "$(vask v 'lib 2')" 7
expect_eq "exe reverted" "$(vask v 'exe 2')" -2
run_graft 3 revert --all --pid "$pid"
exit 0
