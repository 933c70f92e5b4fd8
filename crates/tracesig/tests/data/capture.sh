#!/bin/bash
# Capture real signal_generate / mark_victim lines per scenario into $OUT.
set -u
OUT=${OUT:-$(mktemp -d)}; mkdir -p $OUT
T=/sys/kernel/tracing
I=$T/instances/sigwatch-$$
mkdir $I || exit 1
trap 'echo 0 > $I/events/enable; rmdir $I' EXIT
echo mono > $I/trace_clock
echo 1 > $I/options/record-tgid
echo 'sig != 17' > $I/events/signal/signal_generate/filter
echo 1 > $I/events/signal/signal_generate/enable
echo 1 > $I/events/oom/mark_victim/enable
KVER=$(uname -r | cut -d. -f1,2)
save() { # name, description
  f=$OUT/kernel-$KVER-$1.txt
  { echo "# $2"; echo "# kernel $(uname -r); instance options: $3"; grep -v '^#' $I/trace; } > $f
  echo > $I/trace   # clear the instance buffer
}
echo > $I/trace

sleep 100 & SP=$!; sh -c "kill -9 $SP"; wait $SP 2>/dev/null
save kill-sh "sleep killed by: sh -c 'kill -9 PID' (kill(2))" "record-tgid, trace_clock=mono, filter sig != 17"

CG=/sys/fs/cgroup/memory/sigwatch-tracesig-oom
mkdir -p $CG; echo 64M > $CG/memory.limit_in_bytes
sh -c "echo \$\$ > $CG/cgroup.procs; exec python3 -c 'a=[]
while True: a.append(bytearray(1<<20))'"
sleep 0.2; rmdir $CG
save oom-memcg-self "memcg v1 OOM (memory.limit_in_bytes=64M): python3 allocating 1 MiB at a time in the group is the victim and the allocator" "record-tgid, trace_clock=mono, filter sig != 17"

mkdir -p $CG; echo 64M > $CG/memory.limit_in_bytes
sh -c "echo \$\$ > $CG/cgroup.procs; exec python3 -c 'import time; a=bytearray(40<<20); a[::4096]=b\"x\"*len(a[::4096]); time.sleep(30)'" & BIG=$!
sleep 1
sh -c "echo \$\$ > $CG/cgroup.procs; exec python3 -c 'a=[]
for i in range(40): a.append(bytearray(1<<20))'"; echo "allocator exit $?"
wait $BIG; echo "big exit $?"
sleep 0.2; rmdir $CG
save oom-memcg-other "memcg v1 OOM (64M): an idle python3 holding 40 MiB is the victim, a second python3 allocating 1 MiB steps is the allocator (current)" "record-tgid, trace_clock=mono, filter sig != 17"

CG2=/sys/fs/cgroup/unified/sigwatch-tracesig-kill
mkdir -p $CG2
sh -c "echo \$\$ > $CG2/cgroup.procs; exec sleep 100" & K1=$!
sh -c "echo \$\$ > $CG2/cgroup.procs; exec python3 -c 'import threading,time; threading.Thread(target=time.sleep,args=(100,)).start(); time.sleep(100)'" & K2=$!
sleep 0.5
sh -c "echo 1 > $CG2/cgroup.kill"
wait $K1 $K2; sleep 0.2; rmdir $CG2
save cgroup-kill "cgroup v2 (/sys/fs/cgroup/unified): a sleep and a 2-thread python3 in the group; sh -c 'echo 1 > cgroup.kill'" "record-tgid, trace_clock=mono, filter sig != 17"

prlimit --cpu=1 -- sh -c 'while :; do :; done'
save rlimit-cpu-hard "prlimit --cpu=1 -- sh -c 'while :; do :; done' (soft = hard = 1 s)" "record-tgid, trace_clock=mono, filter sig != 17"
prlimit --cpu=1:2 -- sh -c "trap '' XCPU; while :; do :; done"
save rlimit-cpu-soft-hard "prlimit --cpu=1:2 -- sh -c \"trap '' XCPU; while :; do :; done\" (SIGXCPU at 1 s ignored, SIGKILL at 2 s)" "record-tgid, trace_clock=mono, filter sig != 17"

python3 $(dirname $0)/seccomp.py
save seccomp "python3 child installs a seccomp filter returning SECCOMP_RET_KILL_PROCESS for every syscall, then calls getpid()" "record-tgid, trace_clock=mono, filter sig != 17"

python3 $(dirname $0)/sends.py
save syscalls "python3 sends SIGKILL to a sleep via tkill, tgkill, pidfd_send_signal, rt_sigqueueinfo(SI_QUEUE), then SIGTERM via kill" "record-tgid, trace_clock=mono, filter sig != 17"

setsid sh -c 'sleep 100 & sleep 100 & kill -9 -$$'; sleep 0.2
save kill-pgrp "setsid sh -c 'sleep 100 & sleep 100 & kill -9 -\$\$' (kill of its own process group)" "record-tgid, trace_clock=mono, filter sig != 17"

python3 $(dirname $0)/weird.py
save weird-comm "sender python3 renamed (PR_SET_NAME) to 'k-7 [000] 1.0:', target renamed to 't pid=1 grp=1', SIGKILL via kill(2)" "record-tgid, trace_clock=mono, filter sig != 17"

# header variants on this kernel
echo 0 > $I/options/record-tgid
sleep 100 & SP=$!; sh -c "kill -9 $SP"; wait $SP 2>/dev/null
save no-tgid "kill -9 from sh, record-tgid off" "trace_clock=mono, filter sig != 17"
echo 0 > $I/options/irq-info
sleep 100 & SP=$!; sh -c "kill -9 $SP"; wait $SP 2>/dev/null
save no-irq-info "kill -9 from sh, record-tgid off, irq-info off (no flags column)" "trace_clock=mono, filter sig != 17"
echo counter > $I/trace_clock
sleep 100 & SP=$!; sh -c "kill -9 $SP"; wait $SP 2>/dev/null
save counter-clock "kill -9 from sh, record-tgid off, irq-info off, trace_clock=counter" "filter sig != 17"
echo mono > $I/trace_clock; echo 1 > $I/options/irq-info; echo 1 > $I/options/record-tgid
# lost events
echo 4 > $I/buffer_size_kb
python3 -c '
import os,signal
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
for i in range(3000): os.kill(os.getpid(), 10)
'
timeout 0.5 cat $I/trace_pipe | grep -v 'sig=10 ' > $OUT/kernel-$KVER-lost.txt.tmp
{ echo "# buffer_size_kb=4, 3000 x kill(self, SIGUSR1) ignored, then trace_pipe read: the lost-events line (sig=10 lines removed)"; echo "# kernel $(uname -r)"; cat $OUT/kernel-$KVER-lost.txt.tmp; } > $OUT/kernel-$KVER-lost.txt; rm $OUT/kernel-$KVER-lost.txt.tmp
cat $I/per_cpu/cpu*/stats > $OUT/kernel-$KVER-stats.txt
