#!/bin/bash
# make demo's script keeps working: the bug shows, the live fix closes it in
# the same process, the revert brings it back.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
B=$(realpath --relative-to="$ROOT" "$(dirname "$GRAFT")")
out=$("$ROOT/sample/demo.sh" "$B" 2>&1) || fail "demo failed: $out"
grep -q "applied 'httpd-token-fix'" <<<"$out" || fail "no apply line: $out"
mapfile -t empty < <(grep -F 'GET /admin?token=      ' <<<"$out" | sed 's/.*-> //')
expect_eq "empty token before the fix" "${empty[0]}" "200 OK: welcome, admin"
expect_eq "empty token after the fix" "${empty[1]}" "403 Forbidden: bad token"
expect_eq "empty token after the revert" "${empty[2]}" "200 OK: welcome, admin"
pids=$(grep -oE "^pid [0-9]+: (applied|reverted)" <<<"$out" | awk '{print $2}' | sort -u | wc -l)
expect_eq "one process throughout" "$pids" 1
exit 0
