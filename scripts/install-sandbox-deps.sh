#!/usr/bin/env bash
# System tools the grader's sandbox uses (autograder/sandbox.py): bubblewrap for namespaces and
# read-only binds, util-linux for prlimit and setpriv. Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
{ command -v prlimit >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; } || need+=(util-linux)
if [ ${#need[@]} -eq 0 ]; then
  echo "sandbox deps present: $(bwrap --version)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
bwrap --version
