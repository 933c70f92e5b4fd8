# Sourced by the in-guest test scripts (aarch64-guest-test.sh,
# systemd-guest-test.sh) after they set PREFIX: check lines on the console
# and the one kill scenario both guests attribute.

say() { printf '%s: %s\n' "$PREFIX" "$*"; }
ok() { say "ok $*"; }
fail() { say "FAIL $*"; }
# check DESCRIPTION CMD...: one ok/FAIL line
check() {
  d=$1
  shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}
audit_state() { auditctl -s 2>&1 | grep -E '^(enabled|pid) ' | tr '\n' ' '; echo; auditctl -l 2>&1; }

# kill_scenario: a `sleep` (pid in $victim) SIGKILLed by a short-lived sh
# whose launcher has exited. The launcher starts the killer, lives 0.3 s
# (its argv can be read from /proc even under emulation) and exits well
# before the kill.
kill_scenario() {
  sleep 300 &
  victim=$!
  sh -c 'sh -c "sleep 1; kill -9 \$1" killer "$1" & sleep 0.3; exit 0' launcher "$victim"
  wait "$victim"
  say "note victim $victim ended with status $?"
}

# j FILTER: jq -e FILTER on $report
j() { printf '%s\n' "$report" | jq -e "$1" >/dev/null 2>&1; }

# check_report: what every guest asserts of the report ($report) of
# kill_scenario's kill
check_report() {
  say "note report: $report"
  check "a report of the kill" test -n "$report"
  check "origin user, signal 9, syscall kill" j '.origin == "user" and .signal == 9 and .syscall == "kill"'
  check "sender: comm sh, the killer's argv" j '.sender.comm == "sh" and .sender.argv[0:3] == ["sh","-c","sleep 1; kill -9 $1"]'
  check "ancestry: the exited launcher, with its argv" j '[.ancestors[] | select(.argv[0:2] == ["sh","-c"] and .argv[3] == "launcher" and .exited == true)] | length == 1'
  check "witnesses: audit and tracefs" j '(.witnesses | index("audit")) and (.witnesses | index("tracefs"))'
  check "the victim's death by it confirmed" j '.victim.exit_confirmed == true'
}
