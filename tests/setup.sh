#!/usr/bin/env bash
# Installs what ringkv's tests need on Debian (run as root or with sudo), then exits:
#   redis-server, redis-tools  the oracle of the differential tests (Redis 7.0.15 on bookworm)
#   tcl, dpkg-dev, xz-utils    the Tcl conformance suite (tests/tcl/run.sh, apt-get source)
#   iproute2                   `ss`, to read a socket's keepalive timer (tests/security.rs)
# Only missing packages are installed. Debian's redis-server package would start a service on
# port 6379: the install is kept from starting it, and it is stopped should it run anyway.
#
#   sudo bash tests/setup.sh && cargo test --release
set -euo pipefail

PACKAGES=(redis-server redis-tools tcl dpkg-dev xz-utils iproute2)

SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo -n); fi
export DEBIAN_FRONTEND=noninteractive

MISSING=()
for pkg in "${PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) != "install ok installed" ]]; then
        MISSING+=("$pkg")
    fi
done
if ((${#MISSING[@]} == 0)); then
    echo "tests/setup.sh: already installed: ${PACKAGES[*]}"
    exit 0
fi

POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
unblock_service_starts() {
    if ((OWN_POLICY)); then
        "${SUDO[@]}" rm -f "$POLICY"
        OWN_POLICY=0
    fi
}
trap unblock_service_starts EXIT
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    OWN_POLICY=1
fi

echo "tests/setup.sh: installing ${MISSING[*]}"
# Naming only what is missing: naming an installed package would upgrade it.
if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${MISSING[@]}" </dev/null; then
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${MISSING[@]}" </dev/null
fi
unblock_service_starts

if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl stop redis-server.service >/dev/null 2>&1 || true
elif [[ -x /etc/init.d/redis-server ]]; then
    "${SUDO[@]}" /etc/init.d/redis-server stop >/dev/null 2>&1 || true
fi
