# Shared by aarch64-guest.sh and systemd-guest.sh (sourced, not run).

# retry N CMD...: run CMD up to N times (for anything that downloads),
# waiting 5, 10, ... s in between.
retry() {
  local n=$1 i
  shift
  for ((i = 1; i <= n; i++)); do
    "$@" && return 0
    echo "== attempt $i of $n failed: $*"
    sleep $((i * 5))
  done
  return 1
}

# guest_verdict PREFIX CONSOLE QEMU_EXIT TIMEOUT: prints the guest's check
# lines (`PREFIX: ok …`, `PREFIX: FAIL …`, and `PREFIX: note …`); returns 1
# when the guest never began, a check failed, or it did not print
# `PREFIX: done` (hung: killed by timeout, or crashed).
guest_verdict() {
  local prefix=$1 console=$2 qrc=$3 timeout_s=$4 fail=0
  grep -q "^$prefix: begin" "$console" || { echo "the guest's test never began (qemu exit $qrc)"; fail=1; }
  grep "^$prefix: \\(ok\\|FAIL\\|note\\)" "$console" | sed "s/^$prefix: /  /" || true
  grep -q "^$prefix: FAIL" "$console" && fail=1
  if ! grep -qx "$prefix: done" "$console"; then
    if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
      echo "the guest did not finish within ${timeout_s}s"
    else
      echo "the guest did not finish (qemu exit $qrc)"
    fi
    fail=1
  fi
  return $fail
}
