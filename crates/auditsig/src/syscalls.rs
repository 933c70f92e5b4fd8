//! Audit architectures and the kill-family syscall numbers per architecture.
//!
//! Arch values mirror `AUDIT_ARCH_*` in `include/uapi/linux/audit.h`;
//! syscall numbers come from each arch's syscall table
//! (`arch/x86/entry/syscalls/syscall_64.tbl`, `syscall_32.tbl`,
//! `include/uapi/asm-generic/unistd.h` for aarch64).

/// An audit architecture (`AUDIT_ARCH_*`), as found in `SYSCALL` records
/// (`arch=c000003e`) and in the arch field of audit rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Arch {
    /// `AUDIT_ARCH_X86_64` (`b64` on x86_64).
    X86_64,
    /// `AUDIT_ARCH_I386` (`b32` on x86_64: the ia32 compat entry points).
    I386,
    /// `AUDIT_ARCH_AARCH64`.
    Aarch64,
}

/// `AUDIT_ARCH_X86_64` = `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386` = `EM_386 | __AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64` = `EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// The kill-family syscalls: every syscall that sends a signal to another
/// task chosen by pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum KillSyscall {
    /// `kill(pid, sig)`
    Kill,
    /// `tkill(tid, sig)`
    Tkill,
    /// `tgkill(tgid, tid, sig)`
    Tgkill,
    /// `rt_sigqueueinfo(tgid, sig, info)`
    RtSigqueueinfo,
    /// `rt_tgsigqueueinfo(tgid, tid, sig, info)`
    RtTgsigqueueinfo,
    /// `pidfd_send_signal(pidfd, sig, info, flags)` (Linux ≥ 5.1)
    PidfdSendSignal,
}

impl KillSyscall {
    /// All kill-family syscalls.
    pub const ALL: [KillSyscall; 6] = [
        KillSyscall::Kill,
        KillSyscall::Tkill,
        KillSyscall::Tgkill,
        KillSyscall::RtSigqueueinfo,
        KillSyscall::RtTgsigqueueinfo,
        KillSyscall::PidfdSendSignal,
    ];

    /// The syscall's name as in the kernel's syscall tables and `auditctl -S`.
    pub fn name(self) -> &'static str {
        match self {
            KillSyscall::Kill => "kill",
            KillSyscall::Tkill => "tkill",
            KillSyscall::Tgkill => "tgkill",
            KillSyscall::RtSigqueueinfo => "rt_sigqueueinfo",
            KillSyscall::RtTgsigqueueinfo => "rt_tgsigqueueinfo",
            KillSyscall::PidfdSendSignal => "pidfd_send_signal",
        }
    }

    /// Index of the syscall argument that holds the signal number
    /// (`a1` or `a2`), which is what a rule filters on.
    pub fn signal_arg(self) -> usize {
        match self {
            KillSyscall::Tgkill | KillSyscall::RtTgsigqueueinfo => 2,
            _ => 1,
        }
    }

    /// The syscall number on `arch`.
    pub fn number(self, arch: Arch) -> u32 {
        use KillSyscall::*;
        match arch {
            Arch::X86_64 => match self {
                Kill => 62,
                Tkill => 200,
                Tgkill => 234,
                RtSigqueueinfo => 129,
                RtTgsigqueueinfo => 297,
                PidfdSendSignal => 424,
            },
            Arch::I386 => match self {
                Kill => 37,
                Tkill => 238,
                Tgkill => 270,
                RtSigqueueinfo => 178,
                RtTgsigqueueinfo => 335,
                PidfdSendSignal => 424,
            },
            Arch::Aarch64 => match self {
                Kill => 129,
                Tkill => 130,
                Tgkill => 131,
                RtSigqueueinfo => 138,
                RtTgsigqueueinfo => 240,
                PidfdSendSignal => 424,
            },
        }
    }

    /// The kill-family syscall with number `nr` on `arch`, if any.
    pub fn from_number(arch: Arch, nr: u32) -> Option<KillSyscall> {
        KillSyscall::ALL.into_iter().find(|s| s.number(arch) == nr)
    }
}

impl Arch {
    /// The `AUDIT_ARCH_*` value.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 => AUDIT_ARCH_X86_64,
            Arch::I386 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    /// The arch for an `AUDIT_ARCH_*` value, if supported.
    pub fn from_audit_arch(value: u32) -> Option<Arch> {
        match value {
            AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
            AUDIT_ARCH_I386 => Some(Arch::I386),
            AUDIT_ARCH_AARCH64 => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The name `auditctl -F arch=` accepts (`b64`/`b32` are relative to
    /// the host; these are absolute).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The arches a kernel built for the machine this code runs on audits:
    /// the native one first, then compat ones.
    pub fn host_arches() -> &'static [Arch] {
        if cfg!(target_arch = "x86_64") {
            &[Arch::X86_64, Arch::I386]
        } else if cfg!(target_arch = "aarch64") {
            &[Arch::Aarch64]
        } else {
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_per_arch() {
        for arch in [Arch::X86_64, Arch::I386, Arch::Aarch64] {
            for s in KillSyscall::ALL {
                assert_eq!(KillSyscall::from_number(arch, s.number(arch)), Some(s));
            }
            assert_eq!(Arch::from_audit_arch(arch.audit_arch()), Some(arch));
        }
        // Numbers seen in the captured fixtures (x86_64).
        assert_eq!(
            KillSyscall::from_number(Arch::X86_64, 62),
            Some(KillSyscall::Kill)
        );
        assert_eq!(
            KillSyscall::from_number(Arch::X86_64, 234),
            Some(KillSyscall::Tgkill)
        );
        assert_eq!(KillSyscall::from_number(Arch::X86_64, 1), None);
    }
}
