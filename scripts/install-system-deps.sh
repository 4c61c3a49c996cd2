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

# a java/mvn already on PATH (this machine's JDK) is enough
command -v java >/dev/null 2>&1 && PKGS=("${PKGS[@]/openjdk-17-jre-headless}")
command -v mvn >/dev/null 2>&1 && PKGS=("${PKGS[@]/maven}")
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install_missing install-system-deps ${PKGS[@]}  # unquoted: drops the emptied entries

# PostgreSQL refuses to run as root: the harness runs it as this unprivileged user.
if [ "$(id -u)" -eq 0 ] && ! id labs >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin labs
  echo "install-system-deps: created system user 'labs' (runs postgres when the harness is root)"
fi
