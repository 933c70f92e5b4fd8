#!/usr/bin/env bash
# The static aarch64 sigwatch on Debian's arm64 kernel (bookworm 6.1) under
# qemu-system-aarch64 (software emulation, -machine virt -cpu cortex-a57),
# from an initramfs of Debian arm64 packages (busybox-static, auditd's
# auditctl with its libraries, jq). In the guest:
#   - rules: `sigwatch rules` equals the tarball's audit/sigwatch.rules and
#     auditctl loads it (-R) and removes it (-D -k sigwatch) on aarch64;
#   - attribution: sigwatch --json --count 1 while a short-lived sh, whose
#     launcher has exited, kills a sleep: sender comm and argv, the exited
#     launcher among the ancestors, witnesses audit and tracefs; while it
#     runs, auditctl -l shows its rules for the six kill-family syscalls by
#     their aarch64 names; after it exits audit is as found, no trace
#     instance is left.
# See ci/qemu/README.md. Needs `cargo xtask dist` first (or SIGWATCH_AARCH64_TARBALL).
# Exit 1 when a check fails or the guest does not finish in time.
# Environment:
#   SIGWATCH_AARCH64_TARBALL  default target/dist/sigwatch-*-aarch64-unknown-linux-musl.tar.gz
#   SIGWATCH_QEMU_TIMEOUT     seconds before the guest is declared hung (600)
#   SIGWATCH_AARCH64_WORKDIR  scratch dir (target/qemu-aarch64); packages are cached there
#   SIGWATCH_DEBIAN_MIRROR    (http://deb.debian.org/debian)
{
set -euo pipefail
cd "$(dirname "$0")/../.."
ws=$(pwd -P)
here=$ws/ci/qemu
t_start=$(date +%s)
log() { echo "== aarch64-guest: $*"; }
. "$here/common.sh"

timeout_s=${SIGWATCH_QEMU_TIMEOUT:-600}
work=${SIGWATCH_AARCH64_WORKDIR:-$ws/target/qemu-aarch64}
mirror=${SIGWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
tarball=${SIGWATCH_AARCH64_TARBALL:-$(ls "$ws"/target/dist/sigwatch-*-aarch64-unknown-linux-musl.tar.gz 2>/dev/null | head -n1)}
[ -f "$tarball" ] || { echo "no aarch64 tarball: run cargo xtask dist first (or set SIGWATCH_AARCH64_TARBALL)" >&2; exit 1; }

# ---- 1. host packages -------------------------------------------------------
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  retry 3 apt-get -o DPkg::Lock::Timeout=600 update -qq
  retry 3 apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
t_pkgs=$(date +%s)

# ---- 2. Debian arm64 packages, through an apt of its own --------------------
# A private apt state (sources, lists, cache) for arm64: the host's dpkg gets
# no foreign architecture and its apt lists stay as they are.
apt=$work/apt
mkdir -p "$apt"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d}
cat >"$apt/sources.list" <<SRC
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-updates main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/debian}/debian-security bookworm-security main
SRC
: >"$apt/status"
aopt=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/sources.list.d"
      -o Dir::Etc::PreferencesParts="$apt/preferences.d" -o Dir::State::Lists="$apt/lists"
      -o Dir::Cache="$apt/cache" -o Dir::State::status="$apt/status"
      -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1)
if [ ! -f "$apt/updated" ] || [ -n "$(find "$apt/updated" -mmin +720)" ]; then
  log "apt update (arm64)"
  retry 3 apt-get "${aopt[@]}" update -qq
  touch "$apt/updated"
fi
kpkg=${SIGWATCH_QEMU_KERNEL_ARM64:-$(apt-cache "${aopt[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-/{print $2; exit}')}
[ -n "$kpkg" ] || { echo "cannot resolve the kernel package of linux-image-arm64" >&2; exit 1; }
pkgs=("$kpkg" busybox-static auditd libaudit1 libauparse0 libaudit-common libcap-ng0 libc6 libgcc-s1 jq libjq1 libonig5)
debs=$work/debs
mkdir -p "$debs"
for p in "${pkgs[@]}"; do
  ls "$debs/${p}"_*_arm64.deb "$debs/${p}"_*_all.deb >/dev/null 2>&1 && continue
  log "fetching $p (arm64)"
  (cd "$debs" && retry 3 apt-get "${aopt[@]}" download -qq "$p" 2>&1 | grep -v unsandboxed || true)
  ls "$debs/${p}"_*.deb >/dev/null 2>&1 || { echo "apt-get download $p (arm64) failed" >&2; exit 1; }
done
t_fetch=$(date +%s)

# ---- 3. initramfs -----------------------------------------------------------
root=$work/root
rm -rf "$root"; mkdir -p "$root"
for p in "${pkgs[@]}"; do
  [ "$p" = "$kpkg" ] && continue
  dpkg-deb -x "$(ls "$debs/${p}"_*.deb | head -n1)" "$root"
done
kx=$work/kernel
rm -rf "$kx"; mkdir -p "$kx"
dpkg-deb --fsys-tarfile "$(ls "$debs/${kpkg}"_*.deb | head -n1)" | tar -C "$kx" -xf - --wildcards './boot/*'
cp "$kx"/boot/vmlinuz-* "$work/vmlinuz"
for opt in CONFIG_PROC_EVENTS CONFIG_AUDITSYSCALL CONFIG_SERIAL_AMBA_PL011_CONSOLE CONFIG_RD_GZIP CONFIG_FTRACE; do
  grep -qx "$opt=y" "$kx"/boot/config-* || { echo "$kpkg lacks $opt=y" >&2; exit 1; }
done
# Debian's layout (merged /usr), busybox applets for the rest
for d in bin sbin lib; do
  if [ -d "$root/$d" ] && [ ! -L "$root/$d" ]; then mkdir -p "$root/usr/$d"; cp -a "$root/$d/." "$root/usr/$d/"; rm -rf "${root:?}/$d"; fi
  mkdir -p "$root/usr/$d"; ln -sfn "usr/$d" "$root/$d"
done
mkdir -p "$root"/{proc,sys,dev,tmp,run/lock,etc,root,var/log/audit}
# (the arm64 busybox cannot run here to list its applets: link the ones used)
for a in sh ash mount umount mkdir cat sleep kill ls grep sed tr wc head echo test poweroff timeout rm seq cp uname find awk sort diff; do
  [ -e "$root/usr/bin/$a" ] || ln -s busybox "$root/usr/bin/$a"
done
ln -sf usr/bin/busybox "$root/init"
printf '::sysinit:/etc/sigwatch-rc\n' >"$root/etc/inittab"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
install -m 755 "$here/aarch64-guest-test.sh" "$root/etc/sigwatch-rc"
install -m 644 "$here/guest-checks.sh" "$root/etc/sigwatch-checks.sh"
tar -C "$root/root" -xzf "$tarball"
mv "$root"/root/sigwatch-*-aarch64-unknown-linux-musl "$root/root/dist"
install -m 755 "$root/root/dist/sigwatch" "$root/usr/bin/sigwatch"
initrd=$work/initrd.cpio.gz
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$initrd"
log "initramfs $(du -h "$initrd" | cut -f1)"
rm -rf "$root" "$kx"
t_initrd=$(date +%s)

# ---- 4. boot ----------------------------------------------------------------
console=$work/console.log
log "booting $kpkg on qemu-system-aarch64 (cortex-a57, TCG, timeout ${timeout_s}s)"
set +e
timeout -k 10 "$timeout_s" qemu-system-aarch64 \
  -machine virt -cpu cortex-a57 -smp 2 -m 1G \
  -display none -monitor none -serial stdio -no-reboot -nic none \
  -kernel "$work/vmlinuz" -initrd "$initrd" \
  -append "console=ttyAMA0 panic=-1 loglevel=4 oops=panic" \
  </dev/null 2>&1 | sed -u 's/\r$//' | tee "$console"
qrc=${PIPESTATUS[0]}
set -e
t_boot=$(date +%s)

# ---- 5. verdict ---------------------------------------------------------------
echo
log "summary"
fail=0
guest_verdict SIGWATCH-ARM64 "$console" "$qrc" "$timeout_s" || fail=1
log "times: packages $((t_pkgs - t_start))s, fetch $((t_fetch - t_pkgs))s, initramfs $((t_initrd - t_fetch))s, guest $((t_boot - t_initrd))s, total $((t_boot - t_start))s"
log "console log: $console"
[ $fail -eq 0 ] && log "passed" || log "FAILED"
exit $fail
}
