#!/bin/bash
# The region is mapped by the borrowed thread on its way home: mmap, the data
# mprotect and the close of the memfd made one after another through signal
# frames, graft waiting until the memfd is closed (ptrace/rframe.c, apply.c).
# Its edges:
# - the process gets a SIGSTOP just as the thread is let go (the test fault
#   chain-stopped sends it): the thread never runs the calls; graft gives up
#   after its wait, takes the calls back (the thread gets its own registers
#   again, the memfd is closed), reports it, and leaves the process stopped
#   exactly as it was: nothing mapped, no fd left; continued, it runs the
#   old code, and a later apply works;
# - the address is taken by the time the thread maps (fault chain-mmap-taken
#   points the first mmap at a used address): graft sees the region missing and
#   maps again call by call; in a batch of two, the one that was mapped is
#   taken out first, no region left behind;
# - a process already stopped (kill -STOP) is patched with calls made one by
#   one (it would not run a chain) and stays stopped;
# - a revert unmaps on the way home too, and the region is gone when graft
#   returns.
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -o "$T/victim" "$HERE/basic/victim.c" || fail "compile victim"
patch_cc "$T/patch.o" "$HERE/basic/patch.c"
cat >"$T/m" <<EOM
id chain
target victim
object patch.o
replace compute compute_v2
replace greeting greeting_v2
replace bump bump_v2
bind bump_calls $(static_local "$T/victim" calls)
EOM
run_graft 0 pack "$T/m" -o "$T/chain.graft"

memfds() { find "/proc/$1/fd" -lname '/memfd:graft:*' 2>/dev/null | wc -l; }
regions() { grep -c 'memfd:graft:' "/proc/$1/maps"; }
state() { awk '/^State:/{print $2}' "/proc/$1/status"; }

# --- a SIGSTOP as the thread is let go
victim_start stopped "$T/victim"
pid=${VPID[stopped]}
mask=$(awk '/^SigBlk:/{print $2}' "/proc/$pid/status")
start=$(date +%s%N)
rc=0
GRAFT_TEST_FAULT=chain-stopped "$GRAFT" apply "$T/chain.graft" --pid "$pid" >"$T/out" 2>"$T/err" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" != 0 ] || fail "apply into a process stopped mid-way succeeded"
expect_in "stopped: message" "$(cat "$T/err")" "did not run to map the patch \(is it stopped\?\); nothing was mapped"
[ "$ms" -lt 8000 ] || fail "graft waited ${ms} ms"
expect_eq "stopped: still stopped by its SIGSTOP" "$(state "$pid")" T
expect_eq "stopped: not traced" "$(awk '/^TracerPid:/{print $2}' "/proc/$pid/status")" 0
expect_eq "stopped: nothing mapped" "$(regions "$pid")" 0
expect_eq "stopped: no memfd left open" "$(memfds "$pid")" 0
expect_eq "stopped: its own signal mask" "$(awk '/^SigBlk:/{print $2}' "/proc/$pid/status")" "$mask"
kill -CONT "$pid"
expect_eq "stopped: continued, old code" "$(vask stopped 'compute 3')" 4
expect_eq "stopped: still nothing mapped" "$(regions "$pid")" 0
run_graft 0 apply "$T/chain.graft" --pid "$pid"
expect_eq "stopped: applied afterwards" "$(vask stopped 'compute 3')" 60
expect_eq "stopped: greeting (patch data written)" "$(vask stopped greet)" "new greeting"
expect_eq "stopped: no memfd left open after apply" "$(memfds "$pid")" 0
run_graft 0 revert chain --pid "$pid"
expect_eq "stopped: reverted" "$(vask stopped 'compute 3')" 4
expect_eq "stopped: region gone as revert returns" "$(regions "$pid")" 0
expect_running stopped

# --- the address taken meanwhile
victim_start taken "$T/victim"
pid=${VPID[taken]}
GRAFT_TEST_FAULT=chain-mmap-taken run_graft 0 -v apply "$T/chain.graft" --pid "$pid"
expect_in "taken: seen and mapped again" "$ERR" "was not mapped at 0x[0-9a-f]+ in the process; mapping again call by call"
expect_eq "taken: applied" "$(vask taken 'compute 3')" 60
expect_eq "taken: greeting" "$(vask taken greet)" "new greeting"
expect_eq "taken: one region (code and data)" "$(grep 'memfd:graft:' "/proc/$pid/maps" | awk '{print $6}' | sort -u | wc -l)" 1
expect_eq "taken: no memfd left open" "$(memfds "$pid")" 0
run_graft 0 status --pid "$pid" --json
expect_eq "taken: status" "$(jq -r '[.[0].patches[].state] | join(",")' <<<"$OUT")" applied
run_graft 0 revert chain --pid "$pid"
expect_eq "taken: reverted" "$(vask taken 'compute 3')" 4
expect_eq "taken: region gone" "$(regions "$pid")" 0
expect_running taken

# --- two patches in one batch, the first one's address taken: the second,
# mapped on the way home, is taken out again before both are mapped call by call
cat >"$T/m-a" <<EOM
id chain-a
target victim
object patch.o
replace compute compute_v2
EOM
cat >"$T/m-b" <<EOM
id chain-b
target victim
object patch.o
replace greeting greeting_v2
EOM
run_graft 0 pack "$T/m-a" -o "$T/a.graft"
run_graft 0 pack "$T/m-b" -o "$T/b.graft"
victim_start two "$T/victim"
pid=${VPID[two]}
GRAFT_TEST_FAULT=chain-mmap-taken run_graft 0 -v apply "$T/a.graft" "$T/b.graft" --pid "$pid"
expect_in "two: mapped again" "$ERR" "mapping again call by call"
expect_eq "two: compute" "$(vask two 'compute 3')" 60
expect_eq "two: greeting" "$(vask two greet)" "new greeting"
for id in chain-a chain-b; do
	expect_eq "two: one region of $id" \
		"$(grep "memfd:graft:$id " "/proc/$pid/maps" | awk '{print $5}' | sort -u | wc -l)" 1
done
expect_eq "two: no memfd left open" "$(memfds "$pid")" 0
run_graft 0 status --pid "$pid" --json
expect_eq "two: status" "$(jq -r '[.[0].patches[].state] | sort | join(",")' <<<"$OUT")" applied,applied
run_graft 0 revert chain-b --pid "$pid"
run_graft 0 revert chain-a --pid "$pid"
expect_eq "two: regions gone" "$(regions "$pid")" 0
expect_running two

# --- a process stopped before graft came: patched, and left stopped
victim_start pre "$T/victim"
pid=${VPID[pre]}
kill -STOP "$pid"
for _ in $(seq 100); do [ "$(state "$pid")" = T ] && break; sleep 0.01; done
run_graft 0 apply "$T/chain.graft" --pid "$pid"
expect_eq "pre-stopped: left stopped" "$(state "$pid")" T
expect_eq "pre-stopped: mapped" "$(grep 'memfd:graft:chain' "/proc/$pid/maps" | awk '{print substr($2, 1, 3)}' | sort -u | paste -sd,)" "r-x,rw-"
expect_eq "pre-stopped: no memfd left open" "$(memfds "$pid")" 0
run_graft 0 revert chain --pid "$pid"
expect_eq "pre-stopped: region gone while stopped" "$(regions "$pid")" 0
expect_eq "pre-stopped: still stopped" "$(state "$pid")" T
kill -CONT "$pid"
expect_eq "pre-stopped: continued, old code" "$(vask pre 'compute 3')" 4
run_graft 0 apply "$T/chain.graft" --pid "$pid"
expect_eq "pre-stopped: applied running" "$(vask pre 'compute 3')" 60
expect_running pre
echo ok
