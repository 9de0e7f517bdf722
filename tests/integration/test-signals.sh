#!/bin/bash
# Real-time signals sent continuously during apply and revert: every one
# arrives. The main thread sits in read(), so remote syscalls run on a thread
# interrupted in a blocking call: its read must be restarted, not fail.
# Regressions this caught: a handler run between two remote-syscall tries
# clobbered the memfd name on the stack; a signal frame saving a resume
# address equal to a replacement's entry let revert unmap code a thread was
# about to return to (SIGSEGV about once in 300 rounds).
. "$(dirname "$0")/lib.sh"
. "$HERE/multi/build.sh"
multi_build
victim_start v "$T/multi"
pid=${VPID[v]}
expect_eq "stress" "$(vask v 'stress 2')" ok
(
	n=0
	while [ ! -e "$T/stop" ]; do
		kill -s RTMIN "$pid" || break
		n=$((n + 1))
	done
	echo $n >"$T/sent"
) &
sender=$!
for ((i = 0; i < 300; i++)); do
	"$GRAFT" apply "$T/compute-a.graft" --pid "$pid" >/dev/null 2>"$T/e" || fail "apply #$i: $(cat "$T/e")"
	"$GRAFT" revert compute-a --pid "$pid" >/dev/null 2>"$T/e" || fail "revert #$i: $(cat "$T/e")"
done
touch "$T/stop"
wait $sender
sent=$(cat "$T/sent")
got=0
for _ in $(seq 50); do
	got=$(vask v sigs)
	[ "$got" = "$sent" ] && break
	sleep 0.1
done
echo "sent $sent real-time signals, received $got"
[ "$sent" -gt 100 ] || fail "too few signals sent ($sent)"
expect_eq "signals received" "$got" "$sent"
read -r _ bad <<<"$(vask v stop)"
expect_eq "bad results" "$bad" 0
expect_running v
exit 0
