#!/bin/bash
# Run every test program and judge it by its exit status: 0 pass, 77 skip,
# anything else fail. A failing test's log is printed. Ends with the line
# "N passed, N failed, N skipped" and exits non-zero on any failure.
# usage: tests/run-tests.sh BUILD_DIR [PATTERN]
set -u
B=${1:-build}
PAT=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export GRAFT=$ROOT/$B/graft
LOGS=$(mktemp -d /tmp/graft-logs.XXXXXX)
pass=0 failn=0 skipn=0
failed=()

tests=()
for t in "$ROOT/$B"/tests/unit/test-* "$ROOT"/tests/differ/test-*.sh "$ROOT"/tests/integration/test-*.sh \
	"$ROOT/$B"/tests/fuzz/replay-*; do
	[ -x "$t" ] || continue
	[ -n "$PAT" ] && [[ $t != *$PAT* ]] && continue
	tests+=("$t")
done

for t in "${tests[@]}"; do
	name=${t#"$ROOT"/}
	log=$LOGS/$(basename "$t").log
	start=${EPOCHREALTIME/./}
	timeout 600 "$t" >"$log" 2>&1 </dev/null
	rc=$?
	ms=$(( (${EPOCHREALTIME/./} - start) / 1000 ))
	secs=$((ms / 1000)).$((ms % 1000 / 100))
	case $rc in
	0) pass=$((pass + 1)); echo "PASS  $name (${secs}s)" ;;
	77) skipn=$((skipn + 1)); echo "SKIP  $name: $(tail -n 1 "$log")" ;;
	*) failn=$((failn + 1)); failed+=("$name"); echo "FAIL  $name (exit $rc, ${secs}s)"
	   sed 's/^/    | /' "$log" | tail -n 60 ;;
	esac
done
rm -rf "$LOGS"
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $failn failed, $skipn skipped"
[ "$failn" = 0 ] && [ "$pass" -gt 0 ]
