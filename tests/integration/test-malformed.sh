#!/bin/bash
# Malformed patch files through the real CLI: truncated, corrupted fields,
# not ELF, empty, missing, a directory: each refused with one clear line
# (exit 1). A well-formed but hostile patch naming data as a function is
# refused as unsafe (exit 2). The target is untouched.
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -o "$T/victim" "$HERE/basic/victim.c" || fail "compile"
patch_cc "$T/patch.o" "$HERE/basic/patch.c"
printf 'id mal-1\ntarget victim\nobject patch.o\nreplace compute compute_v2\n' >"$T/m"
GRAFT_SIGNING_KEY= run_graft 0 pack "$T/m" -o "$T/good.graft" # the parser's input, unsigned
victim_start v "$T/victim"
pid=${VPID[v]}
size=$(stat -c %s "$T/good.graft")
meta=$(readelf -SW "$T/good.graft" | awk '$2==".graft.meta"{print $5}')

check_refused() { # FILE PATTERN
	for cmd in info apply; do
		# past the signature check (test-sign.sh): the parser must refuse on its own
		if [ $cmd = apply ]; then run_graft 1 apply "$1" --pid "$pid" --insecure-skip-signature; else run_graft 1 info "$1"; fi
		[ "$(wc -l <<<"$ERR")" = 1 ] || fail "$cmd $1: more than one line: $ERR"
		expect_in "$cmd $(basename "$1")" "$ERR" "^error: cannot (read|apply) '.*': .*$2"
	done
}

for cut in 0 1 63 64 200 $((size / 2)) $((size - 1)); do
	head -c "$cut" "$T/good.graft" >"$T/cut-$cut.graft"
	check_refused "$T/cut-$cut.graft" "(not an ELF file|malformed|bad ELF header|not an x86-64)"
done
# corrupted metadata: version, function count, a string offset
corrupt() { # NAME OFFSET-IN-META BYTES
	cp "$T/good.graft" "$T/$1.graft"
	printf "$3" | dd of="$T/$1.graft" bs=1 seek=$((0x$meta + $2)) conv=notrunc status=none
}
corrupt version 8 '\x09\x00\x00\x00'
check_refused "$T/version.graft" "has format version 9; this graft reads versions 1-2"
corrupt nfuncs 104 '\xff\xff\xff\x7f'
check_refused "$T/nfuncs.graft" "malformed patch file .*function table out of range"
corrupt idstr 16 '\xff\xff\xff\x00'
check_refused "$T/idstr.graft" "malformed patch file .*patch id string offset .* out of range"
printf 'not a patch\n' >"$T/text.graft"
check_refused "$T/text.graft" "not an ELF file"
check_refused "$T/missing.graft" "No such file or directory"
mkdir "$T/dir.graft"
check_refused "$T/dir.graft" "Is a directory"
# a plain object without graft sections
check_refused "$T/patch.o" "section .graft.meta is missing \(not a graft patch\?\)"
# a hostile patch naming data as a function (old_offset -> the static 'counter')
funcs_off=$(od -An -t u4 -j $((0x$meta + 108)) -N 4 "$T/good.graft" | tr -d ' ')
data=$(nm "$T/victim" | awk '$3=="counter"{print $1}')
le=""
for ((k = 0; k < 8; k++)); do le+=$(printf '\\x%02x' $(((0x$data >> (8 * k)) & 255))); done
corrupt datafn "$funcs_off" "$le"
# signed again by the trusted key: a signature vouches for the sender, not the contents
run_graft 0 sign "$T/datafn.graft" --key "$GRAFT_SIGNING_KEY"
run_graft 2 apply "$T/datafn.graft" --pid "$pid"
expect_in "data as code" "$ERR" "function 'compute' at 0x[0-9a-f]+ is not inside the code of '.*/victim'; refusing to write there"
grep -q memfd:graft "/proc/$pid/maps" && fail "something was mapped"
expect_eq "untouched" "$(vask v 'compute 3')" 4
expect_eq "counter untouched" "$(vask v counter)" 100
exit 0
