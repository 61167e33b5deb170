#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Axiom Lab and its tests need; skips what is already there.
# --print: list the packages this OS would be asked for, install nothing.
# Ubuntu ships Chromium only as a snap (its `chromium-browser` package installs the snap), which a
# headless test cannot drive reliably; there the Chromium (or Chrome) the machine already has is
# used: AXIOM_CHROMIUM, else /usr/bin/chromium (GitHub's Ubuntu images have one).
set -euo pipefail

OS_RELEASE=${AXIOM_OS_RELEASE:-/etc/os-release}
os_id=$( (. "$OS_RELEASE" 2>/dev/null && echo "${ID:-}") || true)

# libopenblas0-pthread: the science test and experiment-budget-fill run some workunits on Debian's
# OpenBLAS (axiom run --blas openblas); numpy's default stays the BLAS the system had. libblas3 and
# liblapack3 are the reference BLAS, named because python3-numpy takes any libblas.so.3: installed in
# one go with OpenBLAS, apt satisfies numpy with OpenBLAS alone and there is no reference to put back.
PACKAGES=(git openssl python3-numpy libblas3 liblapack3 mariadb-server mariadb-client bubblewrap linux-libc-dev libopenblas0-pthread)
if [[ $os_id == ubuntu ]]; then
  chromium=${AXIOM_CHROMIUM:-/usr/bin/chromium}
  if [[ ${1:-} != --print ]] && ! [[ -x $chromium && $(readlink -f "$chromium") != /snap/* ]]; then
    echo "Ubuntu ships Chromium as a snap; set AXIOM_CHROMIUM to a Chromium or Chrome that is not a snap (found none at $chromium)." >&2
    exit 1
  fi
else
  PACKAGES+=(chromium)
fi

if [[ ${1:-} == --print ]]; then
  echo "${PACKAGES[@]}"
  exit 0
fi

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
