#!/bin/bash
# Signed patches: keygen, sign, apply with trusted keys. Refused (exit 2,
# nothing touched): unsigned, signed by an untrusted key, one byte altered
# anywhere in a signed file (patch or signature), a truncated signature.
# --insecure-skip-signature applies an unsigned patch with a warning. The
# keys directory comes from --keys, else $GRAFT_KEYS_DIR.
. "$(dirname "$0")/lib.sh"

gcc -O2 -g -o "$T/victim" "$HERE/basic/victim.c" || fail "compile"
patch_cc "$T/patch.o" "$HERE/basic/patch.c"
printf 'id signed-1\ntarget victim\nobject patch.o\nreplace compute compute_v2\n' >"$T/m"
run_graft 0 pack "$T/m" -o "$T/unsigned.graft" --json
unset GRAFT_SIGNING_KEY
run_graft 0 pack "$T/m" -o "$T/unsigned.graft"
victim_start v "$T/victim"
pid=${VPID[v]}
untouched() {
	grep -q memfd:graft "/proc/$pid/maps" && fail "$1: something was mapped"
	expect_eq "$1: untouched" "$(vask v 'compute 3')" 4
}

# keys
run_graft 0 keygen -o "$T/vendor" --comment "vendor key" --json
kid=$(jq -r .key_id <<<"$OUT")
[ "$(stat -c %a "$T/vendor.key")" = 600 ] || fail "secret key is not mode 0600"
run_graft 1 keygen -o "$T/vendor"
expect_in "no overwrite" "$ERR" "exists already; not overwriting a key"
run_graft 0 keygen -o "$T/other"
mkdir "$T/trusted"
cp "$T/vendor.pub" "$T/trusted/"

# unsigned: refused, names the way out
run_graft 2 apply "$T/unsigned.graft" --pid "$pid" --keys "$T/trusted"
expect_in "unsigned" "$ERR" "is not signed; sign it with 'graft sign' or give --insecure-skip-signature"
untouched unsigned
run_graft 0 info "$T/unsigned.graft" --json
expect_eq "info: unsigned" "$(jq -r .signature.signed <<<"$OUT")" "false"

# signed by the vendor key: accepted; info names the key
run_graft 0 sign "$T/unsigned.graft" --key "$T/vendor.key" -o "$T/signed.graft"
expect_in "sign" "$OUT" "signed .*signed.graft with key $kid"
cmp -s "$T/unsigned.graft" <(head -c "$(stat -c %s "$T/unsigned.graft")" "$T/signed.graft") ||
	fail "signing changed the patch bytes"
[ $(($(stat -c %s "$T/signed.graft") - $(stat -c %s "$T/unsigned.graft"))) = 104 ] || fail "trailer is not 104 bytes"
readelf -S "$T/signed.graft" >/dev/null || fail "readelf cannot read a signed patch"
GRAFT_KEYS_DIR=$T/trusted run_graft 0 info "$T/signed.graft" --json
expect_eq "info: key" "$(jq -r .signature.key_id <<<"$OUT")" "$kid"
expect_eq "info: trusted" "$(jq -r .signature.trusted <<<"$OUT")" "true"
run_graft 0 apply "$T/signed.graft" --pid "$pid" --keys "$T/trusted"
expect_eq "patched" "$(vask v 'compute 3')" 60
run_graft 0 revert signed-1 --pid "$pid"

# $GRAFT_KEYS_DIR is the default; the option wins over it
GRAFT_KEYS_DIR=$T/trusted run_graft 0 apply "$T/signed.graft" --pid "$pid"
run_graft 0 revert signed-1 --pid "$pid"
GRAFT_KEYS_DIR=$T/trusted run_graft 2 apply "$T/signed.graft" --pid "$pid" --keys "$T/keys.d"
expect_in "option wins" "$ERR" "is signed by key $kid, which is not trusted: no key with that id in '$T/keys.d'"

# signed by a key that is not trusted here
run_graft 0 sign "$T/unsigned.graft" --key "$T/other.key" -o "$T/other.graft"
run_graft 2 apply "$T/other.graft" --pid "$pid" --keys "$T/trusted"
expect_in "untrusted key" "$ERR" "which is not trusted: no key with that id in '$T/trusted'"
untouched untrusted
# a public key cannot sign
run_graft 1 sign "$T/unsigned.graft" --key "$T/vendor.pub" -o "$T/x.graft"
expect_in "public key" "$ERR" "is a public key; signing needs the .key file"

# one altered byte anywhere: every 53rd byte and each byte of the trailer
size=$(stat -c %s "$T/signed.graft")
n=0
for ((off = 0; off < size; off += (off >= size - 104 ? 1 : 53))); do
	cp "$T/signed.graft" "$T/flip.graft"
	b=$(od -An -tu1 -j "$off" -N 1 "$T/flip.graft" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 0x20)))" | dd of="$T/flip.graft" bs=1 seek="$off" conv=notrunc status=none
	rc=0
	"$GRAFT" apply "$T/flip.graft" --pid "$pid" --keys "$T/trusted" >/dev/null 2>"$T/flip.err" || rc=$?
	[ "$rc" = 2 ] || fail "byte $off altered: apply exited $rc: $(cat "$T/flip.err")"
	grep -qE "does not verify|not signed|malformed signature|not trusted" "$T/flip.err" ||
		fail "byte $off altered: unexpected message $(cat "$T/flip.err")"
	n=$((n + 1))
done
[ "$n" -gt 100 ] || fail "only $n alterations tried"
untouched altered
# the trailer cut short, or cut off
head -c $((size - 1)) "$T/signed.graft" >"$T/short.graft"
run_graft 2 apply "$T/short.graft" --pid "$pid" --keys "$T/trusted"
head -c $((size - 104)) "$T/signed.graft" >"$T/cut.graft"
run_graft 2 apply "$T/cut.graft" --pid "$pid" --keys "$T/trusted"
expect_in "signature cut off" "$ERR" "is not signed"
untouched cut

# the escape hatch, loudly
run_graft 0 apply "$T/unsigned.graft" --pid "$pid" --keys "$T/trusted" --insecure-skip-signature
expect_in "warning" "$ERR" "without checking its signature"
expect_eq "patched unsigned" "$(vask v 'compute 3')" 60
run_graft 0 revert signed-1 --pid "$pid"

# re-signing replaces the signature
run_graft 0 sign "$T/other.graft" --key "$T/vendor.key"
[ "$(stat -c %s "$T/other.graft")" = "$size" ] || fail "re-signing grew the file"
run_graft 0 apply "$T/other.graft" --pid "$pid" --keys "$T/trusted"
exit 0
