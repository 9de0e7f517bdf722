#!/bin/bash
# graft build end to end: a small project (shared library + executable with
# worker threads, tests/integration/project) is built the normal way and
# started; fixes are built with 'graft build' and applied to the running
# process, behaviour checked before and after, then reverted. Also: the
# source tree is never modified, the original build is cached, a stripped
# target takes its symbols from the debug file found by build-id.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"
FIX=$HERE/project-fixes
P=$T/proj
cp -r "$HERE/project" "$P"
make -s -C "$P" >"$T/make.log" 2>&1 || fail "the project does not build: $(cat "$T/make.log")"
tree_sum() { (cd "$P" && find . -type f -print0 | sort -z | xargs -0 md5sum | md5sum); }
before=$(tree_sum)
LIB=$P/lib/libcounter.so
APP=$P/app/app

victim_start v "$APP"
pid=${VPID[v]}
expect_eq "add out of bounds, before" "$(vask v 'add 9 1')" "1"
expect_eq "parse 7 digits, before" "$(vask v 'parse 1234567')" "1234567"
w0=$(vask v workers)

# 1: a library fix
run_graft 0 build --src "$P" --diff "$FIX/fix-lib.diff" --target "$LIB" --cve CVE-2026-1111 \
	--description "bounds check in counter_add" --cache-dir "$T/cache" -o "$T/lib.graft" --json
expect_eq "lib fix replaces" "$(jq -r '[.replaced[].name] | join(" ")' <<<"$OUT")" "counter_add"
expect_eq "lib fix reason" "$(jq -r '.replaced[0].why' <<<"$OUT")" "its code changed"
expect_eq "first build is not cached" "$(jq -r '.seconds.original_cached' <<<"$OUT")" "false"
run_graft 0 info "$T/lib.graft"
expect_in "info names the CVE" "$OUT" "CVE-2026-1111"
run_graft 0 apply "$T/lib.graft" --pid "$pid"
expect_in "apply" "$OUT" "applied 'fix-lib' \(1 function\)"
expect_eq "add out of bounds, patched" "$(vask v 'add 9 1')" "-1"
expect_eq "add in bounds, patched (state kept)" "$(vask v 'add 3 5')" "5"
expect_eq "add in bounds again" "$(vask v 'add 3 5')" "10"

# 2: an executable fix; the original build comes from the cache
run_graft 0 build --src "$P" --diff "$FIX/fix-exe.diff" --target "$APP" --id fix-parse \
	--cache-dir "$T/cache" -o "$T/exe.graft" --json
expect_eq "exe fix replaces" "$(jq -r '[.replaced[].name] | join(" ")' <<<"$OUT")" "parse_num"
expect_eq "second build is cached" "$(jq -r '.seconds.original_cached' <<<"$OUT")" "true"
run_graft 0 apply "$T/exe.graft" --pid "$pid"
expect_eq "parse 7 digits, patched" "$(vask v 'parse 1234567')" "-1"
expect_eq "parse 6 digits, patched" "$(vask v 'parse 123456')" "123456"

# 3: a fix with a new function and new data in the library
run_graft 0 build --src "$P" --diff "$FIX/fix-label.diff" --target "$LIB" \
	--cache-dir "$T/cache" -o "$T/label.graft" --json
expect_eq "label fix replaces" "$(jq -r '[.replaced[].name] | join(" ")' <<<"$OUT")" "counter_label"
expect_eq "label fix adds" "$(jq -r '[.new_functions[].name] | join(" ")' <<<"$OUT")" "label_huge"
expect_in "label fix data" "$(jq -r '[.new_data[].name] | join(" ")' <<<"$OUT")" "huge_seen"
run_graft 0 apply "$T/label.graft" --pid "$pid"
expect_eq "label, patched" "$(vask v 'label 150000')" "huge (150000, #1)"
expect_eq "label, patched, state" "$(vask v 'label 150001')" "huge (150001, #2)"
expect_eq "label small" "$(vask v 'label 5')" "small"

# 3b: static locals keep the running process's storage: counter_tick and
# counter_tock each have a 'static int ticks'; the fix changes counter_tick only
expect_eq "tick" "$(vask v tick)" "1"
expect_eq "tick" "$(vask v tick)" "2"
expect_eq "tock" "$(vask v tock)" "1001"
run_graft 0 build --src "$P" --diff "$FIX/fix-tick.diff" --target "$LIB" \
	--cache-dir "$T/cache" -o "$T/tick.graft" --json
expect_eq "tick fix replaces" "$(jq -r '[.replaced[].name] | join(" ")' <<<"$OUT")" "counter_tick"
expect_eq "tick fix: no new data" "$(jq -r '.new_data | length' <<<"$OUT")" "0"
run_graft 0 apply "$T/tick.graft" --pid "$pid"
expect_eq "tick continues from the process's value" "$(vask v tick)" "4"
expect_eq "tock untouched" "$(vask v tock)" "1002"
run_graft 0 revert fix-tick --pid "$pid"
expect_eq "tick after revert" "$(vask v tick)" "5"

w1=$(vask v workers)
[ "$w1" -gt "$w0" ] || fail "worker threads stopped ($w0 -> $w1)"

# revert in any order: they touch different functions
run_graft 0 revert fix-parse --pid "$pid"
expect_eq "parse after revert" "$(vask v 'parse 1234567')" "1234567"
run_graft 0 revert fix-lib --pid "$pid"
expect_eq "add after revert" "$(vask v 'add 9 1')" "2"
run_graft 0 revert fix-label --pid "$pid"
expect_eq "label after revert" "$(vask v 'label 150000')" "large"

# 4: one fix touching the library and the executable: one patch, both in one stop
run_graft 0 build --src "$P" --diff "$FIX/fix-both.diff" --target "$LIB" --target "$APP" \
	--cache-dir "$T/cache" -o "$T/both.graft" --json
expect_eq "both: replaced" "$(jq -r '[.replaced[] | .name] | sort | join(" ")' <<<"$OUT")" \
	"counter_add parse_num"
run_graft 0 info "$T/both.graft" --json
expect_eq "both: two targets" "$(jq -r '.targets | length' <<<"$OUT")" "2"
run_graft 0 apply "$T/both.graft" --pid "$pid"
expect_in "both: apply" "$OUT" "applied 'fix-both' \(2 functions in 2 objects\)"
expect_eq "both: lib part" "$(vask v 'add 9 1')" "-1"
expect_eq "both: exe part" "$(vask v 'parse 1234567')" "-1"
run_graft 0 status --pid "$pid" --json
expect_eq "both: two regions" "$(jq -r '[.[0].patches[] | select(.id == "fix-both")] | length' <<<"$OUT")" "2"
run_graft 0 revert fix-both --pid "$pid"
expect_eq "both reverted: lib" "$(vask v 'add 9 1')" "3"
expect_eq "both reverted: exe" "$(vask v 'parse 1234567')" "1234567"
run_graft 3 revert fix-both --pid "$pid"
# all or nothing: the executable's part is refused (altered code), so the
# library's part, prepared first, must not stay behind
victim_start v2 "$APP"
p2=${VPID[v2]}
base=$((0x$(awk -v f="$APP" '$6 == f {print $1; exit}' "/proc/$p2/maps" | cut -d- -f1)))
off=$((0x$(nm "$APP" | awk '$3 == "parse_num" {print $1}')))
addr=$((base + off + 1))
orig=$(dd if=/proc/$p2/mem bs=1 skip=$addr count=1 status=none | od -An -tx1 | tr -d ' ')
kill -STOP "$p2" # the workers call parse_num: keep them off the int3
printf '\xcc' | dd of=/proc/$p2/mem bs=1 seek=$addr conv=notrunc status=none || fail "poke"
run_graft 2 apply "$T/both.graft" --pid "$p2"
expect_in "both, one part altered" "$ERR" "function 'parse_num' differs from the patch's pre-image at offset 1"
grep -q memfd:graft "/proc/$p2/maps" && fail "a region was left after a refused multi-target apply"
printf "\\x$orig" | dd of=/proc/$p2/mem bs=1 seek=$addr conv=notrunc status=none || fail "unpoke"
kill -CONT "$p2"
expect_eq "both refused: lib untouched" "$(vask v2 'add 9 1')" "1"
expect_eq "both refused: exe untouched" "$(vask v2 'parse 1234567')" "1234567"

# a program that maps only the library gets the library's part
cat >"$T/libonly.c" <<'C'
#include <stdio.h>
int counter_add(int i, int n);
int main(void)
{
	int a, b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (scanf("%d %d", &a, &b) == 2)
		printf("%d\n", counter_add(a, b));
	return 0;
}
C
gcc -O2 -o "$T/libonly" "$T/libonly.c" -L"$P/lib" -lcounter -Wl,-rpath,"$P/lib" || fail "compile libonly"
victim_start lo "$T/libonly"
run_graft 0 apply "$T/both.graft" --pid "${VPID[lo]}"
expect_in "both, lib only" "$OUT" "applied 'fix-both' \(1 function in 1 of its 2 objects"
expect_eq "both, lib only: fixed" "$(vask lo '9 1')" "-1"
run_graft 0 revert fix-both --pid "${VPID[lo]}"
expect_eq "both, lib only: reverted" "$(vask lo '9 1')" "1"

# 5: a stripped target: symbols from DEBUG/.build-id/xx/yyyy.debug
mkdir -p "$T/stripped"
cp "$LIB" "$T/stripped/libcounter.so"
bid=$(readelf -n "$LIB" | awk '/Build ID/{print $3}')
mkdir -p "$T/debug/.build-id/${bid:0:2}"
objcopy --only-keep-debug "$LIB" "$T/debug/.build-id/${bid:0:2}/${bid:2}.debug"
strip "$T/stripped/libcounter.so"
readelf -S "$T/stripped/libcounter.so" | grep -q '\.symtab' && fail "strip left a symbol table"
run_graft 1 build --src "$P" --diff "$FIX/fix-lib.diff" --target "$T/stripped/libcounter.so" \
	--cache-dir "$T/cache" --debug-dir "$T/nodebug" -o "$T/s.graft"
expect_in "no debug file" "$ERR" "is stripped and its debug file '$T/nodebug/.build-id/${bid:0:2}/${bid:2}.debug' is missing"
run_graft 0 build --src "$P" --diff "$FIX/fix-lib.diff" --target "$T/stripped/libcounter.so" \
	--cache-dir "$T/cache" --debug-dir "$T/debug" -o "$T/s.graft" --id stripped
run_graft 0 apply "$T/s.graft" --pid "$pid"
expect_eq "stripped-built patch works" "$(vask v 'add 9 1')" "-1"
run_graft 0 revert stripped --pid "$pid"

# the operator's tree is untouched
[ "$(tree_sum)" = "$before" ] || fail "graft build modified the source tree"

# 6: a diff that does not apply, a build that fails: errors, no file
run_graft 1 build --src "$P" --diff "$FIX/fix-lib.diff" --target "$LIB" --build 'false' \
	--cache-dir "$T/cache2" -o "$T/x.graft"
expect_in "failed build" "$ERR" "the orig build \('false'\) failed with exit code 1"
sed 's/SLOTS)/SLOTZ)/' "$FIX/fix-lib.diff" | sed 's/^ #define SLOTS/ #define SLOTX/' >"$T/bad.diff"
printf -- '--- a/lib/counter.c\n+++ b/lib/counter.c\n@@ -1,3 +1,3 @@\n-#include <nothing>\n+#include <pthread.h>\n \n #include "counter.h"\n' >"$T/bad.diff"
run_graft 1 build --src "$P" --diff "$T/bad.diff" --target "$LIB" --cache-dir "$T/cache" -o "$T/x.graft"
expect_in "diff does not apply" "$ERR" "does not apply to"
[ -e "$T/x.graft" ] && fail "a failed build left a patch file"
kill -0 "$pid" || fail "the victim died"
exit 0
