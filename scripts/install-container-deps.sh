#!/usr/bin/env bash
# Container engine for the labs on machines without Docker: Debian's podman + buildah + runc,
# a project-generated containers.conf, and the debootstrap base image (cached outside the repo).
# Idempotent: a quick no-op when everything is already there.
#   usage: scripts/install-container-deps.sh [--no-image]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

PKGS=(
  podman buildah skopeo runc conmon  # engine, builder, image copy; runc: crun fails on hybrid cgroups here
  netavark aardvark-dns              # networks with name resolution (podman-compose stacks)
  iptables slirp4netns uidmap fuse-overlayfs catatonit
  debootstrap                        # base images: no registry to pull from
  podman-compose                     # runs docker/compose.yaml
  docker-registry                    # local registry on 127.0.0.1 for push/pull labs
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-container-deps: packages present"
else
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-container-deps: installing ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  # policy-rc.d keeps docker-registry's postinst from starting a registry on 0.0.0.0:5000.
  if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # Lock timeout: other install scripts may run apt at the same time.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

# containers.conf (runc, cgroupfs, ulimits) and the base image; the logic lives in Python so the
# harness and this script share it. Skip the image with --no-image (e.g. to save ~30 s).
"$PY" -m autograder.services.podman setup
if [ "${1:-}" != "--no-image" ]; then
  "$PY" -m autograder.services.podman base-image
fi
