import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = os.fork()
if pid == 0:
    PR_SET_NO_NEW_PRIVS = 38; PR_SET_SECCOMP = 22; SECCOMP_MODE_FILTER = 2
    SECCOMP_RET_KILL_PROCESS = 0x80000000
    # BPF_RET|BPF_K = 0x06 : kill on any syscall
    filt = struct.pack("HBBI", 0x06, 0, 0, SECCOMP_RET_KILL_PROCESS)
    buf = ctypes.create_string_buffer(filt)
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(1, ctypes.addressof(buf))
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0)
    os.getpid()  # killed here
    os._exit(0)
_, st = os.waitpid(pid, 0)
print("seccomp child status", st, "signal", st & 0x7f)
