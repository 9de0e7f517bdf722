#!/bin/bash
# A changed function, a new helper, calls to static functions of the target,
# its static globals and static locals (which keep their values), string
# literals; as a PIE and as a non-PIE executable. Apply, check, revert, check.
. "$(dirname "$0")/lib.sh"

for kind in pie nopie; do
	flags=""
	[ $kind = nopie ] && flags="-no-pie -fno-pie"
	# shellcheck disable=SC2086
	gcc -O2 -g $flags -o "$T/victim-$kind" "$HERE/basic/victim.c" || fail "compile victim"
	patch_cc "$T/patch.o" "$HERE/basic/patch.c"
	cat >"$T/$kind.manifest" <<EOM
id basic-$kind
description basic test ($kind)
cve CVE-2026-0001
target victim-$kind
object patch.o
replace compute compute_v2
replace greeting greeting_v2
replace bump bump_v2
bind bump_calls $(static_local "$T/victim-$kind" calls)
EOM
	run_graft 0 pack "$T/$kind.manifest" -o "$T/$kind.graft"
	victim_start $kind "$T/victim-$kind"
	expect_eq "compute before" "$(vask $kind 'compute 3')" 4
	expect_eq "greet before" "$(vask $kind greet)" "old greeting"
	expect_eq "bump before" "$(vask $kind bump)" 1
	expect_eq "bump before" "$(vask $kind bump)" 2
	expect_eq "counter before" "$(vask $kind counter)" 100

	run_graft 0 apply "$T/$kind.graft" --pid "${VPID[$kind]}"
	expect_in "apply output" "$OUT" "^pid ${VPID[$kind]}: applied 'basic-$kind' \(3 functions\), stopped [0-9.]+ ms$"
	expect_running $kind
	expect_eq "compute after" "$(vask $kind 'compute 3')" 60
	expect_eq "counter written by patch" "$(vask $kind counter)" 102
	expect_eq "greet after" "$(vask $kind greet)" "new greeting"
	expect_eq "greet again: the patch's data is writable" "$(vask $kind greet)" "new greeting"
	expect_eq "static local kept" "$(vask $kind bump)" 102
	# the region: code r-x, the patch's data rw-, nothing both writable and executable
	prot=$(awk '/memfd:graft:basic/ {print substr($2, 1, 3)}' "/proc/${VPID[$kind]}/maps" | sort -u | paste -sd,)
	expect_eq "region protections" "$prot" "r-x,rw-"

	run_graft 3 apply "$T/$kind.graft" --pid "${VPID[$kind]}"
	expect_in "second apply" "$ERR" "already applied"

	run_graft 0 status --pid "${VPID[$kind]}" --json
	expect_eq "status id" "$(jq -r '.[0].patches[0].id' <<<"$OUT")" "basic-$kind"
	expect_eq "status funcs" "$(jq -r '[.[0].patches[0].functions[].state] | join(",")' <<<"$OUT")" "live,live,live"

	run_graft 0 revert "basic-$kind" --pid "${VPID[$kind]}"
	expect_running $kind
	expect_eq "compute reverted" "$(vask $kind 'compute 3')" 4
	expect_eq "greet reverted" "$(vask $kind greet)" "old greeting"
	expect_eq "static local after revert" "$(vask $kind bump)" 103
	grep -q memfd:graft "/proc/${VPID[$kind]}/maps" && fail "region still mapped after revert"
	run_graft 3 status --pid "${VPID[$kind]}"
	run_graft 3 revert "basic-$kind" --pid "${VPID[$kind]}"
	expect_in "revert twice" "$ERR" "not applied"
done
exit 0
