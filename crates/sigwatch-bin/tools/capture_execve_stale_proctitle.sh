#!/bin/bash
# Records a real auditd log (ENRICHED) with a user execve rule in which the
# kill records carry a stale PROCTITLE (tests/data/auditd-execve-stale-proctitle.log
# is this log cut to the events of the scenario's processes). Debian's auditd
# runs in the foreground with a private config; audit is left as found.
# Run as root under: flock /run/lock/sigwatch-audit-tests.lock bash THIS
set -u
D=/tmp/swfix/run
rm -rf "$D"; mkdir -p "$D/plugins.d" /tmp/swfix/jobs
chmod 755 /tmp/swfix /tmp/swfix/jobs
printf '#!/bin/sh\nkill -9 "$3"\nsleep 1\n' > /tmp/swfix/jobs/guard.sh
chmod 755 /tmp/swfix/jobs/guard.sh
EN=$(auditctl -s | awk '$1=="enabled"{print $2}')
RULES_BEFORE=$(auditctl -l)
PID_BEFORE=$(auditctl -s | awk '$1=="pid"{print $2}')
[ "$PID_BEFORE" = 0 ] || { echo "audit pid $PID_BEFORE in use"; exit 1; }
cat > "$D/auditd.conf" <<CONF
local_events = yes
write_logs = yes
log_file = $D/audit.log
log_group = root
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 1
max_log_file = 100
num_logs = 2
max_log_file_action = ROTATE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
name_format = NONE
plugin_dir = $D/plugins.d
CONF
chmod 600 "$D/auditd.conf"
auditd -n -c "$D" >/dev/null 2>&1 &
APID=$!
for i in $(seq 200); do
  [ "$(auditctl -s | awk '$1=="pid"{print $2}')" = "$APID" ] && [ -e "$D/audit.log" ] && break
  sleep 0.05
done
EXEC_RULE="-F arch=b64 -S execve -k swfix-exec"
KILL_RULE="-F arch=b64 -S kill -F a1=9 -k swfix-kill"
auditctl -a always,exit $EXEC_RULE
auditctl -a always,exit $KILL_RULE
# Scenario 1: a nobody-owned victim, killed by a script reached through setsid and setpriv.
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
V1=$!
sleep 0.3
setsid setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/swfix/jobs/guard.sh --mode restart $V1
wait $V1
echo "V1=$V1"
# Scenario 2: /bin/kill reached through setsid and setpriv.
sleep 300 &
V2=$!
sleep 0.3
setsid setpriv --clear-groups /bin/kill -9 $V2
wait $V2
echo "V2=$V2"
sleep 1
auditctl -d always,exit $KILL_RULE
auditctl -d always,exit $EXEC_RULE
kill -TERM $APID; wait $APID
auditctl -e "$EN" >/dev/null
echo "enabled restored to $EN"
[ "$(auditctl -l)" = "$RULES_BEFORE" ] && echo "rules restored" || echo "RULES DIFFER"
auditctl -s | head -4
cp "$D/audit.log" /tmp/swfix/audit.log
