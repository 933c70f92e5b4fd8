T=/sys/kernel/tracing; I=$T/instances/sigwatch-$$
mkdir $I || exit 1; trap 'echo 0 > $I/events/enable; rmdir $I' EXIT
echo mono > $I/trace_clock; echo 1 > $I/options/record-tgid
echo 'sig == 9' > $I/events/signal/signal_generate/filter
echo 1 > $I/events/signal/signal_generate/enable
unshare --pid --fork --mount-proc sh -c 'sleep 100 & sleep 100 & sleep 0.3; exit 0'
sleep 0.3
{ echo "# unshare --pid --fork --mount-proc sh -c 'sleep 100 & sleep 100 & sleep 0.3; exit 0': the namespace's init (sh) exits, the kernel kills the rest (zap_pid_ns_processes)"; echo "# kernel $(uname -r); instance options: record-tgid, trace_clock=mono, filter sig == 9"; grep -v '^#' $I/trace; } > $1
