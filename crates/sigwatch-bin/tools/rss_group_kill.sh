#!/usr/bin/env bash
# Memory of a watching sigwatch over one group kill of N processes by a
# sender D bash levels deep, each level carrying a 4000-byte argument
# (what any local user can do to its own processes): prints the reports
# written, those dropped, and VmHWM before and after the kill.
#
# Usage (root): crates/sigwatch-bin/tools/rss_group_kill.sh [N] [D] [BINARY]
#   N       victims (default 1000), D levels (default 100)
#   BINARY  default target/release/sigwatch, else target/debug/sigwatch
# sigwatch runs with its default witnesses (audit and tracefs name the
# sender), holding the audit test lock; its JSON goes to a temporary file.
set -u
if [ "${1:-}" = "--level" ]; then
  # One level of the sender's chain: LEVELS-LEFT PGID LONG-ARGUMENT.
  if [ "$2" -gt 0 ]; then
    bash "$0" --level "$(( $2 - 1 ))" "$3" "$4"
  else
    sleep 0.5; kill -9 -- "-$3"
  fi
  exit 0
fi
n=${1:-1000}
depth=${2:-100}
bin=${3:-}
if [ -z "$bin" ]; then
  for b in target/release/sigwatch target/debug/sigwatch; do [ -x "$b" ] && { bin=$b; break; }; done
fi
[ -x "${bin:-}" ] || { echo "no sigwatch binary (cargo build -p sigwatch)" >&2; exit 2; }
out=$(mktemp); err=$(mktemp)
exec 9>/run/lock/sigwatch-audit-tests.lock
flock 9
"$bin" --json >"$out" 2>"$err" &
sw=$!
sleep 2
setsid bash -c "for i in \$(seq $n); do sleep 300 & done; wait" &
leader=$!
for _ in $(seq 300); do
  [ "$(pgrep -g "$leader" -c)" -ge $((n + 1)) ] && break
  sleep 0.2
done
sleep 2
before=$(awk '/VmHWM/ {print $2}' "/proc/$sw/status")
long=$(head -c 4000 /dev/zero | tr '\0' a)
bash "$0" --level "$depth" "$leader" "$long"
wait "$leader" 2>/dev/null
sleep 4
after=$(awk '/VmHWM/ {print $2}' "/proc/$sw/status")
kill -INT "$sw"; wait "$sw"
echo "$bin: $n victims, sender $depth levels deep:" \
  "$(grep -c '"type":"kill"' "$out") reports," \
  "$(grep -o '"reports_dropped":[0-9]*' "$out" | cut -d: -f2) dropped," \
  "$(wc -c <"$out") bytes; VmHWM ${before} kB before the kill, ${after} kB after"
rm -f "$out" "$err"
