#!/bin/bash
# Regenerate the seed patch files of tests/fuzz/corpus/patch from the
# integration test sources. Run after a format change; commit the result.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GRAFT=${GRAFT:-$ROOT/build/graft}
I=$ROOT/tests/integration
OUT=$ROOT/tests/fuzz/corpus/patch
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cc() { gcc -O2 -c -fPIC -ffunction-sections -fdata-sections -fno-common -o "$@"; }
gcc -O2 -o "$T/basic" "$I/basic/victim.c"
cc "$T/basic.o" "$I/basic/patch.c"
calls=$(nm "$T/basic" | awk '$3 ~ /^calls\./{print $3}')
printf 'id seed-basic\ndescription d\ncve CVE-0\ntarget basic\nobject basic.o\nreplace compute compute_v2\nreplace greeting greeting_v2\nreplace bump bump_v2\nbind bump_calls %s\n' "$calls" >"$T/m1"
gcc -O2 -o "$T/libc" "$I/libc/victim.c"
cc "$T/libc.o" "$I/libc/patch.c" -fno-builtin
printf 'id seed-libc\ntarget libc\nobject libc.o\nreplace describe describe_v2\nreplace announce announce_v2\n' >"$T/m2"
gcc -O2 -pthread -o "$T/tls" "$I/tls/victim.c"
cc "$T/tls.o" "$I/tls/patch.c"
printf 'id seed-tls\ntarget tls\nobject tls.o\nreplace tls_step tls_step_v2\n' >"$T/m3"
for m in 1 2 3; do "$GRAFT" pack "$T/m$m" -o "$OUT/seed-$m.graft" >/dev/null; done
# format v2 with two targets: graft build of the project's library + executable fix
cp -r "$I/project" "$T/proj"
make -s -C "$T/proj" >/dev/null
"$GRAFT" build --src "$T/proj" --diff "$I/project-fixes/fix-both.diff" --target "$T/proj/lib/libcounter.so" \
	--target "$T/proj/app/app" --cache-dir "$T/cache" -o "$OUT/seed-4.graft" >/dev/null
"$GRAFT" build --src "$T/proj" --diff "$I/project-fixes/fix-label.diff" --target "$T/proj/lib/libcounter.so" \
	--cache-dir "$T/cache" -o "$OUT/seed-5.graft" >/dev/null
# seed-v1-*.graft are format v1 files kept from before v2 (v1 is still read)
echo "wrote $(ls "$OUT" | wc -l) seeds to $OUT"

# the signature fuzzer: signed patches (selector byte 1) with its fixed key, key files (byte 0)
SIG=$ROOT/tests/fuzz/corpus/sig
mkdir -p "$SIG"
gcc -O2 -o "$T/seedkey" "$ROOT/tests/fuzz/sig-seed-key.c" -lsodium
"$T/seedkey" "$T/fuzz.key"
for i in 1 4; do
	"$GRAFT" sign "$OUT/seed-$i.graft" --key "$T/fuzz.key" -o "$T/s.graft" >/dev/null
	{ printf '\x01'; cat "$T/s.graft"; } >"$SIG/signed-$i"
done
"$GRAFT" keygen -o "$T/k" --comment "seed key" >/dev/null
{ printf '\x00'; cat "$T/k.pub"; } >"$SIG/key-pub"
{ printf '\x00'; cat "$T/k.key"; } >"$SIG/key-secret"
echo "wrote $(ls "$SIG" | wc -l) seeds to $SIG"
