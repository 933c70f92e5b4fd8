#!/bin/sh
# Runs inside the qemu guest, started by busybox init (pid 1) as the
# `sysinit` action of /etc/inittab. busybox init waits for this script with
# wait(), which also reaps every orphan re-parented to pid 1: the tests spawn
# and kill children, and zombies must not linger (a plain `sh` as pid 1 would
# only reap its own children).
#
# Protocol on the console (parsed by ci/qemu/run-in-guest.sh on the host):
#   SIGWATCH-QEMU: kernel <uname -r>
#   SIGWATCH-QEMU: begin <name>
#   ... test output ...
#   SIGWATCH-QEMU: result <name> rc=<exit status>
#   SIGWATCH-QEMU: done
# A missing `done` line means the guest did not finish.
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export HOME=/root TMPDIR=/tmp RUST_BACKTRACE=1 TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# The initramfs root is already a writable tmpfs: /tmp and /run are plain
# directories (no mount over them: test files may live below /tmp).
mkdir -p /tmp /run/lock /var/tmp /root
chmod 1777 /tmp /var/tmp
ln -sf /proc/self/fd /dev/fd 2>/dev/null
# tracefs at its usual place (tests that need it mount it themselves if absent;
# doing it here mirrors a normal host).
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# cgroups laid out like the CI host (hybrid: v1 controllers, v2 at
# unified), so tests take the same paths here as there.
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for c in memory pids cpu cpuacct cpuset devices freezer blkio; do
  mkdir -p /sys/fs/cgroup/$c
  mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c 2>/dev/null || rmdir /sys/fs/cgroup/$c
done
mkdir -p /sys/fs/cgroup/unified
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
hostname sigwatch-guest
ip link set lo up 2>/dev/null

# Skipped and partly run tests append a line here (sigwatch-test-support);
# listed on the console at the end for the host's skip summary.
export SIGWATCH_SKIP_LOG=/tmp/sigwatch-skips.log

# Binaries copied in by SIGWATCH_QEMU_BINS (the e2e helpers honour SIGWATCH_BIN).
[ -x /usr/local/bin/sigwatch ] && export SIGWATCH_BIN=/usr/local/bin/sigwatch

echo "SIGWATCH-QEMU: kernel $(uname -r)"
echo "SIGWATCH-QEMU: cmdline $(cat /proc/cmdline)"
# Smoke facts: the proc connector and audit exist in this kernel.
if grep -q cn_proc /proc/net/connector 2>/dev/null; then
  echo "SIGWATCH-QEMU: fact proc_connector=yes"
else
  echo "SIGWATCH-QEMU: fact proc_connector=no"
fi
[ -d /sys/kernel/tracing/events/signal ] && t=yes || t=no
echo "SIGWATCH-QEMU: fact tracefs_signal=$t"

# Audit is global state: the tests must leave it as they found it (same check
# as .ci/run on the host).
audit_state() {
  command -v auditctl >/dev/null || { echo "no-auditctl"; return; }
  # Booted with audit=0 (or no CONFIG_AUDIT): no NETLINK_AUDIT, nothing to change.
  auditctl -s >/dev/null 2>&1 || { echo "absent (auditctl -s: $(auditctl -s 2>&1 | head -n1))"; return; }
  echo "$(auditctl -s 2>&1 | grep -E '^(enabled|pid) ' | tr '\n' ' ')rules: $(auditctl -l 2>&1 | tr '\n' ';')"
}
echo "SIGWATCH-QEMU: audit-before $(audit_state)"

# Every user-space process: pid, ppid, state, wait channel, argv.
snapshot() {
  echo "SIGWATCH-QEMU: processes:"
  for d in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null | cut -c1-160)
    [ -n "$cmd" ] || continue  # kernel threads (and /proc sizes are 0: no -s)
    pid=${d#/proc/}
    ppid=$(awk '/^PPid:/ {print $2}' "$d/status" 2>/dev/null)
    st=$(awk '/^State:/ {print $2}' "$d/status" 2>/dev/null)
    printf '  %6s %6s %s %-24s %s\n' "$pid" "$ppid" "$st" "$(cat "$d/wchan" 2>/dev/null)" "$cmd"
    for t in "$d"/task/*; do
      tid=${t##*/}
      [ "$tid" = "$pid" ] || printf '         thread %s %s\n' "$tid" "$(cat "$t/wchan" 2>/dev/null)"
    done
  done
}

# test_timeout, test_args (written by run-in-guest.sh)
test_timeout=300 test_args=
# shellcheck source=/dev/null
. /etc/sigwatch-qemu.conf

# /etc/sigwatch-tests: one line per test binary: name|manifest_dir|executable
while IFS='|' read -r name dir exe; do
  [ -n "$name" ] || continue
  echo "SIGWATCH-QEMU: begin $name"
  # Watchdog: shortly before the timeout, show what every process waits in
  # (a hung test is otherwise a silent 124).
  (
    sleep $((test_timeout - 3)) &
    s=$!
    trap 'kill $s 2>/dev/null; exit 0' TERM
    wait $s && snapshot
  ) &
  watchdog=$!
  (
    cd "$dir" || exit 120
    # env!("CARGO_MANIFEST_DIR") is baked in at compile time and the host's
    # paths are replicated in the guest; the runtime variable is set too for
    # tests that read it with std::env::var.
    # --show-output: a test that skips (no root, missing tool or kernel
    # feature) says why on stderr; the host lists those lines.
    # timeout: a hung test binary must not eat the whole job; SIGTERM,
    # then SIGKILL 10 s later (exit status 124 or 137).
    # shellcheck disable=SC2086
    CARGO_MANIFEST_DIR="$dir" exec timeout -k 10 "$test_timeout" \
      "$exe" --test-threads=1 --show-output $test_args
  ) </dev/null 2>&1
  rc=$?
  kill $watchdog 2>/dev/null
  [ $rc = 124 ] || [ $rc = 137 ] && echo "SIGWATCH-QEMU: timeout $name after ${test_timeout}s"
  echo "SIGWATCH-QEMU: result $name rc=$rc"
done </etc/sigwatch-tests

echo "SIGWATCH-QEMU: audit-after $(audit_state)"
[ -s "$SIGWATCH_SKIP_LOG" ] && sed 's/^/SIGWATCH-QEMU: skip-log /' "$SIGWATCH_SKIP_LOG"
# Leftovers tell of processes a test failed to clean up.
left=$(ps -o pid,ppid,stat,args | awk 'NR > 1 && $2 != 0 && $2 != 2 && $1 != 1' | grep -v -e ' ps ' -e awk -e grep -e sigwatch-rc)
[ -n "$left" ] && { echo "SIGWATCH-QEMU: leftover processes:"; echo "$left"; }
echo "SIGWATCH-QEMU: done"
sync
poweroff -f
