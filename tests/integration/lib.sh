# shellcheck shell=bash
# Helpers for integration tests: victims driven over pipes, the real graft
# binary, compile-at-test-time patches. A test exits 0 (pass), 77 (skip)
# or anything else (fail).
set -u
GRAFT=${GRAFT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/graft}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/graft-test.XXXXXX)
declare -A VIN VOUT VPID

cleanup() {
	exec 2>/dev/null # no "Killed" job notices
	for n in "${!VPID[@]}"; do kill -9 "${VPID[$n]}" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (ptrace of other processes, /proc/PID/map_files)"

# Every test signs what it packs or builds with a key of its own, and its
# graft trusts only that key: the signed path is the one exercised.
"$GRAFT" keygen -o "$T/test-key" --comment "graft test $$" >/dev/null || fail "keygen"
mkdir -p "$T/keys.d"
cp "$T/test-key.pub" "$T/keys.d/"
export GRAFT_KEYS_DIR=$T/keys.d GRAFT_SIGNING_KEY=$T/test-key.key
# ... and keeps its audit log to itself
export GRAFT_STATE_DIR=$T/state

# victim_start NAME CMD [ARGS...]: start a victim whose stdin/stdout are pipes;
# waits for its first line, which must start with "ready".
victim_start() {
	local name=$1 in out fd_in fd_out line
	shift
	in=$T/$name.in
	out=$T/$name.out
	mkfifo "$in" "$out"
	"$@" <"$in" >"$out" 2>"$T/$name.err" &
	VPID[$name]=$!
	exec {fd_in}>"$in"
	exec {fd_out}<"$out"
	VIN[$name]=$fd_in
	VOUT[$name]=$fd_out
	read -r -t 10 -u "$fd_out" line || fail "victim $name did not start: $(cat "$T/$name.err")"
	[[ $line == ready* ]] || fail "victim $name said '$line' instead of ready"
}

# vask NAME COMMAND: send one command, print the one-line answer.
vask() {
	local line
	echo "$2" >&"${VIN[$1]}" || fail "victim $1 is gone (asked '$2')"
	read -r -t 20 -u "${VOUT[$1]}" line || fail "victim $1 did not answer '$2'"
	printf '%s\n' "$line"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# run_graft WANT_RC ARGS...: run graft, keep stdout in $OUT and stderr in $ERR.
run_graft() {
	local want=$1 rc=0
	shift
	OUT=$("$GRAFT" "$@" 2>"$T/graft.err") || rc=$?
	ERR=$(cat "$T/graft.err")
	[ "$rc" = "$want" ] || fail "graft $* exited $rc, want $want; stdout: $OUT; stderr: $ERR"
}

# expect_in WHAT TEXT PATTERN: grep -E PATTERN in TEXT
expect_in() {
	grep -qE -- "$3" <<<"$2" || fail "$1: '$2' does not match /$3/"
}

# compile a patch object from C: patch_cc OUT.o SRC [extra flags]
patch_cc() {
	local out=$1 src=$2
	shift 2
	gcc -O2 -c -fPIC -ffunction-sections -fdata-sections -fno-common "$@" -o "$out" "$src" ||
		fail "cannot compile $src"
}

# symbol name of a static local: static_local BIN PREFIX
static_local() {
	nm "$1" | awk -v p="$2" '$3 ~ "^"p"\\.[0-9]+$" {print $3; exit}'
}

victim_alive() {
	kill -0 "${VPID[$1]}" 2>/dev/null
}

# is the victim stopped or traced? it must never be after graft returns
expect_running() {
	local pid=${VPID[$1]} st tracer
	st=$(awk '/^State:/{print $2}' "/proc/$pid/status")
	tracer=$(awk '/^TracerPid:/{print $2}' "/proc/$pid/status")
	[ "$tracer" = 0 ] || fail "victim $1 still traced by $tracer"
	[ "$st" != T ] && [ "$st" != t ] || fail "victim $1 left stopped ($st)"
	for task in /proc/"$pid"/task/*; do
		tracer=$(awk '/^TracerPid:/{print $2}' "$task/status" 2>/dev/null || echo 0)
		[ "${tracer:-0}" = 0 ] || fail "thread ${task##*/} of victim $1 still traced"
	done
}
