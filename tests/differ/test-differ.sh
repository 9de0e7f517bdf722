#!/bin/bash
# Golden tests of graft build's object differ. Each cases/NAME holds orig/
# (a tiny C project: files compiled into one program 'prog'), patched/ (the
# files the fix changes) and expect, with lines:
#   replaced F G ...   the exact set of replaced functions
#   new F ...          the exact set of new functions
#   data D ...         the exact set of new data objects
#   why F TEXT         F's reason contains TEXT
#   exit N             graft build's exit code (default 0)
#   error TEXT         its error message contains TEXT
#   note TEXT          one of its notes contains TEXT
# and optionally cflags (default -O2) and target_cflags (the flags the
# running target was built with, when they differ from what --build uses).
# The project is built the normal way,
# the diff is made with diff -ruN, and 'graft build --json' is judged.
# usage: tests/differ/test-differ.sh [CASE...]
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GRAFT=${GRAFT:-$ROOT/build/graft}
CASES=$ROOT/tests/differ/cases
T=$(mktemp -d /tmp/graft-differ.XXXXXX)
trap 'rm -rf "$T"' EXIT
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }

fails=0
run_case() {
	local name=$1 dir=$CASES/$1 w=$T/$1 cflags=-O2 out rc want_exit=0 line key rest got
	mkdir -p "$w/a" "$w/b"
	[ -f "$dir/cflags" ] && cflags=$(cat "$dir/cflags")
	local tflags=$cflags
	[ -f "$dir/target_cflags" ] && tflags=$(cat "$dir/target_cflags")
	cp -r "$dir/orig/." "$w/a/"
	[ -f "$w/a/main.c" ] || printf 'int run(int);\nint main(int c, char **v)\n{\n\t(void)v;\n\treturn run(c) & 1;\n}\n' >"$w/a/main.c"
	cat >"$w/a/Makefile" <<'MK'
CFLAGS ?= -O2
SRCS := $(sort $(wildcard *.c))
prog: $(SRCS:.c=.o)
	$(CC) $(CFLAGS) -o $@ $^
%.o: %.c $(wildcard *.h)
	$(CC) $(CFLAGS) -c $< -o $@
MK
	cp -r "$w/a/." "$w/b/"
	cp -r "$dir/patched/." "$w/b/"
	(cd "$w" && diff -ruN a b >fix.diff)
	cp -r "$w/a" "$w/src"
	make -s -C "$w/src" CFLAGS="$tflags" >"$w/make.log" 2>&1 || { echo "FAIL $name: the original does not build"; cat "$w/make.log"; return 1; }
	out=$("$GRAFT" build --src "$w/src" --diff "$w/fix.diff" --target "$w/src/prog" \
		--build "make CFLAGS='$cflags'" --cache-dir "$w/cache" -o "$w/out.graft" --json 2>"$w/err")
	rc=$?
	while read -r key rest; do
		case $key in
		replaced|new|data)
			local field=replaced
			[ "$key" = new ] && field=new_functions
			[ "$key" = data ] && field=new_data
			got=$(jq -r "[.${field}[]?.name] | sort | join(\" \")" <<<"$out")
			want=$(tr ' ' '\n' <<<"$rest" | sort | tr '\n' ' ' | sed 's/^ *//; s/ *$//')
			[ "$got" = "$want" ] || { echo "FAIL $name: $key: got '$got', want '$want'"; cat "$w/err"; return 1; } ;;
		why)
			local f=${rest%% *} text=${rest#* }
			got=$(jq -r ".replaced[]? | select(.name == \"$f\") | .why" <<<"$out")
			[[ $got == *"$text"* ]] || { echo "FAIL $name: why $f: got '$got', want '$text'"; return 1; } ;;
		exit) want_exit=$rest ;;
		note)
			jq -r '.notes[]?' <<<"$out" | grep -qF -- "$rest" || { echo "FAIL $name: no note '$rest' in: $(jq -c .notes <<<"$out")"; return 1; } ;;
		error)
			grep -qF -- "$rest" "$w/err" || { echo "FAIL $name: error should say '$rest', said: $(cat "$w/err")"; return 1; } ;;
		esac
	done <"$dir/expect"
	[ "$rc" = "$want_exit" ] || { echo "FAIL $name: exit $rc, want $want_exit"; cat "$w/err"; echo "$out"; return 1; }
	if [ "$rc" = 0 ]; then
		"$GRAFT" info "$w/out.graft" >/dev/null || { echo "FAIL $name: graft info refuses the patch"; return 1; }
	fi
	echo "ok   $name"
}

cases=("$@")
[ ${#cases[@]} = 0 ] && mapfile -t cases < <(ls "$CASES")
for c in "${cases[@]}"; do
	run_case "$c" || fails=$((fails + 1))
done
echo "${#cases[@]} cases, $fails failed"
[ "$fails" = 0 ]
