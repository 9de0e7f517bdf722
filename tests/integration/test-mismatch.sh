#!/bin/bash
# Refusals before anything is written: a patch for another build (build-id),
# a process that does not map the target, function bytes altered in memory
# (run-pre check: a breakpoint), a process already traced by someone else,
# a process that does not exist. The target is unchanged afterwards.
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -no-pie -fno-pie -o "$T/victim" "$HERE/basic/victim.c" || fail "compile"
gcc -O2 -g -no-pie -fno-pie -DOTHER_BUILD=1 -o "$T/victim-other" "$HERE/basic/victim.c" \
	-Wl,--defsym,graft_other_build=1 || fail "compile other build"
patch_cc "$T/patch.o" "$HERE/basic/patch.c"
cat >"$T/m" <<EOM
id mm-1
target victim
object patch.o
replace compute compute_v2
replace greeting greeting_v2
replace bump bump_v2
bind bump_calls $(static_local "$T/victim" calls)
EOM
run_graft 0 pack "$T/m" -o "$T/p.graft"
want_bid=$(jq -r .build_id <<<"$("$GRAFT" info "$T/p.graft" --json)")

# another build of the same program
cp "$T/victim-other" "$T/other/victim" 2>/dev/null || { mkdir -p "$T/other" && cp "$T/victim-other" "$T/other/victim"; }
victim_start o "$T/other/victim"
run_graft 2 apply "$T/p.graft" --pid "${VPID[o]}"
expect_in "build-id" "$ERR" "'.*/victim' in this process has build-id [0-9a-f]+, the patch is for build-id $want_bid \(another build\)"
grep -q memfd:graft "/proc/${VPID[o]}/maps" && fail "something was mapped"

# a process that does not map the target at all
sleep 30 &
sp=$!
run_graft 1 apply "$T/p.graft" --pid "$sp"
expect_in "not mapped" "$ERR" "does not map the patch's target '.*/victim' \(build-id $want_bid\)"
kill $sp

# no such process
run_graft 1 apply "$T/p.graft" --pid 999999
expect_in "no process" "$ERR" "no process 999999"

# function altered in memory: an int3 at compute+1
victim_start v "$T/victim"
pid=${VPID[v]}
addr=$((0x$(nm "$T/victim" | awk '$3=="compute"{print $1}')))
orig=$(dd if=/proc/$pid/mem bs=1 skip=$((addr + 1)) count=1 status=none | od -An -tx1 | tr -d ' ')
printf '\xcc' | dd of=/proc/$pid/mem bs=1 seek=$((addr + 1)) conv=notrunc status=none || fail "poke"
run_graft 2 apply "$T/p.graft" --pid "$pid"
expect_in "run-pre" "$ERR" "function 'compute' differs from the patch's pre-image at offset 1 "
grep -q memfd:graft "/proc/$pid/maps" && fail "region left after a run-pre refusal"
expect_eq "greeting untouched" "$(vask v greet)" "old greeting"
printf "\\x$orig" | dd of=/proc/$pid/mem bs=1 seek=$((addr + 1)) conv=notrunc status=none || fail "unpoke"
expect_eq "compute works" "$(vask v 'compute 1')" 2

# already traced by another tracer
strace -p "$pid" -o /dev/null &
st=$!
for _ in $(seq 50); do
	[ "$(awk '/^TracerPid:/{print $2}' /proc/$pid/status)" != 0 ] && break
	sleep 0.1
done
run_graft 1 apply "$T/p.graft" --pid "$pid"
expect_in "traced" "$ERR" "already traced by pid $st \(strace\)"
kill $st
wait $st 2>/dev/null
for _ in $(seq 50); do
	[ "$(awk '/^TracerPid:/{print $2}' /proc/$pid/status)" = 0 ] && break
	sleep 0.1
done
grep -q memfd:graft "/proc/$pid/maps" && fail "region left after a refused attach"

# and now it applies
run_graft 0 apply "$T/p.graft" --pid "$pid"
expect_eq "patched" "$(vask v 'compute 3')" 60
exit 0
