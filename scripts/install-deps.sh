#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Axiom Lab and its tests need; skips what is already there.
set -euo pipefail

# libopenblas0-pthread: the science test and experiment-budget-fill run some workunits on Debian's
# OpenBLAS (axiom run --blas openblas); numpy's default stays the BLAS the system had.
PACKAGES=(git openssl python3-numpy mariadb-server mariadb-client chromium bubblewrap linux-libc-dev libopenblas0-pthread)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Installing OpenBLAS switches the whole machine's numpy to it (update-alternatives, auto mode): put
  # back the reference BLAS it had, so that only the runs that ask for OpenBLAS get it.
  if [[ " ${missing[*]} " == *" libopenblas0-pthread "* ]]; then
    for lib in blas lapack; do
      reference="/usr/lib/$(uname -m)-linux-gnu/$lib/lib$lib.so.3"
      [[ -e $reference ]] && $SUDO update-alternatives --set "lib$lib.so.3-$(uname -m)-linux-gnu" "$reference" >/dev/null
    done
  fi
fi

# The tests run the volunteer client as an unprivileged account, as BOINC runs it (Debian's
# boinc-client runs as the system user boinc); root can make it, others run the tests as themselves.
if [[ $(id -u) -eq 0 ]] && ! getent passwd axiom-boinc >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin axiom-boinc
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "Axiom Lab needs Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Install it from your distribution (Debian 13: apt-get install nodejs npm) or nodejs.org, then run this again." >&2
  exit 1
fi
/usr/bin/python3 -c 'import numpy' || { echo "numpy is missing from /usr/bin/python3" >&2; exit 1; }
