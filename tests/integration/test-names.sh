#!/bin/bash
# Names that are not UTF-8: a process's name comes from its executable's file
# name, which is bytes, and a patch's target name from the same. graft's JSON
# output keeps every such process and patch, with U+FFFD for the stray bytes
# (the JSON library refuses such text: the key, or the whole process, used to
# drop out of the output, so a process could hide from `graft scan --json`);
# the audit log keeps the bytes as they are.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

name=$(printf 'vict\351m')
gcc -O2 -g -o "$T/$name" "$HERE/basic/victim.c" || fail "compile victim"
patch_cc "$T/patch.o" "$HERE/basic/patch.c"
printf 'id names\ntarget %s\nobject patch.o\nreplace compute compute_v2\n' "$name" >"$T/m"
run_graft 0 pack "$T/m" -o "$T/p.graft"
victim_start v "$T/$name"
pid=${VPID[v]}
want=$(printf 'vict\357\277\275m') # the stray byte as U+FFFD

run_graft 0 scan "$T/p.graft" --pid "$pid" --json
expect_eq "scan lists it" "$(jq -r ".processes[] | select(.pid == $pid) | .comm" <<<"$OUT")" "$want"
run_graft 0 apply "$T/p.graft" --exe "$T/$name" --json
expect_eq "apply --exe reports it" "$(jq -r '.results[] | [.comm, .result] | join(" ")' <<<"$OUT")" \
	"$want APPLIED"
expect_eq "patched" "$(vask v 'compute 3')" 60
run_graft 0 status --pid "$pid" --json
expect_eq "status" "$(jq -r '.[0] | [.comm, .patches[0].target] | join(" ")' <<<"$OUT")" "$want $T/$want"
run_graft 0 log
grep -qF "$T/$name" <<<"$OUT" || fail "the log lost the executable's name: $OUT"
run_graft 0 log --json
expect_eq "log --json" "$(jq -r '.[-1].exe' <<<"$OUT")" "$T/$want"
run_graft 0 revert names --pid "$pid"
expect_eq "reverted" "$(vask v 'compute 3')" 4
exit 0
