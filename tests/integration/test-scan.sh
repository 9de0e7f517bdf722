#!/bin/bash
# graft scan over a mixed set of victims: patched, unpatched, one in another
# mount namespace (its executable exists only there), one mapping a library
# deleted on disk, one whose library was replaced by an upgrade, one traced
# by strace, seccomp-filtered ones (a filter that would kill on graft's
# memfd_create, systemd's W^X policy (no obstacle: graft patches it), one refusing any
# new executable mapping, a harmless one),
# a zombie, an apply whose graft was killed half way, and a patch needing a
# symbol no object exports. Scan changes nothing; apply refuses what scan
# calls not patchable, and the filtered victims live on.
. "$(dirname "$0")/lib.sh"

chmod 755 "$T"
gcc -O2 -g -fPIC -shared -o "$T/libhost.so" "$HERE/host/lib.c" || fail "compile lib"
gcc -O2 -g -pthread -o "$T/victim" "$HERE/host/victim.c" -L"$T" -lhost -Wl,-rpath,"$T" ||
	fail "compile victim"
for d in del rep same; do
	mkdir -p "$T/$d" && cp "$T/libhost.so" "$T/$d/"
	gcc -O2 -g -pthread -o "$T/victim-$d" "$HERE/host/victim.c" -L"$T" -lhost -Wl,-rpath,"$T/$d" ||
		fail "compile victim-$d"
done
gcc -O2 -g -o "$T/secv" "$HERE/host/seccomp-victim.c" || fail "compile seccomp victim"
patch_cc "$T/fix-exe.o" "$HERE/host/fix-exe.c"
patch_cc "$T/fix-lib.o" "$HERE/host/fix-lib.c"
printf 'id fix-exe\ntarget victim\nobject fix-exe.o\nreplace answer answer_v2\n' >"$T/me"
printf 'id fix-lib\ntarget libhost.so\nobject fix-lib.o\nreplace lib_answer lib_answer_v2\n' >"$T/ml"
printf 'id fix-secv\ntarget secv\nobject fix-exe.o\nreplace answer answer_v2\n' >"$T/ms"
patch_cc "$T/fix-nosym.o" "$HERE/host/fix-nosym.c"
printf 'id fix-nosym\ntarget victim\nobject fix-nosym.o\nreplace answer answer_v3\nextern graft_test_no_such_symbol\n' >"$T/mn"
mkdir -p "$T/patches"
run_graft 0 pack "$T/me" -o "$T/patches/fix-exe.graft"
run_graft 0 pack "$T/ml" -o "$T/patches/fix-lib.graft"
run_graft 0 pack "$T/ms" -o "$T/patches/fix-secv.graft"
run_graft 0 pack "$T/mn" -o "$T/patches/fix-nosym.graft"
mkdir -m 777 "$T/out"

bg() { # bg NAME CMD...: a victim without pipes
	local name=$1
	shift
	"$@" &
	VPID[$name]=$!
}
bg patched "$T/victim" "$T/out"
bg plain "$T/victim" "$T/out"
bg traced "$T/victim" "$T/out"
bg del "$T/victim-del" "$T/out"
bg rep "$T/victim-rep" "$T/out"
bg same "$T/victim-same" "$T/out"
# another mount namespace: the executable is on a tmpfs only it sees
mkdir -p "$T/ns"
unshare -m --propagation private bash -c "mount -t tmpfs graft-test '$T/ns' &&
	cp '$T/victim' '$T/ns/victim' && exec '$T/ns/victim' '$T/out'" &
VPID[ns]=$!
# a zombie: its parent never reaps it
bash -c 'sleep 0 & exec sleep 300' &
VPID[zparent]=$!
victim_start skill "$T/secv" kill
victim_start swx "$T/secv" wx
victim_start snox "$T/secv" noexec
victim_start sok "$T/secv" allow
for _ in $(seq 100); do
	[ "$(find "$T/out" -maxdepth 1 -name '[0-9]*' ! -name '*.tmp' | wc -l)" -ge 7 ] && break
	sleep 0.05
done
zombie=$(ps -o pid=,stat= --ppid "${VPID[zparent]}" | awk '$2 ~ /^Z/ {print $1}')
[ -n "$zombie" ] || fail "no zombie made"
[ -e "$T/ns/victim" ] && fail "the namespace's tmpfs is visible outside it"
nsexe=$(readlink "/proc/${VPID[ns]}/exe")
expect_eq "namespaced exe path" "$nsexe" "$T/ns/victim"

rm "$T/del/libhost.so"
gcc -O2 -g -fPIC -shared -DUPGRADED -o "$T/rep/libhost.so.new" "$HERE/host/lib.c" -Wl,--build-id=sha1 \
	-Wl,-soname,libhost-upgraded || fail "compile upgrade"
mv "$T/rep/libhost.so.new" "$T/rep/libhost.so"
# a reinstall of the very same build: another file, the same code
cp "$T/libhost.so" "$T/same/libhost.so.new" && mv "$T/same/libhost.so.new" "$T/same/libhost.so"
strace -p "${VPID[traced]}" -o /dev/null &
st=$!
for _ in $(seq 50); do
	[ "$(awk '/^TracerPid:/{print $2}' "/proc/${VPID[traced]}/status")" != 0 ] && break
	sleep 0.1
done
run_graft 0 apply "$T/patches/fix-exe.graft" --pid "${VPID[patched]}"
# an apply whose graft died inside the stop: its region is left prepared
bg half "$T/victim" "$T/out"
sleep 0.3
rc=$(
	GRAFT_TEST_DIE_AT=apply-stopped "$GRAFT" apply "$T/patches/fix-exe.graft" \
		--pid "${VPID[half]}" >/dev/null 2>&1
	echo $?
) 2>/dev/null
expect_eq "graft killed" "$rc" 137

state() { # state PID PATCH: its state in $JSON
	jq -r --argjson p "$1" --arg id "$2" \
		'.processes[] | select(.pid == $p) | .patches[] | select(.id == $id) | .state' <<<"$JSON"
}
reason() {
	jq -r --argjson p "$1" --arg id "$2" \
		'.processes[] | select(.pid == $p) | .patches[] | select(.id == $id) | .reason' <<<"$JSON"
}

run_graft 0 scan --dir "$T/patches" --json
JSON=$OUT
expect_eq "patched" "$(state "${VPID[patched]}" fix-exe)" "applied"
expect_eq "plain" "$(state "${VPID[plain]}" fix-exe)" "not applied"
expect_eq "half done" "$(state "${VPID[half]}" fix-exe)" "interrupted"
expect_in "half done reason" "$(reason "${VPID[half]}" fix-exe)" "died half way; 'graft recover' completes or removes it"
expect_eq "plain lib" "$(state "${VPID[plain]}" fix-lib)" "not applied"
expect_eq "other mount namespace, by build-id" "$(state "${VPID[ns]}" fix-exe)" "not applied"
expect_eq "traced" "$(state "${VPID[traced]}" fix-exe)" "not patchable"
expect_in "traced reason" "$(reason "${VPID[traced]}" fix-exe)" "already traced by pid $st \(strace\)"
expect_eq "deleted lib still patchable" "$(state "${VPID[del]}" fix-lib)" "not applied"
expect_eq "replaced lib: the old one runs" "$(state "${VPID[rep]}" fix-lib)" "not applied"
expect_eq "seccomp kill" "$(state "${VPID[skill]}" fix-secv)" "not patchable"
expect_in "seccomp kill reason" "$(reason "${VPID[skill]}" fix-secv)" "seccomp filter answers graft's memfd_create with KILL_PROCESS"
expect_eq "W^X (MemoryDenyWriteExecute=) is no obstacle" "$(state "${VPID[swx]}" fix-secv)" "not applied"
expect_eq "no new executable memory" "$(state "${VPID[snox]}" fix-secv)" "not patchable"
expect_in "no exec reason" "$(reason "${VPID[snox]}" fix-secv)" "mmap\(PROT_READ\|PROT_EXEC\) with ERRNO \(a policy against new executable memory"
expect_eq "harmless filter" "$(state "${VPID[sok]}" fix-secv)" "not applied"
expect_eq "no symbol" "$(state "${VPID[plain]}" fix-nosym)" "not patchable"
expect_in "no symbol reason" "$(reason "${VPID[plain]}" fix-nosym)" "undefined symbol 'graft_test_no_such_symbol': not bound to the target and not exported by any object"
stale() {
	jq -r --argjson p "$1" '.processes[] | select(.pid == $p) | .stale[] | "\(.path) \(.on_disk)"' <<<"$JSON"
}
expect_eq "deleted" "$(stale "${VPID[del]}")" "$T/del/libhost.so deleted"
expect_eq "replaced" "$(stale "${VPID[rep]}")" "$T/rep/libhost.so replaced"
expect_eq "not stale" "$(stale "${VPID[plain]}")" ""
expect_eq "same build reinstalled: not stale" "$(stale "${VPID[same]}")" ""
expect_eq "zombie" "$(jq -r --argjson p "$zombie" '.uninspectable[] | select(.pid == $p) | .reason' <<<"$JSON")" \
	"a zombie: it runs no code"
expect_eq "summary fix-exe" "$(jq -c '.summary.patches["fix-exe"]' <<<"$JSON")" \
	'{"applied":1,"not_applied":2,"not_patchable":1,"interrupted":1}'
expect_eq "summary fix-secv" "$(jq -c '.summary.patches["fix-secv"]' <<<"$JSON")" \
	'{"applied":0,"not_applied":2,"not_patchable":2,"interrupted":0}'
[ "$(jq .summary.stale <<<"$JSON")" -ge 2 ] || fail "stale count"

# the text form says the same
run_graft 0 scan "$T/patches/fix-exe.graft" "$T/patches/fix-lib.graft"
expect_in "text traced" "$OUT" "^${VPID[traced]} +root +victim +fix-exe +not patchable: .*already traced"
expect_in "text stale" "$OUT" "^${VPID[del]} +root +victim-del +$T/del/libhost.so \(deleted\)"
expect_in "text summary" "$OUT" "^fix-exe: 1 applied, 2 not applied, 1 not patchable, 1 interrupted$"
# filters: --pid, and --exe (the namespaced copy is another file)
run_graft 0 scan "$T/patches/fix-exe.graft" --pid "${VPID[plain]}" --json
expect_eq "one pid" "$(jq '.summary.scanned' <<<"$OUT")" 1
run_graft 0 scan "$T/patches/fix-exe.graft" --exe "$T/victim" --json
expect_eq "by exe" "$(jq -c '[.processes[].pid] | sort' <<<"$OUT")" \
	"$(printf '%s\n' "${VPID[patched]}" "${VPID[plain]}" "${VPID[traced]}" "${VPID[half]}" | sort -n | jq -sc .)"
# --no-check does not look behind 'not applied'
run_graft 0 scan "$T/patches/fix-exe.graft" --no-check --json
JSON=$OUT
expect_eq "no check" "$(state "${VPID[traced]}" fix-exe)" "not applied"

# scan changed nothing; everyone still runs
for n in plain traced del rep ns skill swx snox sok; do
	kill -0 "${VPID[$n]}" || fail "victim $n died"
	grep -q memfd:graft "/proc/${VPID[$n]}/maps" && fail "scan left a region in $n"
done
for n in plain traced ns; do
	expect_eq "$n not stopped" "$(awk '/^State:/{print $2}' "/proc/${VPID[$n]}/status")" S
done

# apply agrees: refused where scan said not patchable, and nobody killed
run_graft 2 apply "$T/patches/fix-secv.graft" --pid "${VPID[skill]}"
expect_in "apply kill filter" "$ERR" "KILL_PROCESS: the process would die"
expect_eq "filtered victim lives" "$(vask skill x)" 1
run_graft 2 apply "$T/patches/fix-secv.graft" --pid "${VPID[snox]}"
expect_in "apply no-exec filter" "$ERR" "mmap\(PROT_READ\|PROT_EXEC\) with ERRNO"
expect_eq "no-exec victim lives" "$(vask snox x)" 1
# W^X holds and the patch goes in: code mapped r-x from a sealed file, never writable
run_graft 0 apply "$T/patches/fix-secv.graft" --pid "${VPID[swx]}"
expect_eq "W^X victim patched" "$(vask swx x)" 2
grep memfd:graft "/proc/${VPID[swx]}/maps" | awk '{print $2}' | grep -q 'w.x' &&
	fail "a writable and executable graft mapping"
run_graft 0 apply "$T/patches/fix-secv.graft" --pid "${VPID[sok]}"
expect_eq "harmless filter patched" "$(vask sok x)" 2
# --all patches the namespaced one and the deleted library in place
# the traced one is an error (exit 1), as for one --pid
run_graft 1 apply "$T/patches/fix-exe.graft" "$T/patches/fix-lib.graft" --all
expect_in "ns applied" "$OUT" "pid ${VPID[ns]} \(victim\): APPLIED 'fix-exe', 'fix-lib'"
expect_in "deleted lib applied" "$OUT" "pid ${VPID[del]} \(victim-del\): APPLIED 'fix-lib'"
expect_in "half done recovered first" "$OUT" "pid ${VPID[half]} \(victim\): RECOVERED rolled back an interrupted apply of 'fix-exe'"
expect_in "then applied" "$OUT" "pid ${VPID[half]} \(victim\): APPLIED 'fix-exe', 'fix-lib'"
expect_in "traced skipped" "$OUT" "pid ${VPID[traced]} \(victim\): SKIPPED .*already traced by pid $st"
kill $st
exit 0
