#!/usr/bin/env bash
# Memory of a watching sigwatch under a storm of short processes with
# long command lines (what any local user can start): prints VmRSS and
# VmHWM before and after N processes each exec'ing /bin/true with a
# 4000-byte argument (ARG_BYTES=N for another length, e.g. 10 for a storm
# of ordinary short processes, where the count of entries matters most).
#
# Usage (root): crates/sigwatch-bin/tools/rss_long_argv.sh [N] [BINARY] [EXTRA ARGS...]
#   N       processes (default 70000: more than --max-exited's 65 536)
#   BINARY  default target/release/sigwatch, else target/debug/sigwatch
# Process events only (--source proc): no audit or tracefs state is touched.
set -u
n=${1:-70000}
bin=${2:-}
shift $(( $# < 2 ? $# : 2 ))
if [ -z "$bin" ]; then
  for b in target/release/sigwatch target/debug/sigwatch; do [ -x "$b" ] && { bin=$b; break; }; done
fi
[ -x "${bin:-}" ] || { echo "no sigwatch binary (cargo build -p sigwatch)" >&2; exit 2; }
long=$(head -c "${ARG_BYTES:-4000}" /dev/zero | tr "\0" x)
"$bin" --source proc --json "$@" >/dev/null 2>&1 &
sw=$!
sleep 1
mem() { awk '/^(VmRSS|VmHWM):/ {printf "%s %s kB  ", $1, $2}' "/proc/$sw/status"; echo; }
echo "before: $(mem)"
t0=$(date +%s)
for ((i = 0; i < n; i++)); do /bin/true "$long"; done
t1=$(date +%s)
sleep 2
echo "after $n processes with a ${ARG_BYTES:-4000}-byte argv ($((t1 - t0)) s): $(mem)"
kill -TERM $sw
wait $sw 2>/dev/null
