#!/usr/bin/env python3
"""Kill storm against a running `sigwatch --json` (root; not a test).

Starts sigwatch (BINARY, default target/debug/sigwatch) with --json and
the victim filter --comm stormvictim, spawns N victims (a forked child
that renames itself `stormvictim` and pauses), SIGKILLs them from this
process BATCH at a time as fast as it can, stops sigwatch with SIGTERM and
prints how many kills were reported and which witnesses each report has.

    python3 crates/sigwatch-bin/tools/kill_storm.py [N] [BINARY] [BATCH]

Figures printed: reports, reports per witness set, reports with an
unknown sender, and sigwatch's summary line (losses).
"""
import collections, ctypes, json, os, signal, subprocess, sys, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
binary = sys.argv[2] if len(sys.argv) > 2 else "target/debug/sigwatch"
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 200
libc = ctypes.CDLL(None, use_errno=True)

import tempfile
outf = tempfile.TemporaryFile()
errf = tempfile.TemporaryFile()
sw = subprocess.Popen([binary, "--json", "--comm", "stormvictim"],
                      stdout=outf, stderr=errf)
# Wait for readiness: sigwatch says so on stderr at info level? Use a fixed grace.
time.sleep(3)

def spawn():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        libc.prctl(15, b"stormvictim", 0, 0, 0)  # PR_SET_NAME
        os.write(w, b"x")
        os.close(w)
        while True:
            signal.pause()
    os.close(w)
    os.read(r, 1)  # named before it is killed
    os.close(r)
    return pid

killed = 0
t0 = time.time()
while killed < n:
    pids = [spawn() for _ in range(min(batch, n - killed))]
    for p in pids:
        os.kill(p, signal.SIGKILL)
    for p in pids:
        os.waitpid(p, 0)
    killed += len(pids)
elapsed = time.time() - t0
time.sleep(3)
sw.send_signal(signal.SIGTERM)
sw.wait(timeout=60)
outf.seek(0); errf.seek(0)
out, err = outf.read(), errf.read()
reports = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
kills = [r for r in reports if r.get("type", "kill") == "kill" and "victim" in r]
by_w = collections.Counter(",".join(sorted(r.get("witnesses") or [])) for r in kills)
unknown = sum(1 for r in kills if not r.get("sender"))
print(f"killed {killed} in {elapsed:.2f} s; reports {len(kills)}; unknown sender {unknown}")
for k, v in sorted(by_w.items()):
    print(f"  witnesses [{k}]: {v}")
for r in reports:
    if r.get("type") in ("summary", "loss"):
        print("  ", json.dumps(r)[:400])
sys.stderr.write(err.decode()[-2000:])
