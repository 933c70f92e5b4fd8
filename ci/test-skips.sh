#!/usr/bin/env bash
# Prints the skip-and-partial summary of a test run and fails when a test
# skipped (or ran only in part) for lack of something this run provides.
#
# Usage: ci/test-skips.sh LOG NEED...
#   LOG   the skip log the tests appended to ($SIGWATCH_SKIP_LOG; lines
#         `SKIP <test> [<need>]: <why>` and `PARTIAL <test> [<need>]: <what>`,
#         written by sigwatch-test-support's skip() and partial())
#   NEED  the needs this run provides: root, audit, audit-multicast,
#         audit-idle, tracefs, debugfs, proc-connector, tool:<name>, ...
# Exit 1 when a line's need is one of NEED, else 0.
set -euo pipefail
log=$1; shift
provided=" $* "
if [ ! -s "$log" ]; then
  echo "== skip summary: no test skipped or ran in part"
  exit 0
fi
n_skip=$(grep -c '^SKIP ' "$log" || true)
n_part=$(grep -c '^PARTIAL ' "$log" || true)
echo "== skip summary: $n_skip skipped, $n_part partial (from $log)"
sort "$log" | uniq -c | sed 's/^ *\([0-9]*\) /  (x\1) /'
bad=0
while IFS= read -r line; do
  need=$(sed -n 's/^[A-Z]* [^ ]* \[\([^]]*\)\].*/\1/p' <<<"$line")
  if [ -z "$need" ]; then
    echo "  malformed skip line: $line"; bad=1; continue
  fi
  case $provided in
    *" $need "*) echo "  NOT ALLOWED here (this run provides $need): $line"; bad=1 ;;
  esac
done < <(sort -u "$log")
[ $bad -eq 0 ] || echo "== tests skipped or ran in part although their precondition is provided"
exit $bad
