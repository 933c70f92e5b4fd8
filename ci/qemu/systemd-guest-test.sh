#!/bin/sh
# Runs inside the systemd guest (ci/qemu/systemd-guest.sh) as the oneshot
# sigwatch-ci.service; prints SIGWATCH-SYSTEMD: lines to the console.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
PREFIX=SIGWATCH-SYSTEMD
. /usr/local/lib/sigwatch-ci/guest-checks.sh
say begin
say "note kernel $(uname -r) $(uname -m); $(systemctl --version | head -n1)"
before=$(audit_state)
say "note audit before: $(echo "$before" | tr '\n' ';')"

files="/usr/bin/sigwatch /usr/share/man/man8/sigwatch.8.gz /usr/share/bash-completion/completions/sigwatch
/usr/share/zsh/vendor-completions/_sigwatch /usr/share/fish/vendor_completions.d/sigwatch.fish
/lib/systemd/system/sigwatch.service /usr/share/doc/sigwatch/copyright"

# ---- install ----
check "dpkg -i installs the package" dpkg -i /root/sigwatch.deb
for f in $files; do check "installed $f" test -f "$f"; done
check "sigwatch --version runs (static binary)" sigwatch --version
en=$(systemctl is-enabled sigwatch.service 2>&1)
check "the unit is installed, not enabled ($en)" test "$en" = disabled
act=$(systemctl is-active sigwatch.service 2>&1)
check "the unit is not started by installing ($act)" test "$act" = inactive
check "man sigwatch renders sigwatch(8)" sh -c 'man -P cat sigwatch 2>/dev/null | grep -q "EXIT STATUS"'
score=$(systemd-analyze security sigwatch.service 2>/dev/null | sed -n 's/.*Overall exposure level for sigwatch.service: //p')
say "note systemd-analyze security sigwatch.service: $score"

# ---- run as a service ----
check "systemctl start sigwatch (Type=notify: READY=1)" systemctl start sigwatch.service
sleep 1
kill_scenario
report=
i=0
while [ $i -lt 30 ]; do
  # the unit writes native journal entries: the contract's JSON line is
  # the SIGWATCH_REPORT field
  report=$(journalctl -u sigwatch.service -o json --no-pager 2>/dev/null \
    | jq -c --argjson v "$victim" 'select(.SIGWATCH_REPORT != null) | .SIGWATCH_REPORT | fromjson
        | select(.type == "kill" and .victim.pid == $v)' 2>/dev/null | head -n1)
  [ -n "$report" ] && break
  sleep 1; i=$((i + 1))
done
check_report
journalctl -u sigwatch.service -o cat --no-pager | sed 's/^/  journal: /' | tail -n 20
# A SIGKILLed sigwatch cannot clean up; systemd restarts it (Restart=
# on-failure) and the new one adopts its audit ledger in /run/sigwatch.
check "the audit ledger is written under the unit's sandbox" sh -c 'ls /run/sigwatch/*.ledger >/dev/null 2>&1'
old_pid=$(systemctl show -p MainPID --value sigwatch.service)
systemctl kill --signal=SIGKILL sigwatch.service
i=0
while [ $i -lt 30 ]; do
  new_pid=$(systemctl show -p MainPID --value sigwatch.service)
  [ "$(systemctl is-active sigwatch.service)" = active ] && [ "$new_pid" != "$old_pid" ] && [ "$new_pid" != 0 ] && break
  sleep 1; i=$((i + 1))
done
check "restarted after a SIGKILL (pid $old_pid -> $new_pid)" sh -c '[ "$(systemctl is-active sigwatch.service)" = active ] && [ "$1" != "$2" ]' x "$old_pid" "$new_pid"
check "systemctl stop sigwatch" systemctl stop sigwatch.service
res=$(systemctl show -p Result --value sigwatch.service)
check "the service stopped cleanly (Result=$res)" test "$res" = success
after=$(audit_state)
say "note audit after: $(echo "$after" | tr '\n' ';')"
check "audit is left as found" test "$before" = "$after"
check "no trace instance left" sh -c '! ls -d /sys/kernel/tracing/instances/sigwatch-* 2>/dev/null'

# ---- remove ----
check "dpkg -r removes the package" dpkg -r sigwatch
for f in $files; do check "removed $f" test ! -e "$f"; done
check "man sigwatch finds nothing" sh -c '! man -w sigwatch >/dev/null 2>&1'
check "the unit is gone" sh -c '! systemctl cat sigwatch.service >/dev/null 2>&1'
say done
