#!/bin/sh
# Runs inside the aarch64 guest (ci/qemu/aarch64-guest.sh) as busybox
# init's sysinit action; prints SIGWATCH-ARM64: lines to the console.
/usr/bin/busybox --install -s 2>/dev/null
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
PREFIX=SIGWATCH-ARM64
. /etc/sigwatch-checks.sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mkdir -p /run/lock
say begin
say "note kernel $(uname -r) $(uname -m)"
before=$(audit_state)
say "note audit before: $(echo "$before" | tr '\n' ';')"
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
kill_scenario
i=0
while kill -0 $sw 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $sw 2>/dev/null && { fail "sigwatch did not exit after one report"; kill -TERM $sw; sleep 2; }
wait $sw
rc=$?
check "sigwatch exited 0 after --count 1 ($rc)" test $rc = 0
report=$(jq -c --argjson v "$victim" 'select(.type == "kill" and .victim.pid == $v)' /tmp/out | head -n1)
check_report
after=$(audit_state)
say "note audit after: $(echo "$after" | tr '\n' ';')"
check "audit is left as found" test "$before" = "$after"
check "no trace instance left" sh -c '! ls -d /sys/kernel/tracing/instances/sigwatch-* 2>/dev/null'
say done
poweroff -f
