#!/usr/bin/env python3
# Manual measurement: idle footprint of sigwatch and latency from a victim's
# death to its JSON report. Usage (as root):
#   python3 crates/sigwatch-bin/tools/measure_latency_idle.py [SIGWATCH_BINARY [N]]
# (default binary: target/release/sigwatch of this checkout; N = 50 kills).
# It takes the audit test lock itself, like the tests: do not wrap it in
# `flock` on the same lock file.
import fcntl, json, os, signal, socket, subprocess, sys, tempfile, time, statistics
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "sigwatch")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
if not os.access(BIN, os.X_OK):
    sys.exit(f"{BIN}: no such executable (cargo build --release -p sigwatch, or pass the binary)")
# Audit is host-wide: hold the lock the tests hold while sigwatch runs.
os.makedirs("/run/lock", exist_ok=True)
lock = open("/run/lock/sigwatch-audit-tests.lock", "a")
fcntl.flock(lock, fcntl.LOCK_EX)
scratch = tempfile.mkdtemp(prefix="sigwatch-measure-")
def run(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout
before = run("auditctl -s | grep -E '^(enabled|pid) '; auditctl -l")
print("audit before:", before.replace("\n", " | "))
notify = os.path.join(scratch, "notify.sock")
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); ns.bind(notify); ns.settimeout(30)
env = dict(os.environ, NOTIFY_SOCKET=notify)
p = subprocess.Popen([BIN, "--json"], stdout=subprocess.PIPE, stderr=open(os.path.join(scratch, "measure.err"), "w"), env=env, text=True, bufsize=1)
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
print(f"sigwatch's stderr: {os.path.join(scratch, 'measure.err')}")
