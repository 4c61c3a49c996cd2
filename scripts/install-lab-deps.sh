#!/usr/bin/env bash
# Debian packages the labs themselves use (not services the harness starts):
# nginx for the reverse-proxy/canary labs, git-lfs for the data-versioning lab.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install_missing install-lab-deps nginx-light git-lfs git openssl
