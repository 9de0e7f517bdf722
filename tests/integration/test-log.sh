#!/bin/bash
# The audit log: every apply and revert attempt is recorded, whatever its
# outcome (applied, already, refused, reverted, not applied, a patch file
# refused before any process is touched, an attempt whose graft was
# SIGKILLed: "died", closed by the recovery that follows), with who, the patch's hash and signer, the process's
# pid, start time and executable. graft log filters by --pid and --since.
. "$(dirname "$0")/lib.sh"
. "$HERE/multi/build.sh"
command -v jq >/dev/null || skip "jq is not installed"
multi_build
victim_start v "$T/multi"
pid=${VPID[v]}
victim_start w "$T/multi"
pid2=${VPID[w]}

run_graft 0 log --json
expect_eq "empty log" "$OUT" "[]"
run_graft 0 log
expect_in "empty log, text" "$OUT" "^no attempts logged$"

run_graft 0 apply "$T/compute-a.graft" --pid "$pid"
run_graft 3 apply "$T/compute-a.graft" --pid "$pid"
run_graft 0 apply "$T/compute-a.graft" --pid "$pid2"
cp "$T/compute-a.graft" "$T/bad.graft"
printf 'X' | dd of="$T/bad.graft" bs=1 seek=100 conv=notrunc status=none
run_graft 2 apply "$T/bad.graft" --pid "$pid"
run_graft 0 revert compute-a --pid "$pid"
run_graft 3 revert compute-a --pid "$pid"

# kill graft while it waits for a busy function: its attempt is "started" until the
# next graft on the process (here revert) recovers it: then "died", plus a recover entry
expect_eq "hold" "$(vask v hold)" ok
"$GRAFT" apply "$T/hold.graft" --pid "$pid" --timeout 30 >/dev/null 2>&1 &
g=$!
sleep 0.5
kill -9 $g
wait $g 2>/dev/null
run_graft 0 revert hold --pid "$pid"

run_graft 0 log --json
L=$OUT
expect_eq "entries" "$(jq length <<<"$L")" 8
expect_eq "results" "$(jq -r '[.[] | .op + ":" + .result] | join(" ")' <<<"$L")" \
	"apply:applied apply:already apply:applied apply:refused revert:reverted revert:not-applied apply:died recover:rolled-back"
expect_eq "exit codes" "$(jq -r '[.[] | .exit_code] | join(" ")' <<<"$L")" "0 3 0 2 0 3 0 0"
first=$(jq '.[0]' <<<"$L")
expect_eq "who" "$(jq -r .user <<<"$first")" "$(id -un)"
expect_eq "uid" "$(jq -r .uid <<<"$first")" "$(id -u)"
expect_eq "patch id" "$(jq -r .patch_id <<<"$first")" "compute-a"
size=$(stat -c %s "$T/compute-a.graft")
want_sha=$(head -c $((size - 104)) "$T/compute-a.graft" | sha256sum | cut -d' ' -f1)
expect_eq "patch hash (without the signature)" "$(jq -r .patch_sha256 <<<"$first")" "$want_sha"
kid=$("$GRAFT" info "$T/compute-a.graft" --json | jq -r .signature.key_id)
expect_eq "signer" "$(jq -r .signer <<<"$first")" "$kid"
expect_eq "pid" "$(jq -r .pid <<<"$first")" "$pid"
expect_eq "start time" "$(jq -r .start_time <<<"$first")" "$(awk '{print $22}' "/proc/$pid/stat")"
expect_eq "exe" "$(jq -r .exe <<<"$first")" "$T/multi"
bid=$(readelf -n "$T/multi" | awk '/Build ID/{print $3}')
expect_eq "build-ids" "$(jq -r .build_ids <<<"$first")" "$bid"
jq -e '.[0].stopped_ms > 0' <<<"$L" >/dev/null || fail "no stop time logged"
expect_in "refusal text" "$(jq -r '.[3].error' <<<"$L")" "does not verify|not signed|malformed"
expect_eq "refused before any process: no patch id" "$(jq -r '.[3].patch_id' <<<"$L")" "null"

# filters
run_graft 0 log --pid "$pid2" --json
expect_eq "--pid" "$(jq -r '[.[] | .pid] | unique | join(",")' <<<"$OUT")" "$pid2"
run_graft 0 log --since "@$(($(date +%s) + 3600))" --json
expect_eq "--since future" "$OUT" "[]"
run_graft 0 log --since 1h --json
expect_eq "--since 1h" "$(jq length <<<"$OUT")" 8
run_graft 0 log --since "$(date +%Y-%m-%d)" --json
expect_eq "--since today" "$(jq length <<<"$OUT")" 8
run_graft 64 log --since yesterday-ish
run_graft 0 log
expect_in "text" "$OUT" "apply  compute-a +pid $pid +applied +stopped [0-9.]+ ms  $T/multi"

# Runs over many processes log through a spool beside the log (store/spool.c).
# Killed mid-run, graft leaves it behind; the next graft imports it, once.
S=$GRAFT_STATE_DIR
GRAFT_TEST_DIE_AT=apply-jumps-done "$GRAFT" apply "$T/compute-a.graft" --exe "$T/multi" \
	--jobs 1 >/dev/null 2>&1 && fail "graft was not killed mid-run"
spools=("$S"/spool-*.tsv)
[ ${#spools[@]} = 1 ] && [ -s "${spools[0]}" ] || fail "no spool left by the killed run: $(ls "$S")"
# killed again, between the import's commit and the file's removal
GRAFT_TEST_DIE_AT=spool-imported "$GRAFT" log >/dev/null 2>&1 && fail "graft log was not killed in the import"
[ -e "${spools[0]}" ] || fail "the spool went before its import was over"
run_graft 0 log --json
expect_eq "the killed run's attempt" "$(jq -r '.[-1] | [.op, .result, .pid, .patch_id] | join(" ")' <<<"$OUT")" \
	"apply started $pid compute-a"
n_after=$(jq length <<<"$OUT")
expect_eq "one row more" "$n_after" 9
[ -e "${spools[0]}" ] && fail "the imported spool was not removed"
run_graft 0 log --json
expect_eq "imported once" "$(jq length <<<"$OUT")" "$n_after"
run_graft 0 recover --pid "$pid"
run_graft 0 log --json
expect_eq "recovery closes the spooled attempt" \
	"$(jq -r '[.[] | select(.pid == '"$pid"' and .op == "apply") | .result] | last' <<<"$OUT")" died

# A spool whose graft still runs (it holds the lock) is shown but left alone; a line cut
# short (a write that failed) is skipped, the rest imported, byte for byte:
# an executable's path with a tab and a byte that is not UTF-8 in it.
now=$(date +%s%N)
f="$S/spool-1-00000000000000aa.tsv"
{
	printf '\nb\t0\t%s\t0\tu\tapply\tspool-test\t\\N\t\\N\t/opt/a\\tb\351\t1\t7\t\\N\t.' "$now"
	printf '\nb\t1\t%s\t0\tu\tapply\tspool-cut\t\\N\t\\N\t/x\t1\t7\t\\N' "$now"
	printf '\ne\t0\tapplied\t0\t1000\t\\N\t.'
	# not records: bad escapes, numbers that are not, a kind unknown, too few or many fields
	printf '\nb\t2\t%s\t0\tu\tapply\tspool-bad\t\\q\t\\N\t/x\t1\t7\t\\N\t.' "$now"
	printf '\nb\t3\t%s\t0\tu\tapply\tspool-bad\t\\N\t\\N\t/x\\x4\t1\t7\t\\N\t.' "$now"
	printf '\nb\t-4\t%s\t0\tu\tapply\tspool-bad\t\\N\t\\N\t/x\t1\t7\t\\N\t.' "$now"
	printf '\nb\t99999999999\t%s\t0\tu\tapply\tspool-bad\t\\N\t\\N\t/x\t1\t7\t\\N\t.' "$now"
	printf '\nb\t5\t%s\t0\tu\tapply\tspool-bad\t\\N\t\\N\t/x\tone\t7\t\\N\t.' "$now"
	printf '\nb\t6\t%s\t0\tu\tapply\tspool-bad\t\\N\t\\N\t/x\t1\t7\t\\N\t.\textra' "$now"
	printf '\nz\t7\t.\ne\t0\t.\ne\t99\tapplied\t0\t1\t\\N\t.\n\n\t\t\t'
} >"$f"
(
	exec 9>>"$f"
	flock 9
	exec sleep 30
) &
holder=$!
sleep 0.2
run_graft 0 log --json
# shown (a run under way), with no id: it is not in the log yet
expect_eq "a locked spool is shown, not imported" \
	"$(jq -c '[.[] | select(.patch_id == "spool-test") | [.id, .result]]' <<<"$OUT")" '[[null,"applied"]]'
[ -e "$f" ] || fail "a locked spool was removed"
run_graft 0 log --pid 2 --json
expect_eq "--pid applies to it" "$OUT" "[]"
kill $holder
wait $holder 2>/dev/null
run_graft 0 log --json
expect_eq "the unlocked spool's row, once, in the log" \
	"$(jq -r '.[] | select(.patch_id == "spool-test") | [.id > 0, .result, .start_time, .stopped_ms] | join(" ")' <<<"$OUT")" \
	"true applied 7 0.001"
expect_eq "the cut line skipped" "$(jq '[.[] | select(.patch_id == "spool-cut")] | length' <<<"$OUT")" 0
expect_eq "lines that are not records skipped" "$(jq '[.[] | select(.patch_id == "spool-bad")] | length' <<<"$OUT")" 0
run_graft 0 log --pid 1
grep -qF "$(printf '/opt/a\tb\351')" <<<"$OUT" || fail "the path did not come through byte for byte: $OUT"
[ -e "$f" ] && fail "the imported spool was not removed"

# no audit log, no patching: the state directory cannot be created
run_graft 1 apply "$T/compute-a.graft" --pid "$pid" --state-dir /proc/nope
expect_in "no log" "$ERR" "cannot open the audit log; nothing was done"
grep -q "memfd:graft:compute-a" "/proc/$pid/maps" && fail "applied without a log"
[ "$(stat -c %a "$GRAFT_STATE_DIR")" = 700 ] || fail "state directory is not 0700"
[ "$(stat -c %a "$GRAFT_STATE_DIR/audit.db")" = 600 ] || fail "audit.db is not 0600"
exit 0
