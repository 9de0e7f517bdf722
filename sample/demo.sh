#!/bin/bash
# make demo: build the sample service, show its bug, make and sign a patch,
# fix it live with graft, show the fix from the same PID, show status,
# revert, show the bug again.
set -eu
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GRAFT=$ROOT/$B/graft
W=$ROOT/$B/sample
mkdir -p "$W"
cp "$ROOT/sample/fix.manifest" "$W/"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
get() { # get PATH: one HTTP request with bash's /dev/tcp
	local resp status body
	exec 3<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3
	resp=$(tr -d '\r' <&3 2>/dev/null) || true
	exec 3<&-
	status=$(head -n 1 <<<"$resp")
	body=$(tail -n 1 <<<"$resp")
	printf '   GET %-28s -> %s: %s\n' "$1" "${status#HTTP/1.0 }" "$body"
}

say "building the sample service and the fix"
gcc -O2 -g -pthread -o "$W/httpd" "$ROOT/sample/httpd.c"
gcc -O2 -c -fPIC -ffunction-sections -fdata-sections -o "$W/fix.o" "$ROOT/sample/fix.c"
"$GRAFT" pack "$W/fix.manifest" -o "$W/fix.graft"

say "signing the patch; this host trusts only the demo key"
rm -rf "$W/demo.key" "$W/demo.pub" "$W/keys.d"
"$GRAFT" keygen -o "$W/demo" --comment "graft demo"
mkdir -p "$W/keys.d"
cp "$W/demo.pub" "$W/keys.d/"
export GRAFT_KEYS_DIR=$W/keys.d GRAFT_STATE_DIR=$W/state
"$GRAFT" sign "$W/fix.graft" --key "$W/demo.key"
"$GRAFT" info "$W/fix.graft"

PORT=$((20000 + RANDOM % 20000))
say "starting the service on 127.0.0.1:$PORT"
"$W/httpd" "$PORT" >"$W/httpd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.1
done
echo "   pid $PID"

say "the bug: an empty or partial token opens the admin page"
get "/admin?token=s3cret-t0ken"
get "/admin?token="
get "/admin?token=s3c"

say "applying the fix to the running process (pid $PID)"
"$GRAFT" apply "$W/fix.graft" --pid "$PID"

say "same process, fixed"
get "/admin?token=s3cret-t0ken"
get "/admin?token="
get "/admin?token=s3c"

say "graft status"
"$GRAFT" status --pid "$PID"

say "reverting"
"$GRAFT" revert httpd-token-fix --pid "$PID"
get "/admin?token="

say "graft log: every attempt, with who, which patch (hash, signer), which process"
"$GRAFT" log --pid "$PID"

say "stopping the service (pid $PID, never restarted during the demo)"
kill "$PID"
wait "$PID" 2>/dev/null || true
trap - EXIT
echo "   done"
