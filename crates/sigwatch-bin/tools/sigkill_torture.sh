#!/usr/bin/env bash
# Reliability figures for the host-state ledger: SIGKILLs sigwatch at a
# random moment — during start-up, while running, or during its clean-up
# after SIGTERM — then runs one sigwatch normally (start, SIGTERM) and
# checks that the host is exactly as it was before (audit off at the
# start, so that sigwatch switches it on each time): audit `enabled`, the
# audit pid, the rule list, the trace instances, the tracefs mount and the
# ledger directory.
#
# Usage (root): crates/sigwatch-bin/tools/sigkill_torture.sh [N] [BINARY]
#   N       rounds per phase (default 20)
#   BINARY  the sigwatch binary (default target/release/sigwatch, else
#           target/debug/sigwatch)
# Takes the audit test lock itself (do not wrap it in flock).
set -u
n=${1:-20}
bin=${2:-}
if [ -z "$bin" ]; then
  for b in target/release/sigwatch target/debug/sigwatch; do [ -x "$b" ] && { bin=$b; break; }; done
fi
[ -x "${bin:-}" ] || { echo "no sigwatch binary (cargo build -p sigwatch)" >&2; exit 2; }
command -v auditctl >/dev/null || { echo "needs auditctl (apt-get install auditd)" >&2; exit 2; }
exec 9>/run/lock/sigwatch-audit-tests.lock
flock 9

state() {
  auditctl -s | grep -E '^(enabled|pid) ' | tr '\n' ' '
  echo
  auditctl -l
  ls /sys/kernel/tracing/instances 2>/dev/null | sort
  grep -E ' (tracefs|debugfs) ' /proc/mounts | cut -d' ' -f2,3 | sort
  ls /run/sigwatch 2>/dev/null | sort
}

# One normal run: start, wait until it is up, SIGTERM, wait.
normal_run() {
  "$bin" --json >/dev/null 2>&1 &
  local p=$!
  sleep 1.5
  kill -TERM $p 2>/dev/null
  wait $p 2>/dev/null
}

# A random duration below $1 ms, as seconds for sleep(1).
rand_ms() { local x=$((RANDOM % $1)); printf '%d.%03d' $((x / 1000)) $((x % 1000)); }

# The scenario of the ledger: audit off, so that sigwatch switches it on
# (put back as found at the end).
orig_enabled=$(auditctl -s | awk '$1 == "enabled" {print $2}')
trap 'auditctl -e "$orig_enabled" >/dev/null' EXIT
auditctl -e 0 >/dev/null
before=$(state)
declare -A ok bad
for phase in startup running cleanup; do
  ok[$phase]=0; bad[$phase]=0
  for ((i = 0; i < n; i++)); do
    "$bin" --json >/dev/null 2>&1 &
    p=$!
    case $phase in
      startup) sleep "$(rand_ms 300)" ;;
      running) sleep 1.2; sleep "$(rand_ms 2000)" ;;
      cleanup) sleep 1.2; kill -TERM $p 2>/dev/null; sleep "$(rand_ms 40)" ;;
    esac
    kill -KILL $p 2>/dev/null
    wait $p 2>/dev/null
    normal_run
    after=$(state)
    if [ "$after" = "$before" ]; then
      ok[$phase]=$((ok[$phase] + 1))
    else
      bad[$phase]=$((bad[$phase] + 1))
      echo "round $i ($phase): host differs after the next run:" >&2
      diff <(echo "$before") <(echo "$after") >&2
    fi
  done
  echo "$phase: $n SIGKILLs, host identical after the next run in ${ok[$phase]}, different in ${bad[$phase]}"
done
