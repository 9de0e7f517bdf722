#!/bin/bash
# One patch replacing many functions (40): its header and function table in
# the process are longer than a page, and everything that reads them back
# (apply's check that the region can be found again, status, revert) reads
# all of it. Apply's check, asked of the kernel mapping by mapping, and
# (test switch no-procmap-query) from the whole maps text.
. "$(dirname "$0")/lib.sh"

N=40
{
	echo '#include <stdio.h>'
	for ((i = 0; i < N; i++)); do
		echo "__attribute__((noipa)) int f$i(int x) { return x + $i; }"
	done
	echo 'int main(void) { char line[64]; setvbuf(stdout, NULL, _IOLBF, 0); printf("ready\n");'
	echo '  while (fgets(line, sizeof(line), stdin)) { long s = 0;'
	for ((i = 0; i < N; i++)); do
		echo "    s += f$i(1);"
	done
	echo '    printf("%ld\n", s); } return 0; }'
} >"$T/victim.c"
{
	for ((i = 0; i < N; i++)); do
		echo "int f${i}_v2(int x) { return x + $i + 1000; }"
	done
} >"$T/patch.c"
gcc -O2 -g -o "$T/victim" "$T/victim.c" || fail "compile the victim"
patch_cc "$T/patch.o" "$T/patch.c"
{
	printf 'id many\ntarget victim\nobject patch.o\n'
	for ((i = 0; i < N; i++)); do
		echo "replace f$i f${i}_v2"
	done
} >"$T/m"
run_graft 0 pack "$T/m" -o "$T/p.graft"

victim_start v "$T/victim"
pid=${VPID[v]}
base=$((N + N * (N - 1) / 2))
expect_eq "before" "$(vask v sum)" "$base"
run_graft 0 apply "$T/p.graft" --pid "$pid"
expect_in "applied" "$OUT" "^pid $pid: applied 'many' \($N functions\)"
expect_eq "after" "$(vask v sum)" "$((base + 1000 * N))"
run_graft 0 status --pid "$pid" --json
expect_eq "functions in the header" "$(jq '.[0].patches[0].functions | length' <<<"$OUT")" "$N"
expect_eq "all live" "$(jq '[.[0].patches[0].functions[] | select(.state == "live")] | length' <<<"$OUT")" "$N"
expect_eq "last one named" "$(jq -r '.[0].patches[0].functions[-1].name' <<<"$OUT")" "f$((N - 1))"
run_graft 3 apply "$T/p.graft" --pid "$pid"
run_graft 0 revert many --pid "$pid"
expect_eq "reverted" "$(vask v sum)" "$base"
grep -q memfd:graft "/proc/$pid/maps" && fail "region left mapped after revert"
# again where the kernel cannot be asked for single mappings (before Linux 6.11):
# apply reads the whole maps to see its region in place
GRAFT_TEST_FAULT=no-procmap-query run_graft 0 apply "$T/p.graft" --pid "$pid"
expect_eq "after, maps read whole" "$(vask v sum)" "$((base + 1000 * N))"
run_graft 0 revert many --pid "$pid"
expect_eq "reverted again" "$(vask v sum)" "$base"
exit 0
