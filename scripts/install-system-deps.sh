#!/usr/bin/env bash
# System packages the native service layer (autograder/services) needs.
# Idempotent: a quick no-op when everything is already installed.
# Kafka is not a Debian package: its jars come from Maven Central via
#   python -m autograder.services.kafka fetch
set -euo pipefail

PKGS=(
  postgresql            # PostgreSQL server (initdb/pg_ctl under /usr/lib/postgresql/<v>/bin)
  redis-server          # Redis
  prometheus            # Prometheus server
  prometheus-alertmanager
  openjdk-17-jre-headless  # Kafka broker / Connect (skipped when a java is on PATH)
  maven                 # fetches the Kafka jars
)

missing=()
for p in "${PKGS[@]}"; do
  case "$p" in
    openjdk-17-jre-headless) command -v java >/dev/null 2>&1 && continue ;;
    maven) command -v mvn >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all present"
else
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-system-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  # policy-rc.d keeps Debian's postinst from starting system-wide daemons on 0.0.0.0:
  # the harness starts its own instances on 127.0.0.1 with private data dirs.
  if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# PostgreSQL refuses to run as root: the harness runs it as this unprivileged user.
if [ "$(id -u)" -eq 0 ] && ! id labs >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin labs
  echo "install-system-deps: created system user 'labs' (runs postgres when the harness is root)"
fi
