import ctypes, os, subprocess, time
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    libc.prctl(PR_SET_NAME, b"t pid=1 grp=1", 0, 0, 0)
    os.write(w, b"x")
    time.sleep(100)
    os._exit(0)
os.read(r, 1)
libc.prctl(PR_SET_NAME, b"k-7 [000] 1.0:", 0, 0, 0)
os.kill(pid, 9)
os.waitpid(pid, 0)
