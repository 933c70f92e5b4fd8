# Each pair: a victim and a sender whose comms (PR_SET_NAME) hold
# newlines, spaces, parentheses, colons and field-like text; the sender
# SIGKILLs the victim. Comms are at most 15 bytes (TASK_COMM_LEN - 1).
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15
PAIRS = [
    (b"a\nb", b"x\ny"),
    (b"\nsig=9 comm=", b"\n"),
    (b"ends\n", b"s\n-1 (1) [0]"),
    (b" pid=1\nrest", b"two words"),
    (b"p(a)r)en( x", b"co:lo:n: x"),
    (b"x comm=y pid=1", b"a\n\n\nb"),
]
for victim_comm, sender_comm in PAIRS:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc.prctl(PR_SET_NAME, victim_comm, 0, 0, 0)
        os.write(w, b"x")
        time.sleep(100)
        os._exit(0)
    os.read(r, 1)
    s = os.fork()
    if s == 0:
        libc.prctl(PR_SET_NAME, sender_comm, 0, 0, 0)
        os.kill(pid, 9)
        os._exit(0)
    os.waitpid(s, 0)
    os.waitpid(pid, 0)
    print(f"victim {pid} {victim_comm!r} sender {s} {sender_comm!r}")
