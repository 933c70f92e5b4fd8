import ctypes, os, signal, subprocess, time
libc = ctypes.CDLL(None, use_errno=True)
SYS_tkill=200; SYS_tgkill=234; SYS_rt_sigqueueinfo=129
def spawn():
    p = subprocess.Popen(["sleep", "100"]); time.sleep(0.05); return p
p = spawn(); libc.syscall(SYS_tkill, p.pid, 9); p.wait()
p = spawn(); libc.syscall(SYS_tgkill, p.pid, p.pid, 9); p.wait()
p = spawn(); signal.pidfd_send_signal(os.pidfd_open(p.pid), 9); p.wait()
p = spawn()
# rt_sigqueueinfo with SI_QUEUE (-1)
info = (ctypes.c_int * 32)(); info[0]=9; info[1]=0; info[2]=-1; info[4]=os.getpid()
libc.syscall(SYS_rt_sigqueueinfo, p.pid, 9, ctypes.byref(info)); p.wait()
p = spawn(); os.kill(p.pid, 15); p.wait()
print("sends done")
