#!/bin/bash
# Wall time of 'graft build' for a one-function fix against the project's
# own incremental rebuild after the same change (issue #3: at most twice).
# The project is tests/integration/project (a shared library and an
# executable), the fix tests/integration/project-fixes/fix-exe.diff. Both
# are timed RUNS times (default 7) and the medians compared; graft build is
# timed warm (its original build cached, as when an operator builds a
# second fix for the same source), after one cold run that is reported too.
# usage: bench/build-bench.sh [BUILD_DIR]   (prints; run-bench.sh appends it)
set -eu
B=${1:-build}
RUNS=${RUNS_BUILD:-7}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GRAFT=$ROOT/$B/graft
W=$(mktemp -d /tmp/graft-bbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
FIX=$ROOT/tests/integration/project-fixes/fix-exe.diff

now() { date +%s%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

cp -r "$ROOT/tests/integration/project" "$W/src"
make -s -C "$W/src" >/dev/null
inc=()
for _ in $(seq "$RUNS"); do
	rm -rf "$W/inc"
	cp -a "$W/src" "$W/inc"
	patch -s -p1 -d "$W/inc" <"$FIX"
	t0=$(now)
	make -s -C "$W/inc" >/dev/null
	t1=$(now)
	inc+=($(((t1 - t0) / 1000)))
done
t0=$(now)
"$GRAFT" build --src "$W/src" --diff "$FIX" --target "$W/src/app/app" --cache-dir "$W/cache" \
	-o "$W/p.graft" >/dev/null
cold=$((($(now) - t0) / 1000))
gb=()
for _ in $(seq "$RUNS"); do
	t0=$(now)
	"$GRAFT" build --src "$W/src" --diff "$FIX" --target "$W/src/app/app" --cache-dir "$W/cache" \
		-o "$W/p.graft" >/dev/null
	t1=$(now)
	gb+=($(((t1 - t0) / 1000)))
done
stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%6.1f / %6.1f", v[int((NR+1)/2)]/1000, v[NR]/1000}'; }
mi=$(printf '%s\n' "${inc[@]}" | median)
mg=$(printf '%s\n' "${gb[@]}" | median)
echo "graft build benchmark (one-function fix in tests/integration/project, $RUNS runs, ms median / max)"
echo "  incremental rebuild (make after the change):    $(stats "${inc[@]}")"
echo "  graft build, original build cached:             $(stats "${gb[@]}")"
awk -v c="$cold" 'BEGIN {printf "  graft build, first run (builds the original):  %6.1f\n", c/1000}'
awk -v g="$mg" -v i="$mi" 'BEGIN {printf "  ratio graft build / incremental rebuild:         %6.2f\n", g/i}'
