#!/bin/sh
# Runs inside the aarch64 guest (ci/qemu/aarch64-guest.sh) as busybox
# init's sysinit action; prints SIGWATCH-ARM64: lines to the console.
/usr/bin/busybox --install -s 2>/dev/null
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { printf "SIGWATCH-ARM64: %s\n" "$*"; }
ok() { say "ok $*"; }
fail() { say "FAIL $*"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mkdir -p /run/lock
say begin
say "kernel $(uname -r) $(uname -m)"
audit_state() { auditctl -s 2>&1 | grep -E '^(enabled|pid) ' | tr '\n' ' '; echo; auditctl -l 2>&1; }
before=$(audit_state)
say "audit before: $(echo "$before" | tr '\n' ';')"
check "the static aarch64 binary runs" sigwatch --version
sigwatch status | sed 's/^/  status: /'

# ---- the rules: as shipped, loadable and removable by auditctl ----
sigwatch rules >/tmp/rules
check "sigwatch rules on aarch64 equals the tarball's audit/sigwatch.rules" cmp -s /tmp/rules /root/dist/audit/sigwatch.rules
check "auditctl -R loads the rules" sh -c 'auditctl -R /tmp/rules >/tmp/auditctl.out 2>&1'
sed 's/^/  auditctl: /' /tmp/auditctl.out
want=$(grep -c '^-a ' /tmp/rules)
n=$(auditctl -l | grep -c 'key=sigwatch$')
check "auditctl -l lists the $want loaded rules ($n)" test "$n" = "$want"
auditctl -l | sed 's/^/  loaded: /'
check "auditctl -D -k sigwatch removes them" sh -c 'auditctl -D -k sigwatch >/dev/null'
check "audit rules as found after the auditctl round trip" test "$(auditctl -l 2>&1)" = "$(echo "$before" | sed 1d)"

# ---- attribution: a short-lived sh whose launcher exited kills a sleep ----
sigwatch --json --count 1 >/tmp/out 2>/tmp/err &
sw=$!
i=0
while ! grep -q 'sigwatch: watching' /tmp/err && [ $i -lt 600 ]; do
  kill -0 $sw 2>/dev/null || break; sleep 0.1; i=$((i + 1))
done
sed 's/^/  stderr: /' /tmp/err
check "sigwatch is watching" grep -q 'sigwatch: watching' /tmp/err
# its own rules, installed through netlink with the aarch64 syscall numbers
auditctl -l | sed 's/^/  sigwatch rule: /'
names=$(auditctl -l | grep 'key=sigwatch:' | sed -n 's/.* -S \([^ ]*\) .*/\1/p' | tr ',' '\n' | sort -u | tr '\n' ' ')
check "sigwatch's rules cover the six kill syscalls by their aarch64 names ($names)" \
  test "$names" = "kill pidfd_send_signal rt_sigqueueinfo rt_tgsigqueueinfo tgkill tkill "
sleep 300 &
victim=$!
# The launcher starts the killer, lives 0.3 s (its argv can be read from
# /proc even under emulation) and exits a good while before the kill.
sh -c 'sh -c "sleep 1; kill -9 \$1" killer "$1" & sleep 0.3; exit 0' launcher "$victim"
wait "$victim"
say "victim $victim ended with status $?"
i=0
while kill -0 $sw 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $sw 2>/dev/null && { fail "sigwatch did not exit after one report"; kill -TERM $sw; sleep 2; }
wait $sw
check "sigwatch exited 0 after --count 1 ($?)" test $? = 0
report=$(jq -c --argjson v "$victim" 'select(.type == "kill" and .victim.pid == $v)' /tmp/out | head -n1)
say "report: $report"
check "a report of the kill" test -n "$report"
j() { printf "%s\n" "$report" | jq -e "$1" >/dev/null 2>&1; }
check "origin user, signal 9, syscall kill" j '.origin == "user" and .signal == 9 and .syscall == "kill"'
check "sender: comm sh, argv of the killer" j '.sender.comm == "sh" and .sender.argv[0:3] == ["sh","-c","sleep 1; kill -9 $1"]'
check "ancestry: the exited launcher, with its argv" j '[.ancestors[] | select(.argv[0:2] == ["sh","-c"] and .argv[3] == "launcher" and .exited == true)] | length == 1'
check "witnesses audit and tracefs" j '(.witnesses | index("audit")) and (.witnesses | index("tracefs"))'
check "victim exit confirmed" j '.victim.exit_confirmed == true'
after=$(audit_state)
say "audit after: $(echo "$after" | tr '\n' ';')"
check "audit is left as found" test "$before" = "$after"
check "no trace instance left" sh -c '! ls -d /sys/kernel/tracing/instances/sigwatch-* 2>/dev/null'
say done
poweroff -f
