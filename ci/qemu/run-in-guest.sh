#!/usr/bin/env bash
# Run selected test binaries of the workspace inside a qemu guest that boots
# Debian's packaged kernel (an older kernel than the host's: 6.1 on bookworm,
# without the >= 6.6 proc-connector filter), from an initramfs only.
# See ci/qemu/README.md. Fails (exit 1) when a test binary fails in the guest
# or the guest does not finish within the timeout.
#
# Usage: ci/qemu/run-in-guest.sh [--smoke] [--e2e] [TARGET...]
#   TARGET   PACKAGE            every test target of the package (lib, bins, tests/*)
#            PACKAGE:lib        its unit tests only
#            PACKAGE:test=NAME  one integration test (tests/NAME.rs)
#            PACKAGE:bin=NAME   the unit tests of one binary
#            /ABS/PATH          a prebuilt libtest executable (run in /)
#   --smoke  boot and check the kernel only, run no test binary
#   --e2e    also the end-to-end tests: adds target sigwatch-e2e, binary
#            sigwatch and tools auditd, python3 (the e2e tests use them)
# Environment:
#   SIGWATCH_QEMU_TARGETS  default targets when none are given ("procconn auditsig tracesig")
#   SIGWATCH_QEMU_BINS     workspace binaries to build and copy in (e.g. "sigwatch"),
#                          at their host path and in /usr/local/bin
#   SIGWATCH_QEMU_SIGWATCH a prebuilt sigwatch binary to copy in instead of building
#                          one (e.g. the static musl binary of `cargo xtask dist`)
#   SIGWATCH_QEMU_TOOLS    host programs to copy in with their libraries, at their
#                          host paths, replacing busybox's applets (default
#                          "auditctl ausearch kill prlimit setpriv setsid unshare": procps's
#                          kill, util-linux's setpriv (busybox's lacks --reuid); a
#                          missing one is skipped with a warning). `python3` brings
#                          Debian's python3 and its stdlib, `auditd` its /etc/audit.
#   SIGWATCH_QEMU_TIMEOUT  seconds before the guest is declared hung (900)
#   SIGWATCH_QEMU_TEST_TIMEOUT  seconds one test binary may take in the guest
#                          before it is killed and counted as failed (300)
#   SIGWATCH_QEMU_TEST_ARGS  extra libtest arguments for every binary (a name
#                          filter, --nocapture, ...)
#   SIGWATCH_QEMU_APPEND   extra kernel command line words
#   SIGWATCH_QEMU_KERNEL   Debian kernel package (default: what linux-image-amd64 depends on)
#   SIGWATCH_QEMU_WORKDIR  scratch dir (target/qemu)
# The body is one { } block: bash parses it whole before running, so editing
# this file while a run boots the guest cannot derail that run.
{
set -euo pipefail
cd "$(dirname "$0")/../.."
ws=$(pwd -P)
here=$ws/ci/qemu
t_start=$(date +%s)
log() { echo "== qemu: $*"; }

smoke=0
e2e=0
targets=()
for a in "$@"; do
  case $a in
    --smoke) smoke=1 ;;
    --e2e) e2e=1 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) targets+=("$a") ;;
  esac
done
if [ ${#targets[@]} -eq 0 ] && [ $smoke -eq 0 ]; then
  read -r -a targets <<<"${SIGWATCH_QEMU_TARGETS:-procconn auditsig tracesig}"
fi
bins=${SIGWATCH_QEMU_BINS:-}
tools=${SIGWATCH_QEMU_TOOLS-auditctl ausearch kill prlimit setpriv setsid unshare}
if [ $e2e -eq 1 ]; then
  targets+=(sigwatch-e2e)
  bins="$bins sigwatch"
  tools="$tools auditd python3"
  # sigwatch's host_state tests (clean-up on every way out, tracefs mount) and the tty test's `script`
  targets+=(sigwatch:test=host_state); tools="$tools script"
fi
timeout_s=${SIGWATCH_QEMU_TIMEOUT:-900}
work=${SIGWATCH_QEMU_WORKDIR:-$ws/target/qemu}
mkdir -p "$work"
work=$(cd "$work" && pwd -P)

# ---- 1. host packages -------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx unshare || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v jq >/dev/null || need+=(jq)
command -v zstd >/dev/null || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # (wait for the dpkg lock like .ci/run does, rather than fail)
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# busybox-static ships /bin/busybox; make sure it is really static (the
# dynamic `busybox` package would need its libraries in the guest).
if ldd /bin/busybox >/dev/null 2>&1; then
  echo "/bin/busybox is dynamically linked: install busybox-static" >&2; exit 1
fi
t_pkgs=$(date +%s)

# ---- 2. the Debian kernel ---------------------------------------------------
kpkg=${SIGWATCH_QEMU_KERNEL:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')}
[ -n "$kpkg" ] || { echo "cannot resolve the kernel package of linux-image-amd64" >&2; exit 1; }
kdir=$work/kernel/$kpkg
if [ ! -f "$kdir/vmlinuz" ]; then
  log "fetching $kpkg"
  rm -rf "$kdir"; mkdir -p "$kdir/x"
  # apt-get download writes into the current dir as the _apt user when it can;
  # a root-only dir makes it warn and fall back to root: harmless.
  (cd "$kdir" && apt-get download -qq "$kpkg" 2>&1 | grep -v 'unsandboxed' || true)
  deb=$(ls "$kdir"/*.deb) || { echo "apt-get download $kpkg failed" >&2; exit 1; }
  dpkg-deb -x "$deb" "$kdir/x"
  cp "$kdir"/x/boot/vmlinuz-* "$kdir/vmlinuz"
  cp "$kdir"/x/boot/config-* "$kdir/config"
  rm -rf "$kdir/x" "$deb"
fi
for opt in CONFIG_PROC_EVENTS CONFIG_AUDITSYSCALL CONFIG_DEVTMPFS CONFIG_SERIAL_8250_CONSOLE CONFIG_RD_ZSTD; do
  grep -qx "$opt=y" "$kdir/config" || { echo "$kpkg lacks $opt=y" >&2; exit 1; }
done
t_kernel=$(date +%s)

# ---- 3. test binaries -------------------------------------------------------
# One workspace-wide build, exactly like the host's `cargo test --workspace`
# (same feature unification, so CI reuses its artifacts), then pick the
# selected targets from cargo's JSON messages.
# Each line of $list: name|manifest_dir|executable
list=$work/tests.list
: >"$list"
binpaths=()
if [ ${#targets[@]} -gt 0 ] || [ -n "$bins" ]; then
  log "building the workspace's tests (cargo test --workspace --no-run)"
  cargo test --workspace --no-run --message-format=json-render-diagnostics >"$work/cargo.json"
  cargo metadata --no-deps --format-version 1 >"$work/metadata.json"
fi
for t in "${targets[@]}"; do
  if [ "${t#/}" != "$t" ]; then
    [ -x "$t" ] || { echo "$t is not an executable" >&2; exit 2; }
    echo "exe:$(basename "$t")|/|$t" >>"$list"
    continue
  fi
  pkg=${t%%:*}
  case $t in
    *:lib) kinds='["lib"]'; tname= ;;
    *:test=*) kinds='["test"]'; tname=${t#*:test=} ;;
    *:bin=*) kinds='["bin"]'; tname=${t#*:bin=} ;;
    *:*) echo "bad target $t" >&2; exit 2 ;;
    *) kinds='["lib","bin","test"]'; tname= ;;
  esac
  mp=$(jq -r --arg p "$pkg" '.packages[] | select(.name == $p) | .manifest_path' "$work/metadata.json")
  [ -n "$mp" ] || { echo "no package $pkg in the workspace" >&2; exit 2; }
  found=$(jq -r --arg mp "$mp" --arg p "$pkg" --argjson kinds "$kinds" --arg n "$tname" '
      select(.reason == "compiler-artifact" and .manifest_path == $mp
             and .profile.test == true and .executable != null
             and (.target.kind[0] as $k | $kinds | index($k))
             and ($n == "" or .target.name == $n))
      | "\($p):\(.target.kind[0])-\(.target.name)|\($mp | sub("/Cargo.toml$"; ""))|\(.executable)"' \
    "$work/cargo.json")
  [ -n "$found" ] || { echo "target $t: no such test executable" >&2; exit 2; }
  echo "$found" >>"$list"
done
# A target named twice (e.g. `procconn procconn:lib`) runs once.
sort -u -o "$list" "$list"
# cargo test builds a package's binaries only when that package has
# integration tests: build them explicitly.
for b in $bins; do
  if [ "$b" = sigwatch ] && [ -n "${SIGWATCH_QEMU_SIGWATCH:-}" ]; then
    p=$(realpath "$SIGWATCH_QEMU_SIGWATCH")
    [ -x "$p" ] || { echo "SIGWATCH_QEMU_SIGWATCH=$SIGWATCH_QEMU_SIGWATCH is not an executable" >&2; exit 1; }
    log "sigwatch: the prebuilt $p"
    binpaths+=("$p")
    continue
  fi
  log "building binary $b"
  p=$(cargo build --bin "$b" --message-format=json-render-diagnostics \
      | jq -r --arg b "$b" 'select(.reason == "compiler-artifact" and .target.name == $b
          and .target.kind[0] == "bin" and .executable != null) | .executable' | head -n1)
  [ -n "$p" ] && [ -x "$p" ] || { echo "binary $b not built" >&2; exit 1; }
  binpaths+=("$p")
done
# The e2e tests also run the embedding examples (at the same path as on
# the host: the tests find them next to their own executable).
example_paths=()
if [ $e2e -eq 1 ]; then
  for ex in embed keeper_watch; do
    p=$(jq -r --arg n "$ex" 'select(.reason == "compiler-artifact" and .target.kind[0] == "example"
          and .target.name == $n and .executable != null) | .executable' "$work/cargo.json" | head -n1)
    [ -n "$p" ] && [ -x "$p" ] || { echo "example $ex not built" >&2; exit 1; }
    example_paths+=("$p")
  done
fi
t_build=$(date +%s)

# ---- 4. initramfs -----------------------------------------------------------
root=$work/root
rm -rf "$root"
# Merged /usr, as on Debian: /bin/X and /usr/bin/X are one file.
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,etc,proc,sys,dev,tmp,run,root,var}
for d in bin sbin lib lib64; do ln -s usr/$d "$root/$d"; done
cp /bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list-full); do
  [ -e "$root/$app" ] || ln -s /bin/busybox "$root/$app"
done
ln -sf /bin/busybox "$root/init"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
printf '::sysinit:/etc/sigwatch-rc\n' >"$root/etc/inittab"
install -m 755 "$here/guest-init.sh" "$root/etc/sigwatch-rc"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nadm:x:4:\nnogroup:x:65534:\n' >"$root/etc/group"

# copy_exe SRC DEST: the file and every shared library ldd names for it
copy_exe() {
  mkdir -p "$root$(dirname "$2")"
  rm -f "$root$2"  # a busybox applet link: never write through it
  cp -L "$1" "$root$2"
  # (a module linked against nothing makes ldd print no path at all)
  { ldd "$1" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
    [ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; }
  done
}
# The workspace sources (test data, fuzz corpora) at the same absolute path as
# on the host, so env!("CARGO_MANIFEST_DIR")-relative paths resolve as-is.
if [ -s "$list" ]; then
  mkdir -p "$root$ws"
  # (exit status 1 = a file changed while read, e.g. a fuzzer adding to a
  # corpus in a working checkout: harmless here)
  { tar -C "$ws" --exclude=./target --exclude=./.git --exclude=./fuzz/target \
      --exclude=./fuzz/artifacts --exclude=./fuzz/coverage \
      --warning=no-file-changed --warning=no-file-removed -cf - . || [ $? -eq 1 ]; } \
    | tar -C "$root$ws" -xf -
fi
while IFS='|' read -r name dir exe; do
  copy_exe "$exe" "$exe"
  mkdir -p "$root$dir"
done <"$list"
for p in "${example_paths[@]}"; do
  copy_exe "$p" "$p"
done
cp "$list" "$root/etc/sigwatch-tests"
printf 'test_timeout=%s\ntest_args=%q\n' "${SIGWATCH_QEMU_TEST_TIMEOUT:-300}" \
  "${SIGWATCH_QEMU_TEST_ARGS:-}" >"$root/etc/sigwatch-qemu.conf"
# /bin/sh is the host's dash, as on Debian: busybox's sh runs its own applets
# ahead of PATH, which would hide the util-linux tools copied below (busybox's
# setpriv has no --reuid, for one).
if [ -x /bin/dash ]; then
  copy_exe /bin/dash /bin/sh
fi
# Debian's coreutils replace busybox's applets (7 MB): tests look at a
# process's exe (`sleep` must be .../sleep, not busybox) and rely on GNU
# options. GNU timeout also bounds each test binary in the guest (exit 124;
# it signals the binary's whole process group).
for f in $(dpkg -L coreutils | grep -E '^(/usr)?/bin/[^/]+$'); do
  [ -f "$f" ] && [ -x "$f" ] && copy_exe "$f" "$f"
done
for p in "${binpaths[@]}"; do
  copy_exe "$p" "$p"
  ln -sf "$p" "$root/usr/local/bin/$(basename "$p")"
done
for tname in $tools; do
  # Debian's own programs, not a user's shims (pyenv) earlier on PATH.
  p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin type -P "$tname") \
    || { log "warning: $tname is not on this host; not copied"; continue; }
  # at the host's path (tests name some by path, e.g. /usr/bin/kill, and
  # compare a process's exe), replacing busybox's applet link
  copy_exe "$p" "$p"
  case $tname in
    python3)
      # The stdlib without tests, GUI and packaging parts (about 14 MB); C
      # modules with their libraries.
      lib=$("$p" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
      mkdir -p "$root$lib"
      tar -C "$lib" --exclude=__pycache__ --exclude=./test --exclude=./idlelib \
          --exclude=./tkinter --exclude=./ensurepip --exclude=./lib2to3 \
          --exclude=./pydoc_data --exclude='./config-*' --exclude=./site-packages \
          --exclude=./dist-packages -cf - . | tar -C "$root$lib" -xf -
      for so in "$root$lib"/lib-dynload/*.so; do copy_exe "${so#"$root"}" "${so#"$root"}"; done
      ;;
    auditd)
      cp -a /etc/audit "$root/etc/audit"
      mkdir -p "$root/var/log/audit"
      ;;
  esac
done
initrd=$work/initrd.cpio.zst
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | zstd -q -T0 -3 -f -o "$initrd"
log "initramfs $(du -h "$initrd" | cut -f1) ($(du -sh "$root" | cut -f1) unpacked), $(wc -l <"$list") test binaries"
t_initrd=$(date +%s)

# ---- 5. boot ----------------------------------------------------------------
# Software emulation only: a stock kernel hangs under -enable-kvm here.
# No `audit=0`: that keeps audit from initialising at all (no NETLINK_AUDIT
# socket); the default leaves audit initialised and disabled, as on a host.
console=$work/console.log
log "booting $kpkg (TCG, timeout ${timeout_s}s)"
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
  -machine q35,accel=tcg -cpu max -smp 2 -m 2G \
  -display none -vga none -monitor none -serial stdio -no-reboot \
  -nic none \
  -kernel "$kdir/vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 loglevel=4 oops=panic ${SIGWATCH_QEMU_APPEND:-}" \
  </dev/null 2>&1 | sed -u 's/\r$//' | tee "$console"
qrc=${PIPESTATUS[0]}
set -e
t_boot=$(date +%s)

# ---- 6. verdict ---------------------------------------------------------------
echo
log "summary${SIGWATCH_QEMU_APPEND:+ (kernel command line + ${SIGWATCH_QEMU_APPEND})}"
fail=0
grep -q '^SIGWATCH-QEMU: kernel ' "$console" || { echo "guest never reached its init (qemu exit $qrc)"; fail=1; }
while IFS='|' read -r name dir exe; do
  line=$(grep -F "SIGWATCH-QEMU: result $name rc=" "$console" | tail -n1 || true)
  # libtest's own summary line, between this binary's begin and result markers
  counts=$(awk -v n="$name" '$0 == "SIGWATCH-QEMU: begin " n {f=1; next}
                             f && /^SIGWATCH-QEMU: result / {exit}
                             f && /^test result:/ {sub(/^test result: /, ""); sub(/; finished.*/, ""); print}' "$console")
  skips=$(awk -v n="$name" '$0 == "SIGWATCH-QEMU: begin " n {f=1; next}
                            f && /^SIGWATCH-QEMU: result / {exit}
                            f && /^(SKIP|PARTIAL) / {print}' "$console" | sort -u)
  if [ -z "$line" ]; then
    echo "  DID NOT RUN  $name"; fail=1
  elif [ "${line##*rc=}" = 0 ]; then
    echo "  pass         $name ($counts)"
  else
    echo "  FAIL         $name (exit ${line##*rc=}; $counts)"; fail=1
  fi
  [ -z "$skips" ] || echo "$skips" | sed 's/^/                 /'
done <"$list"
hung=0
if ! grep -qx 'SIGWATCH-QEMU: done' "$console"; then
  hung=1
  if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "guest did not finish within ${timeout_s}s"
  else
    echo "guest did not finish (qemu exit $qrc)"
  fi
  fail=1
fi
# The skip-and-partial summary; fails on a skip whose precondition the guest provides.
sed -n 's/^SIGWATCH-QEMU: skip-log //p' "$console" >"$work/skips.log"
needs="root tracefs debugfs proc-connector tool:auditctl tool:ausearch tool:unshare tool:setpriv tool:setsid tool:prlimit"
[ $e2e -eq 1 ] && needs="$needs tool:python3 tool:auditd tool:script"
case " ${SIGWATCH_QEMU_APPEND:-} " in
  *" audit=0 "*) needs="$needs kernel:audit-absent" ;;
  *) needs="$needs audit audit-multicast audit-idle" ;;
esac
[ $smoke -eq 1 ] || bash "$ws/ci/test-skips.sh" "$work/skips.log" $needs || fail=1
a_before=$(sed -n 's/^SIGWATCH-QEMU: audit-before //p' "$console")
a_after=$(sed -n 's/^SIGWATCH-QEMU: audit-after //p' "$console")
if [ -n "$a_after" ] && [ "$a_before" != "$a_after" ]; then
  echo "the tests did not leave audit as they found it: before: $a_before; after: $a_after"; fail=1
fi
if grep -q '^SIGWATCH-QEMU: leftover processes' "$console"; then
  echo "warning: the tests left processes behind:"
  sed -n '/^SIGWATCH-QEMU: leftover processes/,/^SIGWATCH-QEMU: done/p' "$console" | sed '1d;$d'
fi
if [ $smoke -eq 1 ]; then
  grep -qx 'SIGWATCH-QEMU: fact proc_connector=yes' "$console" || { echo "no proc connector in the guest"; fail=1; }
fi
log "times: packages $((t_pkgs - t_start))s, kernel $((t_kernel - t_pkgs))s, cargo $((t_build - t_kernel))s, initramfs $((t_initrd - t_build))s, guest $((t_boot - t_initrd))s, total $((t_boot - t_start))s"
log "console log: $console"
[ $fail -eq 0 ] && log "all guest tests passed" || log "FAILED"
# 75 (EX_TEMPFAIL): the guest never finished (e.g. a guest-kernel stall
# under TCG emulation), as opposed to a test that failed: the caller may
# boot it once more.
[ $fail -ne 0 ] && [ $hung -eq 1 ] && exit 75
exit $fail
}
