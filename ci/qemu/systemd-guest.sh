#!/usr/bin/env bash
# The packaged sigwatch under a real systemd: boots Debian's packaged kernel
# (bookworm 6.1) under qemu on a disk image holding a Debian root file
# system built with debootstrap (init = systemd), and there
#   - `dpkg -i` the .deb from target/dist: binary, man page, completions and
#     unit installed, the unit not enabled; `man sigwatch` works;
#   - `systemd-analyze security sigwatch.service` (printed);
#   - `systemctl start sigwatch`, a short-lived sh kills a sleep, the report
#     in `journalctl -u sigwatch` names the sender and has tracefs among its
#     witnesses; `systemctl stop sigwatch` leaves audit as found;
#   - `dpkg -r sigwatch` removes every file it installed.
# See ci/qemu/README.md. Needs `cargo xtask dist` first (or SIGWATCH_DEB).
# Exit 1 when a check fails or the guest does not finish in time.
# Environment:
#   SIGWATCH_DEB            the .deb (default target/dist/sigwatch_*_amd64.deb)
#   SIGWATCH_QEMU_TIMEOUT   seconds before the guest is declared hung (600)
#   SIGWATCH_QEMU_KERNEL    Debian kernel package (default: what linux-image-amd64 depends on)
#   SIGWATCH_SYSTEMD_WORKDIR  scratch dir (target/qemu-systemd); the debootstrap
#                           result is cached there as rootfs-base.tar
#   SIGWATCH_DEBIAN_MIRROR  (http://deb.debian.org/debian)
#   SIGWATCH_SYSTEMD_TEST   the script the guest runs (ci/qemu/systemd-guest-test.sh)
{
set -euo pipefail
cd "$(dirname "$0")/../.."
ws=$(pwd -P)
here=$ws/ci/qemu
t_start=$(date +%s)
log() { echo "== systemd-guest: $*"; }
# retry N CMD...: for anything that downloads
. "$here/common.sh"

timeout_s=${SIGWATCH_QEMU_TIMEOUT:-600}
work=${SIGWATCH_SYSTEMD_WORKDIR:-$ws/target/qemu-systemd}
mirror=${SIGWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
deb=${SIGWATCH_DEB:-$(ls "$ws"/target/dist/sigwatch_*_amd64.deb 2>/dev/null | head -n1)}
[ -f "$deb" ] || { echo "no .deb: run cargo xtask dist first (or set SIGWATCH_DEB)" >&2; exit 1; }

# ---- 1. host packages -------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  retry 3 apt-get -o DPkg::Lock::Timeout=600 update -qq
  retry 3 apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
t_pkgs=$(date +%s)

# ---- 2. the root file system (cached) ---------------------------------------
# auditd for auditctl (its daemon is masked below), man-db for `man`, jq to
# read the report, kmod for depmod.
include=systemd,systemd-sysv,dbus,auditd,man-db,jq,kmod,procps
base=$work/rootfs-base.tar
if [ ! -f "$base" ] || [ "$(cat "$base.include" 2>/dev/null)" != "$include" ]; then
  log "debootstrap bookworm ($include)"
  rm -rf "$work/debootstrap"
  retry 3 debootstrap --variant=minbase --include="$include" bookworm "$work/debootstrap" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/debootstrap" -cf "$base.tmp" .
  mv "$base.tmp" "$base"; echo "$include" >"$base.include"
  rm -rf "$work/debootstrap"
fi
t_rootfs=$(date +%s)

# ---- 3. the kernel, with the modules to reach the disk ------------------------
kpkg=${SIGWATCH_QEMU_KERNEL:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')}
[ -n "$kpkg" ] || { echo "cannot resolve the kernel package of linux-image-amd64" >&2; exit 1; }
kdir=$work/kernel/$kpkg
if [ ! -f "$kdir/vmlinuz" ]; then
  log "fetching $kpkg"
  rm -rf "$kdir"; mkdir -p "$kdir"
  (cd "$kdir" && retry 3 apt-get download -qq "$kpkg" 2>&1 | grep -v 'unsandboxed' || true)
  ls "$kdir"/*.deb >/dev/null || { echo "apt-get download $kpkg failed" >&2; exit 1; }
  dpkg-deb -x "$kdir"/*.deb "$kdir/x"
  cp "$kdir"/x/boot/vmlinuz-* "$kdir/vmlinuz"
  ls "$kdir/x/lib/modules" >"$kdir/kver"
  rm -f "$kdir"/*.deb
fi
kver=$(cat "$kdir/kver")

# ---- 4. the disk image ------------------------------------------------------
root=$work/root
rm -rf "$root"; mkdir -p "$root"
tar -C "$root" -xf "$base"
cp -a "$kdir/x/lib/modules" "$root/lib/"
chroot "$root" depmod "$kver"
install -m 644 "$deb" "$root/root/sigwatch.deb"
install -m 755 "${SIGWATCH_SYSTEMD_TEST:-$here/systemd-guest-test.sh}" "$root/usr/local/sbin/sigwatch-ci"
install -D -m 644 "$here/guest-checks.sh" "$root/usr/local/lib/sigwatch-ci/guest-checks.sh"
cat >"$root/etc/systemd/system/sigwatch-ci.service" <<'UNIT'
[Unit]
Description=sigwatch CI: install the package, run the service, remove it
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/sigwatch-ci
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
ExecStopPost=/bin/systemctl --no-block poweroff
UNIT
ln -s /etc/systemd/system/sigwatch-ci.service "$root/etc/systemd/system/multi-user.target.wants/sigwatch-ci.service"
# auditctl only: Debian's audit daemon must not own audit in this test.
ln -sf /dev/null "$root/etc/systemd/system/auditd.service"
# no login prompt on the console the test writes to
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
echo sigwatch-ci >"$root/etc/hostname"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
# the modules that reach the disk, in dependency order (modules.dep as
# depmod wrote it in the image)
order=()
resolve() {
  local rel=$1 dep
  for dep in $(awk -v m="$rel:" '$1 == m {for (i = 2; i <= NF; i++) print $i}' "$root/lib/modules/$kver/modules.dep"); do
    resolve "$dep"
  done
  case " ${order[*]} " in *" $rel "*) ;; *) order+=("$rel") ;; esac
}
# (crc32c_generic: ext4's soft dependency, loaded through the crypto API)
for m in crc32c_generic virtio_pci virtio_blk ext4; do
  rel=$(awk -F: -v m="/$m.ko" 'index($1, m) && substr($1, length($1) - length(m) + 1) == m {print $1; exit}' "$root/lib/modules/$kver/modules.dep")
  [ -n "$rel" ] || { echo "$kpkg has no module $m" >&2; exit 1; }
  resolve "$rel"
done
ird=$work/initrd
rm -rf "$ird"; mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
cp /bin/busybox "$ird/bin/busybox"
for a in sh mount umount insmod switch_root sleep cat poweroff; do ln -s busybox "$ird/bin/$a"; done
: >"$ird/modules/order"
for rel in "${order[@]}"; do
  cp "$root/lib/modules/$kver/$rel" "$ird/modules/"
  basename "$rel" >>"$ird/modules/order"
done
cat >"$ird/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
while read -r m; do insmod "/modules/$m" || echo "initrd: insmod $m failed"; done </modules/order
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; poweroff -f; }
umount /proc /sys; mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
INIT
chmod 755 "$ird/init"
# the image needs no modules: everything the test uses is built in
rm -rf "${root:?}/lib/modules"
initrd=$work/initrd.cpio.gz
(cd "$ird" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$initrd"

disk=$work/disk.img
rm -f "$disk"
truncate -s 2G "$disk"
mkfs.ext4 -q -F -L root -d "$root" "$disk"
rm -rf "$root" "$ird"
t_image=$(date +%s)

# ---- 6. boot ----------------------------------------------------------------
# Software emulation only: a stock kernel hangs under -enable-kvm here.
console=$work/console.log
log "booting $kpkg with systemd (TCG, timeout ${timeout_s}s)"
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
  -machine q35,accel=tcg -cpu max -smp 2 -m 2G \
  -display none -vga none -monitor none -serial stdio -no-reboot -nic none \
  -drive file="$disk",format=raw,if=virtio \
  -kernel "$kdir/vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 loglevel=4 oops=panic systemd.show_status=0" \
  </dev/null 2>&1 | sed -u 's/\r$//' | tee "$console"
qrc=${PIPESTATUS[0]}
set -e
t_boot=$(date +%s)

# ---- 7. verdict ---------------------------------------------------------------
echo
log "summary"
fail=0
guest_verdict SIGWATCH-SYSTEMD "$console" "$qrc" "$timeout_s" || fail=1
log "times: packages $((t_pkgs - t_start))s, rootfs $((t_rootfs - t_pkgs))s, image $((t_image - t_rootfs))s, guest $((t_boot - t_image))s, total $((t_boot - t_start))s"
log "console log: $console"
[ $fail -eq 0 ] && log "passed" || log "FAILED"
exit $fail
}
