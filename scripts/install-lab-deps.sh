#!/usr/bin/env bash
# Debian packages the labs themselves use (not services the harness starts):
# nginx for the reverse-proxy/canary labs, git-lfs for the data-versioning lab.
# Idempotent: a quick no-op when everything is already installed.
set -euo pipefail

PKGS=(nginx-light git-lfs git openssl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-lab-deps: all present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-lab-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
# Keep Debian's postinst from starting a system-wide nginx on port 80: labs start their own on 127.0.0.1.
if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
