# shellcheck shell=bash
# Build the multi victim and its patches into $T: compute-a.graft,
# compute-b.graft, spin.graft, hold.graft, slow.graft.
multi_build() {
	gcc -O2 -g -pthread -o "$T/multi" "$HERE/multi/victim.c" || fail "compile multi victim"
	patch_cc "$T/a.o" "$HERE/multi/patch-a.c"
	patch_cc "$T/b.o" "$HERE/multi/patch-b.c"
	printf 'id compute-a\ntarget multi\nobject a.o\nreplace compute compute_a\n' >"$T/ma"
	printf 'id compute-b\ntarget multi\nobject b.o\nreplace compute compute_b\n' >"$T/mb"
	printf 'id spin\ntarget multi\nobject a.o\nreplace spin_forever spin_forever_a\n' >"$T/ms"
	printf 'id hold\ntarget multi\nobject a.o\nreplace hold_forever hold_forever_a\n' >"$T/mh"
	printf 'id slow\ntarget multi\nobject a.o\nreplace slow_fn slow_fn_a\n' >"$T/mw"
	run_graft 0 pack "$T/ma" -o "$T/compute-a.graft"
	run_graft 0 pack "$T/mb" -o "$T/compute-b.graft"
	run_graft 0 pack "$T/ms" -o "$T/spin.graft"
	run_graft 0 pack "$T/mh" -o "$T/hold.graft"
	run_graft 0 pack "$T/mw" -o "$T/slow.graft"
}
