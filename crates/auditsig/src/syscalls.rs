//! Audit architectures and the kill-family syscall numbers of each.
//!
//! The `arch=` field of a `SYSCALL` record is an `AUDIT_ARCH_*` value
//! (`include/uapi/linux/audit.h`: the ELF machine, `__AUDIT_ARCH_64BIT`,
//! `__AUDIT_ARCH_LE` and, for MIPS n32, a calling-convention bit). The
//! `syscall=` number is an index in that arch's own table
//! (`arch/x86/entry/syscalls/syscall_64.tbl`, `arch/*/kernel/syscalls/*.tbl`,
//! `include/uapi/asm-generic/unistd.h` for the generic-table arches:
//! aarch64, riscv, loongarch, csky, openrisc, nios2, hexagon, arc). One
//! table row per arch ([`ARCHES`]) holds everything this crate knows about
//! it, so decoding a log written on any arch is a lookup, never a `match`
//! that forgets one.
//!
//! Numbers as in the kernel tables of Linux 6.x (collected per arch by
//! the `syscalls-table` project, spot-checked against the `.tbl` files).

/// An audit architecture (`AUDIT_ARCH_*`), as found in `SYSCALL` records
/// (`arch=c000003e`) and in the arch field of audit rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Arch {
    /// `AUDIT_ARCH_X86_64` (`b64` on x86_64; x32 tasks share it, their numbers carry `__X32_SYSCALL_BIT`).
    X86_64,
    /// `AUDIT_ARCH_I386` (also `b32` on x86_64: the ia32 compat entry points).
    I386,
    /// `AUDIT_ARCH_AARCH64`.
    Aarch64,
    /// `AUDIT_ARCH_ARM` (EABI; also 32-bit tasks on aarch64).
    Arm,
    /// `AUDIT_ARCH_ARMEB` (big-endian EABI).
    Armeb,
    /// `AUDIT_ARCH_PPC` (also 32-bit tasks on ppc64).
    Ppc,
    /// `AUDIT_ARCH_PPC64`.
    Ppc64,
    /// `AUDIT_ARCH_PPC64LE`.
    Ppc64le,
    /// `AUDIT_ARCH_S390` (also 31-bit tasks on s390x).
    S390,
    /// `AUDIT_ARCH_S390X`.
    S390x,
    /// `AUDIT_ARCH_RISCV32`.
    Riscv32,
    /// `AUDIT_ARCH_RISCV64`.
    Riscv64,
    /// `AUDIT_ARCH_MIPS` (o32, big-endian; numbers from 4000).
    Mips,
    /// `AUDIT_ARCH_MIPSEL` (o32, little-endian).
    Mipsel,
    /// `AUDIT_ARCH_MIPS64` (n64, big-endian; numbers from 5000).
    Mips64,
    /// `AUDIT_ARCH_MIPSEL64` (n64, little-endian).
    Mipsel64,
    /// `AUDIT_ARCH_MIPS64N32` (n32, big-endian; numbers from 6000).
    Mips64n32,
    /// `AUDIT_ARCH_MIPSEL64N32` (n32, little-endian).
    Mipsel64n32,
    /// `AUDIT_ARCH_LOONGARCH32`.
    Loongarch32,
    /// `AUDIT_ARCH_LOONGARCH64`.
    Loongarch64,
    /// `AUDIT_ARCH_SPARC` (also 32-bit tasks on sparc64).
    Sparc,
    /// `AUDIT_ARCH_SPARC64`.
    Sparc64,
    /// `AUDIT_ARCH_ALPHA`.
    Alpha,
    /// `AUDIT_ARCH_PARISC`.
    Parisc,
    /// `AUDIT_ARCH_PARISC64`.
    Parisc64,
    /// `AUDIT_ARCH_IA64` (removed from Linux 6.7; old logs).
    Ia64,
    /// `AUDIT_ARCH_SH` (big-endian).
    Sh,
    /// `AUDIT_ARCH_SHEL` (little-endian).
    Shel,
    /// `AUDIT_ARCH_M68K`.
    M68k,
    /// `AUDIT_ARCH_MICROBLAZE`.
    Microblaze,
    /// `AUDIT_ARCH_XTENSA`.
    Xtensa,
    /// `AUDIT_ARCH_CSKY`.
    Csky,
    /// `AUDIT_ARCH_OPENRISC`.
    Openrisc,
    /// `AUDIT_ARCH_NIOS2`.
    Nios2,
    /// `AUDIT_ARCH_HEXAGON`.
    Hexagon,
    /// `AUDIT_ARCH_ARCOMPACT`.
    Arcompact,
    /// `AUDIT_ARCH_ARCOMPACTBE`.
    Arcompactbe,
    /// `AUDIT_ARCH_ARCV2`.
    Arcv2,
    /// `AUDIT_ARCH_ARCV2BE`.
    Arcv2be,
}

/// `AUDIT_ARCH_X86_64`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000003e;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x40000003;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc00000b7;
/// `AUDIT_ARCH_ARM`.
pub const AUDIT_ARCH_ARM: u32 = 0x40000028;
/// `AUDIT_ARCH_ARMEB`.
pub const AUDIT_ARCH_ARMEB: u32 = 0x00000028;
/// `AUDIT_ARCH_PPC`.
pub const AUDIT_ARCH_PPC: u32 = 0x00000014;
/// `AUDIT_ARCH_PPC64`.
pub const AUDIT_ARCH_PPC64: u32 = 0x80000015;
/// `AUDIT_ARCH_PPC64LE`.
pub const AUDIT_ARCH_PPC64LE: u32 = 0xc0000015;
/// `AUDIT_ARCH_S390`.
pub const AUDIT_ARCH_S390: u32 = 0x00000016;
/// `AUDIT_ARCH_S390X`.
pub const AUDIT_ARCH_S390X: u32 = 0x80000016;
/// `AUDIT_ARCH_RISCV32`.
pub const AUDIT_ARCH_RISCV32: u32 = 0x400000f3;
/// `AUDIT_ARCH_RISCV64`.
pub const AUDIT_ARCH_RISCV64: u32 = 0xc00000f3;
/// `AUDIT_ARCH_MIPS`.
pub const AUDIT_ARCH_MIPS: u32 = 0x00000008;
/// `AUDIT_ARCH_MIPSEL`.
pub const AUDIT_ARCH_MIPSEL: u32 = 0x40000008;
/// `AUDIT_ARCH_MIPS64`.
pub const AUDIT_ARCH_MIPS64: u32 = 0x80000008;
/// `AUDIT_ARCH_MIPSEL64`.
pub const AUDIT_ARCH_MIPSEL64: u32 = 0xc0000008;
/// `AUDIT_ARCH_MIPS64N32`.
pub const AUDIT_ARCH_MIPS64N32: u32 = 0xa0000008;
/// `AUDIT_ARCH_MIPSEL64N32`.
pub const AUDIT_ARCH_MIPSEL64N32: u32 = 0xe0000008;
/// `AUDIT_ARCH_LOONGARCH32`.
pub const AUDIT_ARCH_LOONGARCH32: u32 = 0x40000102;
/// `AUDIT_ARCH_LOONGARCH64`.
pub const AUDIT_ARCH_LOONGARCH64: u32 = 0xc0000102;
/// `AUDIT_ARCH_SPARC`.
pub const AUDIT_ARCH_SPARC: u32 = 0x00000002;
/// `AUDIT_ARCH_SPARC64`.
pub const AUDIT_ARCH_SPARC64: u32 = 0x8000002b;
/// `AUDIT_ARCH_ALPHA`.
pub const AUDIT_ARCH_ALPHA: u32 = 0xc0009026;
/// `AUDIT_ARCH_PARISC`.
pub const AUDIT_ARCH_PARISC: u32 = 0x0000000f;
/// `AUDIT_ARCH_PARISC64`.
pub const AUDIT_ARCH_PARISC64: u32 = 0x8000000f;
/// `AUDIT_ARCH_IA64`.
pub const AUDIT_ARCH_IA64: u32 = 0xc0000032;
/// `AUDIT_ARCH_SH`.
pub const AUDIT_ARCH_SH: u32 = 0x0000002a;
/// `AUDIT_ARCH_SHEL`.
pub const AUDIT_ARCH_SHEL: u32 = 0x4000002a;
/// `AUDIT_ARCH_M68K`.
pub const AUDIT_ARCH_M68K: u32 = 0x00000004;
/// `AUDIT_ARCH_MICROBLAZE`.
pub const AUDIT_ARCH_MICROBLAZE: u32 = 0x000000bd;
/// `AUDIT_ARCH_XTENSA`.
pub const AUDIT_ARCH_XTENSA: u32 = 0x0000005e;
/// `AUDIT_ARCH_CSKY`.
pub const AUDIT_ARCH_CSKY: u32 = 0x400000fc;
/// `AUDIT_ARCH_OPENRISC`.
pub const AUDIT_ARCH_OPENRISC: u32 = 0x0000005c;
/// `AUDIT_ARCH_NIOS2`.
pub const AUDIT_ARCH_NIOS2: u32 = 0x40000071;
/// `AUDIT_ARCH_HEXAGON`.
pub const AUDIT_ARCH_HEXAGON: u32 = 0x000000a4;
/// `AUDIT_ARCH_ARCOMPACT`.
pub const AUDIT_ARCH_ARCOMPACT: u32 = 0x4000005d;
/// `AUDIT_ARCH_ARCOMPACTBE`.
pub const AUDIT_ARCH_ARCOMPACTBE: u32 = 0x0000005d;
/// `AUDIT_ARCH_ARCV2`.
pub const AUDIT_ARCH_ARCV2: u32 = 0x400000c3;
/// `AUDIT_ARCH_ARCV2BE`.
pub const AUDIT_ARCH_ARCV2BE: u32 = 0x000000c3;

/// `__X32_SYSCALL_BIT`: x32 tasks audit as `AUDIT_ARCH_X86_64` with this
/// bit set in the syscall number (`arch/x86/entry/syscalls/syscall_64.tbl`,
/// `x32` rows and the common ones).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// x32 numbers (without [`X32_SYSCALL_BIT`]) of the kill family, in the
/// order of [`KillSyscall::ALL`]: `rt_sigqueueinfo` and
/// `rt_tgsigqueueinfo` have x32-specific entries (524, 536).
const X32_KILL: [u32; 6] = [62, 200, 234, 524, 536, 424];

/// One architecture: its `AUDIT_ARCH_*` value, its name as auditctl and
/// ausearch print it, and its kill-family syscall numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchRow {
    /// The arch.
    pub arch: Arch,
    /// The `AUDIT_ARCH_*` value.
    pub audit: u32,
    /// auditctl's / ausearch's name (`x86_64`, `ppc64le`, ...).
    pub name: &'static str,
    /// Numbers of [`KillSyscall::ALL`], in that order.
    pub kill: [u32; 6],
}

/// Every arch the kernel's `audit.h` names that has had a Linux port with
/// audit syscall support, with its kill-family numbers.
pub static ARCHES: &[ArchRow] = &[
    ArchRow {
        arch: Arch::X86_64,
        audit: AUDIT_ARCH_X86_64,
        name: "x86_64",
        kill: [62, 200, 234, 129, 297, 424],
    },
    ArchRow {
        arch: Arch::I386,
        audit: AUDIT_ARCH_I386,
        name: "i386",
        kill: [37, 238, 270, 178, 335, 424],
    },
    ArchRow {
        arch: Arch::Aarch64,
        audit: AUDIT_ARCH_AARCH64,
        name: "aarch64",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Arm,
        audit: AUDIT_ARCH_ARM,
        name: "arm",
        kill: [37, 238, 268, 178, 363, 424],
    },
    ArchRow {
        arch: Arch::Armeb,
        audit: AUDIT_ARCH_ARMEB,
        name: "armeb",
        kill: [37, 238, 268, 178, 363, 424],
    },
    ArchRow {
        arch: Arch::Ppc,
        audit: AUDIT_ARCH_PPC,
        name: "ppc",
        kill: [37, 208, 250, 177, 322, 424],
    },
    ArchRow {
        arch: Arch::Ppc64,
        audit: AUDIT_ARCH_PPC64,
        name: "ppc64",
        kill: [37, 208, 250, 177, 322, 424],
    },
    ArchRow {
        arch: Arch::Ppc64le,
        audit: AUDIT_ARCH_PPC64LE,
        name: "ppc64le",
        kill: [37, 208, 250, 177, 322, 424],
    },
    ArchRow {
        arch: Arch::S390,
        audit: AUDIT_ARCH_S390,
        name: "s390",
        kill: [37, 237, 241, 178, 330, 424],
    },
    ArchRow {
        arch: Arch::S390x,
        audit: AUDIT_ARCH_S390X,
        name: "s390x",
        kill: [37, 237, 241, 178, 330, 424],
    },
    ArchRow {
        arch: Arch::Riscv32,
        audit: AUDIT_ARCH_RISCV32,
        name: "riscv32",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Riscv64,
        audit: AUDIT_ARCH_RISCV64,
        name: "riscv64",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Mips,
        audit: AUDIT_ARCH_MIPS,
        name: "mips",
        kill: [4037, 4236, 4266, 4198, 4332, 4424],
    },
    ArchRow {
        arch: Arch::Mipsel,
        audit: AUDIT_ARCH_MIPSEL,
        name: "mipsel",
        kill: [4037, 4236, 4266, 4198, 4332, 4424],
    },
    ArchRow {
        arch: Arch::Mips64,
        audit: AUDIT_ARCH_MIPS64,
        name: "mips64",
        kill: [5060, 5192, 5225, 5127, 5291, 5424],
    },
    ArchRow {
        arch: Arch::Mipsel64,
        audit: AUDIT_ARCH_MIPSEL64,
        name: "mipsel64",
        kill: [5060, 5192, 5225, 5127, 5291, 5424],
    },
    ArchRow {
        arch: Arch::Mips64n32,
        audit: AUDIT_ARCH_MIPS64N32,
        name: "mips64n32",
        kill: [6060, 6192, 6229, 6127, 6295, 6424],
    },
    ArchRow {
        arch: Arch::Mipsel64n32,
        audit: AUDIT_ARCH_MIPSEL64N32,
        name: "mipsel64n32",
        kill: [6060, 6192, 6229, 6127, 6295, 6424],
    },
    ArchRow {
        arch: Arch::Loongarch32,
        audit: AUDIT_ARCH_LOONGARCH32,
        name: "loongarch32",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Loongarch64,
        audit: AUDIT_ARCH_LOONGARCH64,
        name: "loongarch64",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Sparc,
        audit: AUDIT_ARCH_SPARC,
        name: "sparc",
        kill: [37, 187, 211, 106, 326, 424],
    },
    ArchRow {
        arch: Arch::Sparc64,
        audit: AUDIT_ARCH_SPARC64,
        name: "sparc64",
        kill: [37, 187, 211, 106, 326, 424],
    },
    ArchRow {
        arch: Arch::Alpha,
        audit: AUDIT_ARCH_ALPHA,
        name: "alpha",
        kill: [37, 381, 424, 356, 492, 534],
    },
    ArchRow {
        arch: Arch::Parisc,
        audit: AUDIT_ARCH_PARISC,
        name: "parisc",
        kill: [37, 208, 259, 178, 317, 424],
    },
    ArchRow {
        arch: Arch::Parisc64,
        audit: AUDIT_ARCH_PARISC64,
        name: "parisc64",
        kill: [37, 208, 259, 178, 317, 424],
    },
    ArchRow {
        arch: Arch::Ia64,
        audit: AUDIT_ARCH_IA64,
        name: "ia64",
        kill: [1053, 1229, 1235, 1180, 1321, 1448],
    },
    ArchRow {
        arch: Arch::Sh,
        audit: AUDIT_ARCH_SH,
        name: "sh",
        kill: [37, 238, 270, 178, 335, 424],
    },
    ArchRow {
        arch: Arch::Shel,
        audit: AUDIT_ARCH_SHEL,
        name: "shel",
        kill: [37, 238, 270, 178, 335, 424],
    },
    ArchRow {
        arch: Arch::M68k,
        audit: AUDIT_ARCH_M68K,
        name: "m68k",
        kill: [37, 222, 265, 178, 331, 424],
    },
    ArchRow {
        arch: Arch::Microblaze,
        audit: AUDIT_ARCH_MICROBLAZE,
        name: "microblaze",
        kill: [37, 238, 270, 178, 365, 424],
    },
    ArchRow {
        arch: Arch::Xtensa,
        audit: AUDIT_ARCH_XTENSA,
        name: "xtensa",
        kill: [123, 124, 125, 230, 328, 424],
    },
    ArchRow {
        arch: Arch::Csky,
        audit: AUDIT_ARCH_CSKY,
        name: "csky",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Openrisc,
        audit: AUDIT_ARCH_OPENRISC,
        name: "openrisc",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Nios2,
        audit: AUDIT_ARCH_NIOS2,
        name: "nios2",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Hexagon,
        audit: AUDIT_ARCH_HEXAGON,
        name: "hexagon",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Arcompact,
        audit: AUDIT_ARCH_ARCOMPACT,
        name: "arcompact",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Arcompactbe,
        audit: AUDIT_ARCH_ARCOMPACTBE,
        name: "arcompactbe",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Arcv2,
        audit: AUDIT_ARCH_ARCV2,
        name: "arcv2",
        kill: [129, 130, 131, 138, 240, 424],
    },
    ArchRow {
        arch: Arch::Arcv2be,
        audit: AUDIT_ARCH_ARCV2BE,
        name: "arcv2be",
        kill: [129, 130, 131, 138, 240, 424],
    },
];

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

    fn index(self) -> usize {
        self as usize
    }

    /// The syscall number on `arch` (the native table; x32 numbers are
    /// only recognised by [`KillSyscall::from_number`]).
    pub fn number(self, arch: Arch) -> u32 {
        arch.row().kill[self.index()]
    }

    /// The kill-family syscall with number `nr` on `arch`, if any
    /// (on x86_64 also the x32 numbers, which carry
    /// [`X32_SYSCALL_BIT`]).
    pub fn from_number(arch: Arch, nr: u32) -> Option<KillSyscall> {
        let row = arch.row();
        if let Some(i) = row.kill.iter().position(|&n| n == nr) {
            return Some(KillSyscall::ALL[i]);
        }
        if arch == Arch::X86_64 && nr & X32_SYSCALL_BIT != 0 {
            let plain = nr & !X32_SYSCALL_BIT;
            return X32_KILL
                .iter()
                .position(|&n| n == plain)
                .map(|i| KillSyscall::ALL[i]);
        }
        None
    }
}

impl Arch {
    /// This arch's row of [`ARCHES`].
    pub fn row(self) -> &'static ArchRow {
        // Every variant has a row (checked by a test); the fallback only
        // keeps this total.
        ARCHES.iter().find(|r| r.arch == self).unwrap_or(&ARCHES[0])
    }

    /// The `AUDIT_ARCH_*` value.
    pub fn audit_arch(self) -> u32 {
        self.row().audit
    }

    /// The arch for an `AUDIT_ARCH_*` value, if it is one of [`ARCHES`].
    pub fn from_audit_arch(value: u32) -> Option<Arch> {
        ARCHES.iter().find(|r| r.audit == value).map(|r| r.arch)
    }

    /// The name auditctl and ausearch use (`x86_64`, `ppc64le`, ...;
    /// `b64`/`b32` are relative to the host, these are absolute).
    pub fn name(self) -> &'static str {
        self.row().name
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

    const EM_SPARC: u32 = 2;
    const EM_68K: u32 = 4;
    const EM_MIPS: u32 = 8;
    const EM_PARISC: u32 = 15;
    const EM_PPC: u32 = 20;
    const EM_PPC64: u32 = 21;
    const EM_S390: u32 = 22;
    const EM_ARM: u32 = 40;
    const EM_SH: u32 = 42;
    const EM_SPARCV9: u32 = 43;
    const EM_IA_64: u32 = 50;
    const EM_X86_64: u32 = 62;
    const EM_AARCH64: u32 = 183;
    const EM_RISCV: u32 = 243;
    const EM_LOONGARCH: u32 = 258;
    const EM_ALPHA: u32 = 0x9026;
    const B64: u32 = 0x8000_0000;
    const LE: u32 = 0x4000_0000;
    const N32: u32 = 0x2000_0000;

    #[test]
    fn audit_arch_values_follow_audit_h() {
        // (value, ELF machine | flags) as `include/uapi/linux/audit.h` builds them.
        for (v, want) in [
            (AUDIT_ARCH_X86_64, EM_X86_64 | B64 | LE),
            (AUDIT_ARCH_I386, 3 | LE),
            (AUDIT_ARCH_AARCH64, EM_AARCH64 | B64 | LE),
            (AUDIT_ARCH_ARM, EM_ARM | LE),
            (AUDIT_ARCH_ARMEB, EM_ARM),
            (AUDIT_ARCH_PPC, EM_PPC),
            (AUDIT_ARCH_PPC64, EM_PPC64 | B64),
            (AUDIT_ARCH_PPC64LE, EM_PPC64 | B64 | LE),
            (AUDIT_ARCH_S390, EM_S390),
            (AUDIT_ARCH_S390X, EM_S390 | B64),
            (AUDIT_ARCH_RISCV32, EM_RISCV | LE),
            (AUDIT_ARCH_RISCV64, EM_RISCV | B64 | LE),
            (AUDIT_ARCH_MIPS, EM_MIPS),
            (AUDIT_ARCH_MIPSEL, EM_MIPS | LE),
            (AUDIT_ARCH_MIPS64, EM_MIPS | B64),
            (AUDIT_ARCH_MIPSEL64, EM_MIPS | B64 | LE),
            (AUDIT_ARCH_MIPS64N32, EM_MIPS | B64 | N32),
            (AUDIT_ARCH_MIPSEL64N32, EM_MIPS | B64 | LE | N32),
            (AUDIT_ARCH_LOONGARCH64, EM_LOONGARCH | B64 | LE),
            (AUDIT_ARCH_SPARC, EM_SPARC),
            (AUDIT_ARCH_SPARC64, EM_SPARCV9 | B64),
            (AUDIT_ARCH_ALPHA, EM_ALPHA | B64 | LE),
            (AUDIT_ARCH_PARISC64, EM_PARISC | B64),
            (AUDIT_ARCH_IA64, EM_IA_64 | B64 | LE),
            (AUDIT_ARCH_SH, EM_SH),
            (AUDIT_ARCH_M68K, EM_68K),
        ] {
            assert_eq!(v, want, "{v:#x}");
        }
    }

    #[test]
    fn table_rows_are_unique_and_complete() {
        for (i, r) in ARCHES.iter().enumerate() {
            assert_eq!(r.arch.row(), r, "{}", r.name);
            assert_eq!(Arch::from_audit_arch(r.audit), Some(r.arch));
            assert_eq!(r.arch.name(), r.name);
            for other in &ARCHES[i + 1..] {
                assert_ne!(r.audit, other.audit, "{} / {}", r.name, other.name);
                assert_ne!(r.name, other.name);
            }
            // Six distinct numbers that round-trip.
            for s in KillSyscall::ALL {
                assert_eq!(KillSyscall::from_number(r.arch, s.number(r.arch)), Some(s));
            }
        }
        assert_eq!(Arch::from_audit_arch(0xdead_beef), None);
    }

    #[test]
    fn numbers_from_the_kernel_tables() {
        use KillSyscall::*;
        // (arch, syscall, number) read off arch/*/kernel/syscalls/*.tbl.
        for (arch, s, nr) in [
            (Arch::X86_64, Kill, 62),
            (Arch::X86_64, Tgkill, 234),
            (Arch::I386, Kill, 37),
            (Arch::I386, RtTgsigqueueinfo, 335),
            (Arch::Aarch64, Kill, 129),
            (Arch::Arm, Tgkill, 268),
            (Arch::Arm, RtTgsigqueueinfo, 363),
            (Arch::Ppc64le, Tkill, 208),
            (Arch::Ppc64, Tgkill, 250),
            (Arch::Ppc, RtSigqueueinfo, 177),
            (Arch::S390x, Tkill, 237),
            (Arch::S390x, Tgkill, 241),
            (Arch::Riscv64, Tgkill, 131),
            (Arch::Mipsel, Kill, 4037),
            (Arch::Mips64, Kill, 5060),
            (Arch::Mips64n32, Tgkill, 6229),
            (Arch::Loongarch64, PidfdSendSignal, 424),
            (Arch::Sparc64, RtSigqueueinfo, 106),
            (Arch::Alpha, PidfdSendSignal, 534),
            (Arch::Parisc, Tkill, 208),
            (Arch::Xtensa, Kill, 123),
            (Arch::M68k, Tkill, 222),
        ] {
            assert_eq!(s.number(arch), nr, "{} {}", arch.name(), s.name());
            assert_eq!(KillSyscall::from_number(arch, nr), Some(s));
        }
        assert_eq!(KillSyscall::from_number(Arch::X86_64, 1), None);
        // 62 is kill on x86_64 but nothing of the family on i386.
        assert_eq!(KillSyscall::from_number(Arch::I386, 62), None);
    }

    #[test]
    fn x32_numbers_decode_on_x86_64() {
        assert_eq!(
            KillSyscall::from_number(Arch::X86_64, X32_SYSCALL_BIT | 62),
            Some(KillSyscall::Kill)
        );
        assert_eq!(
            KillSyscall::from_number(Arch::X86_64, X32_SYSCALL_BIT | 524),
            Some(KillSyscall::RtSigqueueinfo)
        );
        // The 64-bit rt_sigqueueinfo number is not an x32 one.
        assert_eq!(
            KillSyscall::from_number(Arch::X86_64, X32_SYSCALL_BIT | 129),
            None
        );
        assert_eq!(
            KillSyscall::from_number(Arch::I386, X32_SYSCALL_BIT | 62),
            None
        );
    }
}
