#!/bin/bash
# Captures the events of hostile.py (comms with newlines, spaces,
# parentheses, colons, field-like text) into $1, in a private instance.
set -eu
T=/sys/kernel/tracing
I=$T/instances/sigwatch-capture-hostile
mkdir $I
trap 'echo 0 > $I/events/enable; rmdir $I' EXIT
echo mono > $I/trace_clock
echo 1 > $I/options/record-tgid
echo 'sig == 9' > $I/events/signal/signal_generate/filter
echo 1 > $I/events/signal/signal_generate/enable
python3 "$(dirname "$0")/hostile.py"
sleep 0.2
{ echo "# hostile.py: victims and senders whose comms (PR_SET_NAME) hold newlines, spaces, parentheses, colons and field-like text; each sender SIGKILLs its victim"
  echo "# kernel $(uname -r); instance options: record-tgid, trace_clock=mono, filter sig == 9"
  grep -v '^#' $I/trace; } > "$1"
