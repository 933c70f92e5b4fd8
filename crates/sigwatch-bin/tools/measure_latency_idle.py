#!/usr/bin/env python3
# Manual measurement (run under the audit flock): idle footprint of sigwatch
# and latency from a victim's death to its JSON report.
import json, os, signal, subprocess, sys, time, statistics
BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
def run(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout
before = run("auditctl -s | grep -E '^(enabled|pid) '; auditctl -l")
print("audit before:", before.replace("\n", " | "))
notify = "/tmp/swh/notify.sock"
import socket
try: os.unlink(notify)
except FileNotFoundError: pass
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); ns.bind(notify); ns.settimeout(30)
env = dict(os.environ, NOTIFY_SOCKET=notify)
p = subprocess.Popen([BIN, "--json"], stdout=subprocess.PIPE, stderr=open("/tmp/swh/measure.err", "w"), env=env, text=True, bufsize=1)
while b"READY=1" not in ns.recv(512): pass
def cpu_rss(pid):
    st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = int(st[11]) + int(st[12])
    rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
    return ticks / os.sysconf("SC_CLK_TCK"), int(rss)
time.sleep(2)
c0, r0 = cpu_rss(p.pid); t0 = time.time()
time.sleep(60)
c1, r1 = cpu_rss(p.pid); t1 = time.time()
print(f"idle over {t1-t0:.0f}s: cpu {c1-c0:.2f}s ({100*(c1-c0)/(t1-t0):.2f}%), rss {r0} kB -> {r1} kB")
lat = []
for i in range(N):
    v = subprocess.Popen(["sleep", "300"])
    time.sleep(0.05)
    os.kill(v.pid, signal.SIGKILL)
    v.wait()  # reaped: the exit event has been sent
    t_dead = time.monotonic()
    while True:
        line = p.stdout.readline()
        o = json.loads(line)
        if o.get("type") == "kill" and o["victim"]["pid"] == v.pid:
            lat.append((time.monotonic() - t_dead) * 1000)
            assert o["origin"] == "user" and o["sender"]["pid"] == os.getpid(), o
            break
lat.sort()
print(f"latency victim reaped -> report line, n={len(lat)}: p50 {statistics.median(lat):.2f} ms, p99 {lat[min(len(lat)-1, int(len(lat)*0.99))]:.2f} ms, max {lat[-1]:.2f} ms")
p.send_signal(signal.SIGTERM)
rest = p.stdout.read().strip().splitlines()
print("exit", p.wait(), "last:", rest[-1] if rest else None)
after = run("auditctl -s | grep -E '^(enabled|pid) '; auditctl -l")
print("audit after: ", after.replace("\n", " | "))
print("restored" if after == before else "NOT RESTORED")
