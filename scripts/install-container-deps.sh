#!/usr/bin/env bash
# Container engine for the labs on machines without Docker: Debian's podman + buildah + runc,
# a project-generated containers.conf, and the debootstrap base image (cached outside the repo).
# Idempotent: a quick no-op when everything is already there.
#   usage: scripts/install-container-deps.sh [--no-image]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
source "$ROOT/scripts/lib/apt.sh"

PKGS=(
  podman buildah skopeo runc conmon  # engine, builder, image copy; runc: crun fails on hybrid cgroups here
  netavark aardvark-dns              # networks with name resolution (podman-compose stacks)
  iptables slirp4netns uidmap fuse-overlayfs catatonit
  debootstrap                        # base images: no registry to pull from
  podman-compose                     # runs docker/compose.yaml
  docker-registry                    # local registry on 127.0.0.1 for push/pull labs
)

apt_install_missing install-container-deps "${PKGS[@]}"

# containers.conf (runc, cgroupfs, ulimits) and the base image; the logic lives in Python so the
# harness and this script share it. Skip the image with --no-image (e.g. to save ~30 s).
"$PY" -m autograder.services.podman setup
if [ "${1:-}" != "--no-image" ]; then
  "$PY" -m autograder.services.podman base-image
  # the ML Python image (a venv with the course's pinned numpy/pandas/scikit-learn/FastAPI), ~3 min once
  "$PY" -m autograder.services.engine python-image
fi
